"""episode_recorder_node: record teleop demonstrations as a LeRobotDataset v3.

Subscribes to the cameras, /joint_states, the command reference (/wam/command), the
instruction and (auto mode) /sim/scene_state; samples them at a fixed fps into
``wam_ros.dataset.recording.RecordingSession``. Controls: services ~/start_episode,
~/save_episode, ~/discard_episode, ~/stop (std_srvs/Trigger); keys in a terminal
(right arrow: save, or start when idle; left arrow: re-record; Esc: stop), as in
LeRobot; in auto mode, a new sim episode starts a recording and success saves it.
State is published on ~/state (latched) and /diagnostics.
"""

from __future__ import annotations

import json
import queue
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import rclpy
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from wam_ros.camera.multi_camera_sync import CameraSynchronizer, SyncedFrames
from wam_ros.dataset.lerobot_v3 import DatasetError, DatasetSpec
from wam_ros.dataset.recording import Inputs, RecorderState, RecordingSession
from wam_ros.dataset.writer import LeRobotDatasetWriter
from wam_ros.params import episode_recorder_node as episode_recorder_node_params
from wam_ros.recording.controls import KEYS_HELP, AutoRecorder, control_for_key
from wam_ros.robot.joint_state import JointStateError, positions_in_order
from wam_ros.robot.trajectory import TrajectoryError
from wam_ros.ros.diagnostics import ERROR, OK, WARN, Diagnostics
from wam_ros.ros.guarded_node import GuardedNode
from wam_ros.ros.image_conversion import ImageConversionError, image_from_msg
from wam_ros.ros.node_runtime import run_node
from wam_ros.ros.parameters import ParameterError, declare_params
from wam_ros.ros.qos import COMMAND, LATCHED, SENSOR
from wam_ros.ros.robot_description import load_robot_model
from wam_ros.ros.time_conversion import time_to_sec
from wam_ros.ros.trajectory_conversion import trajectory_from_msg
from wam_ros.teleop.keyboard import TerminalKeyReader

PARAMS = episode_recorder_node_params.PARAMS  # defined once, in wam_ros.params.episode_recorder_node


class EpisodeRecorderNode(GuardedNode):
    def __init__(self) -> None:
        super().__init__("episode_recorder_node")
        p = declare_params(self, PARAMS)
        self.p = p
        self.robot = load_robot_model(p)
        self.joints = self.robot.actuated_joints
        cams = [str(c) for c in p["cameras"]]
        if not cams or len(set(cams)) != len(cams):
            raise ParameterError(f"parameter 'cameras' = {cams}: need unique camera names")
        if not p["dataset_root"]:
            raise ParameterError("parameter 'dataset_root' is empty")
        self.cameras = cams
        self.sync = CameraSynchronizer(cams, p["sync_slop"], p["sync_max_age"])
        self.session: RecordingSession | None = None
        self.inputs = Inputs()
        self.sizes: dict[str, tuple[int, int]] = {}
        self.pending_start: str | None = None
        self.keys: queue.Queue[str] = queue.Queue()
        self.scene: dict[str, Any] | None = None
        self.auto = AutoRecorder(p["auto_start"], p["success_hold"], p["num_episodes"])
        self.status = "waiting for camera frames"
        self.last_error = ""

        for cam in cams:
            topic = p["camera_topic"].format(name=cam)
            self.create_subscription(Image, topic, lambda m, c=cam: self._on_image(c, m), SENSOR)
        self.create_subscription(JointState, "joint_states", self._on_joint_state, SENSOR)
        self.create_subscription(JointTrajectory, p["command_topic"], self._on_command, COMMAND)
        self.create_subscription(String, p["instruction_topic"], self._on_instruction, LATCHED)
        self.safety_state = ""
        if p["mode"] == "auto":
            self.create_subscription(String, p["scene_state_topic"], self._on_scene, LATCHED)
            if p["safety_state_topic"]:
                self.create_subscription(String, p["safety_state_topic"], self._on_safety_state, LATCHED)
        self.reset_client = (
            self.create_client(Trigger, p["reset_service"]) if p["mode"] == "auto" and p["reset_service"] else None
        )
        self.state_pub = self.create_publisher(String, "~/state", LATCHED)
        for name, fn in (
            ("~/start_episode", self._srv_start),
            ("~/save_episode", self._srv_save),
            ("~/discard_episode", self._srv_discard),
            ("~/stop", self._srv_stop),
        ):
            self.create_service(Trigger, name, fn)
        self.diag = Diagnostics(self)
        self.diag.add("recorder", self._diagnostics)
        self.create_timer(0.05, self._tick)  # keys, auto mode
        self._frame_timer = None  # at exactly 1/fps while recording, so frames sit on the fps grid
        self._publish_state()
        if p["enable_keyboard"]:
            self._start_keyboard()

    # ------------------------------------------------------------------ inputs
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_image(self, cam: str, msg: Image) -> None:
        try:
            img = image_from_msg(msg)
        except ImageConversionError as exc:
            self.last_error = f"camera '{cam}': {exc}"
            return
        if msg.encoding != "rgb8":
            self.last_error = f"camera '{cam}': encoding {msg.encoding}, expected rgb8"
            return
        self.sizes.setdefault(cam, img.shape[:2])
        self.sync.add(cam, time_to_sec(msg.header.stamp), img.copy())

    def _on_joint_state(self, msg: JointState) -> None:
        try:
            q = positions_in_order(msg.name, msg.position, self.joints)
        except JointStateError:
            return  # partial or broken states are not recorded
        self.inputs.joint_positions, self.inputs.joint_stamp = q, self._now()

    def _on_command(self, msg: JointTrajectory) -> None:
        try:
            traj = trajectory_from_msg(msg).validate().reordered(self.joints)
        except TrajectoryError as exc:
            self.last_error = f"command not recordable: {exc}"
            return
        traj = replace(traj, stamp=traj.start_time(self._now()))
        self.inputs.command, self.inputs.command_received = traj, self._now()

    def _on_instruction(self, msg: String) -> None:
        self.inputs.instruction = msg.data

    def _on_scene(self, msg: String) -> None:
        try:
            self.scene = json.loads(msg.data)
        except ValueError:
            self.last_error = "sim/scene_state is not JSON"

    def _on_safety_state(self, msg: String) -> None:
        self.safety_state = msg.data

    def _arm_can_move(self) -> bool:
        return not self.p["safety_state_topic"] or self.safety_state in ("ARMED", "ACTIVE")

    # ------------------------------------------------------------------ session
    def _ensure_session(self) -> RecordingSession:
        if self.session is not None:
            return self.session
        if set(self.sizes) != set(self.cameras):
            missing = sorted(set(self.cameras) - set(self.sizes))
            raise DatasetError(f"no frames yet from camera(s) {missing}; cannot size the videos")
        p = self.p
        spec = DatasetSpec(
            int(p["fps"]), self.joints, {c: tuple(self.sizes[c]) for c in self.cameras}, self.robot.name,
            vcodec=p["vcodec"], crf=int(p["crf"]), preset=p["preset"],
        )
        writer = LeRobotDatasetWriter(Path(p["dataset_root"]).expanduser(), spec)
        for action in writer.recovery_actions:
            self.get_logger().warning(f"dataset recovery: {action}")
        self.session = RecordingSession(
            writer, self._frames, max_state_age=p["max_state_age"],
            max_episode_time=p["max_episode_time"], command_timeout=p["command_timeout"], inputs=self.inputs,
        )
        self.get_logger().info(
            f"dataset {writer.root}: {writer.num_episodes} episodes, {writer.num_frames} frames; "
            f"recording {spec.fps} fps, cameras {spec.cameras}, codec {writer.codec}"
        )
        return self.session

    def _frames(self, now: float) -> SyncedFrames | None:
        """A new synchronised set, else the last one again while it is younger than sync_max_age.

        Cameras and recorder tick at similar rates with no phase lock, so a new set is sometimes a few ms
        late; repeating the previous one keeps the fps grid (the synchroniser still refuses stale sets).
        """
        return self.sync.latest(now) or self.sync.latest(now, allow_repeat=True)

    def _control(self, what: str, task: str | None = None) -> str:
        """Run one control on the session; raises DatasetError with a message for the caller."""
        if what == "start":
            return self._ensure_session().start(self._now(), task)
        s = self.session
        if s is None:
            if what == "stop":
                return "nothing recorded"
            raise DatasetError("no episode is being recorded")
        if what == "save":
            return s.save()
        if what == "discard":
            return s.discard()
        if what == "rerecord":
            return s.rerecord(self._now())
        return s.stop()

    def _do(self, what: str, task: str | None = None) -> tuple[bool, str]:
        try:
            msg = self._control(what, task)
            ok = True
        except DatasetError as exc:
            msg, ok = str(exc), False
            (self.get_logger().error if self.session and self.session.state is RecorderState.FAILED
             else self.get_logger().warn)(msg)
        self._flush_events()
        self._publish_state()
        self._sync_frame_timer()
        return ok, msg

    def _sync_frame_timer(self) -> None:
        recording = self.session is not None and self.session.state is RecorderState.RECORDING
        if recording and self._frame_timer is None:
            self._frame_timer = self.create_timer(1.0 / self.p["fps"], self._record_frame)
            self._record_frame()
        elif not recording and self._frame_timer is not None:
            self.destroy_timer(self._frame_timer)
            self._frame_timer = None

    def _record_frame(self) -> None:
        s = self.session
        if s is None or s.state is not RecorderState.RECORDING:
            return
        before = s.state
        try:
            s.tick(self._now())
        except DatasetError as exc:
            self.get_logger().error(str(exc))
        self._flush_events()
        if s.state is not before:
            self._publish_state()
            self._sync_frame_timer()

    def _srv(self, what: str, response: Trigger.Response) -> Trigger.Response:
        response.success, response.message = self._do(what)
        return response

    def _srv_start(self, _req: Trigger.Request, res: Trigger.Response) -> Trigger.Response:
        return self._srv("start", res)

    def _srv_save(self, _req: Trigger.Request, res: Trigger.Response) -> Trigger.Response:
        return self._srv("save", res)

    def _srv_discard(self, _req: Trigger.Request, res: Trigger.Response) -> Trigger.Response:
        return self._srv("discard", res)

    def _srv_stop(self, _req: Trigger.Request, res: Trigger.Response) -> Trigger.Response:
        return self._srv("stop", res)

    # ------------------------------------------------------------------ timer
    def _tick(self) -> None:
        now = self._now()
        while not self.keys.empty():
            self._on_key(self.keys.get_nowait())
        if self.p["mode"] == "auto":
            self._auto(now)

    def _auto(self, now: float) -> None:
        s = self.session
        saved_one = self.auto.step(
            now, self.scene, s.state if s else None, s.counts["saved"] if s else 0, self.inputs.command_received,
            self._arm_can_move(), lambda what, task: self._do(what, task)[0],
        )
        if saved_one and self.reset_client is not None:
            if self.reset_client.service_is_ready():
                self.reset_client.call_async(Trigger.Request())
            else:
                self.get_logger().warning(f"reset service {self.p['reset_service']} not available")

    # ------------------------------------------------------------------ keyboard
    def _on_key(self, key: str) -> None:
        s = self.session
        what = control_for_key(key, s is not None and s.state is RecorderState.RECORDING)
        if what is not None:
            self._do(what)

    def _start_keyboard(self) -> None:
        self.keyboard = TerminalKeyReader(self.keys.put, running=rclpy.ok)
        if not self.keyboard.start():
            self.get_logger().warning("enable_keyboard: stdin is not a terminal; use the services instead")
            return
        self.get_logger().info(KEYS_HELP)

    # ------------------------------------------------------------------ status
    def _flush_events(self) -> None:
        if self.session:
            for e in self.session.drain_events():
                self.get_logger().info(e)

    def _publish_state(self) -> None:
        state = self.session.state.value if self.session else RecorderState.IDLE.value
        self.state_pub.publish(String(data=state))

    def _diagnostics(self) -> tuple[int, str, dict[str, Any]]:
        s = self.session
        if s is None:
            return OK, "idle, no dataset opened yet", {"cameras_seen": sorted(self.sizes)}
        values = {**s.counts, "episodes": s.writer.num_episodes, "dataset_frames": s.writer.num_frames,
                  "episode_frames": s.writer.episode_length, **{f"sync_{k}": v for k, v in self.sync.stats().items()},
                  "last_error": self.last_error}
        if s.state is RecorderState.FAILED:
            return ERROR, s.error, values
        if s.counts["skipped"] or s.counts["late"]:
            return WARN, f"{s.state.value}; frames skipped/late (inputs stale or timer late)", values
        return OK, s.state.value, values

    def close(self) -> None:
        """On shutdown an unsaved episode is discarded, never half-written."""
        if self.session is not None:
            self.session.writer.close()


def main(args: list[str] | None = None) -> None:
    sys.exit(run_node(lambda: EpisodeRecorderNode(), args))


if __name__ == "__main__":
    main()
