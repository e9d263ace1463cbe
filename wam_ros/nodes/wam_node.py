"""wam_node: run a World-Action Model on synchronized camera frames + joint state.

Subscribes ``camera/<name>/color/image_raw`` (per configured camera), ``/joint_states``
and ``/wam/instruction``; publishes ``/wam/action_chunk`` (stamped with the
observation time), ``/wam/predicted_frames`` (filmstrip with the chunk's path drawn into
each calibrated camera, and the real frames beside the predicted ones as they arrive;
composed only while someone subscribes), ``/wam/predicted_path`` (end-effector path of the chunk),
``/wam/surprise`` (how far the real frames depart from the predicted ones, in units of the
model's usual error: ``wam_ros.monitoring.surprise``; geometry_msgs/Vector3Stamped, x = score,
y = alarm threshold, z = 1 while the alarm is on, stamped with the real frames' time) and
``/diagnostics``. Inference runs in a worker thread so callbacks never block; when to
infer is decided by ``wam_ros.control.inference_scheduler``. A missing camera, stale joint
state or failing backend means no chunk — never a stale or zero one.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from collections import deque
from typing import Any

import numpy as np
from geometry_msgs.msg import Point, Vector3Stamped
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import ColorRGBA, String
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import Marker, MarkerArray

from wam_ros.camera.multi_camera_sync import CameraSynchronizer
from wam_ros.camera.pinhole import CalibrationError, load_calibrations
from wam_ros.control.inference_scheduler import InferenceScheduler
from wam_ros.monitoring.frozen_camera import FrozenCameraCheck
from wam_ros.monitoring.prediction_matching import FramePair, PredictionMatcher
from wam_ros.monitoring.surprise import PairScore, SurpriseAlarm, SurpriseMonitor, SurpriseScorer
from wam_ros.params import wam_node as wam_node_params
from wam_ros.policies.base import Observation, Policy, Prediction
from wam_ros.policies.factory import PolicyConfigError, build_policy
from wam_ros.resources import resolve
from wam_ros.robot.joint_state import JointStateError, positions_in_order
from wam_ros.robot.model import RobotModel
from wam_ros.robot.trajectory import Trajectory
from wam_ros.ros import qos
from wam_ros.ros.diagnostics import ERROR, OK, WARN, Diagnostics
from wam_ros.ros.guarded_node import GuardedNode
from wam_ros.ros.image_conversion import ImageConversionError, image_from_msg, image_to_msg
from wam_ros.ros.node_runtime import run_node
from wam_ros.ros.parameters import ParameterError, declare_params
from wam_ros.ros.robot_description import load_robot_model
from wam_ros.ros.time_conversion import sec_to_time, time_to_sec
from wam_ros.ros.trajectory_conversion import trajectory_to_msg
from wam_ros.visualization.path_overlay import ChunkPath, time_rgb
from wam_ros.visualization.prediction_display import PredictionDisplay

PARAMS = wam_node_params.PARAMS  # defined once, in wam_ros.params.wam_node
#: /diagnostics keeps a surprise alarm visible (WARN) this long after it cleared [s]: most last one batch.
ALARM_SHOWN = 5.0


def time_colour(frac: float) -> ColorRGBA:
    """Early = blue, late = red: the path's colour tells time along the chunk (as on the filmstrip)."""
    r, g, b = time_rgb(frac)
    return ColorRGBA(r=r, g=g, b=b, a=1.0)


def path_markers(
    positions: np.ndarray, times: np.ndarray, frame_id: str, stamp: float, ns: str = "wam_path"
) -> MarkerArray:
    """LINE_STRIP + SPHERE_LIST of end-effector positions (N, 3), coloured by time."""
    span = float(times[-1] - times[0]) or 1.0
    pts = [Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in positions]
    cols = [time_colour(float((t - times[0]) / span)) for t in times]
    out = MarkerArray()
    for mid, (mtype, scale) in enumerate(((Marker.LINE_STRIP, 0.005), (Marker.SPHERE_LIST, 0.015))):
        m = Marker()
        m.header.frame_id = frame_id
        m.header.stamp = sec_to_time(stamp)
        m.ns, m.id, m.type, m.action = ns, mid, mtype, Marker.ADD
        m.pose.orientation.w = 1.0
        m.scale.x = m.scale.y = m.scale.z = scale
        m.points, m.colors = pts, cols
        m.color = cols[-1]
        out.markers.append(m)
    return out


class WamNode(GuardedNode):
    def __init__(self) -> None:
        super().__init__("wam_node")
        self.p = declare_params(self, PARAMS, on_change=self._on_param)
        self.robot: RobotModel = load_robot_model(self.p)
        self.joint_names = self.robot.actuated_joints
        self.cameras = list(self.p["cameras"])
        if not self.cameras or len(set(self.cameras)) != len(self.cameras):
            raise ParameterError(f"parameter 'cameras' = {self.cameras}: must be a non-empty list of unique names")
        self._scene: dict | None = None  # the sim's scene state: the expert backend's input, its episode's resets
        try:
            self.policy: Policy = build_policy(self.p, self.robot, self.cameras, scene_source=lambda: self._scene)
        except PolicyConfigError as exc:
            raise ParameterError(str(exc)) from exc
        self.device = self.policy.device
        self.arm_idx = [self.joint_names.index(n) for n in self.robot.arm_joints]
        self.display = self._prediction_display()
        self._notes_said = 0
        self.sync = CameraSynchronizer(self.cameras, self.p["sync_slop"], self.p["max_image_age"])
        self.scheduler = InferenceScheduler(
            self.p["trigger_mode"], self.p["trigger_threshold"], self.p["trigger_rate"], self.p["min_interval"]
        )
        self._lock = threading.Lock()  # scheduler, joint state, instruction, status
        self._q: np.ndarray | None = None
        self._q_stamp = -np.inf
        self._instruction = self.p["instruction"]
        self._reset_pending = False
        self._task_since = -np.inf  # when the instruction last changed: observations must be newer
        self._last_frame: dict[str, float] = {}
        self._warning = ""
        self._last_error = ""
        self._latencies: deque[float] = deque(maxlen=200)
        self._overheads: deque[float] = deque(maxlen=200)
        self._chunk_times: deque[float] = deque(maxlen=50)
        self._failures = 0
        # surprise monitor: predicted frames paired with the real frames that arrive for their time
        self._match_lock = threading.Lock()  # the worker adds predictions, image callbacks observe frames
        self.matcher = PredictionMatcher(self.p["surprise_match_tolerance"])
        self._pairs_seen = 0
        self.surprise = self._surprise_monitor()
        self._surprise_last: tuple[float, bool, list[PairScore]] = (float("nan"), False, [])
        self._alarm_seen: tuple[float, str] = (-np.inf, "")  # (monotonic time it was last on, its onset's text)

        self.pub_chunk = self.create_publisher(JointTrajectory, "/wam/action_chunk", qos.COMMAND)
        self.pub_frames = self.create_publisher(Image, "/wam/predicted_frames", 1)
        self.pub_path = self.create_publisher(MarkerArray, "/wam/predicted_path", 1)
        # reliable, so every subscriber (a plot, the bridge's best-effort one) gets it
        self.pub_surprise = self.create_publisher(Vector3Stamped, "/wam/surprise", 10)
        for cam in self.cameras:
            self.create_subscription(
                Image, f"camera/{cam}/color/image_raw", lambda m, c=cam: self._on_image(c, m), qos.SENSOR
            )
        self.create_subscription(JointState, "/joint_states", self._on_joint_state, qos.SENSOR)
        # Both a latched and a volatile subscription: `ros2 topic pub` (volatile) and the sim (latched) both work.
        self.create_subscription(String, "/wam/instruction", self._on_instruction, qos.LATCHED)
        self.create_subscription(String, "/wam/instruction", self._on_instruction, qos.COMMAND)
        if self.p["backend"] == "expert" or self.p["surprise_monitor"]:  # the expert's input; a simulator's resets
            self.create_subscription(String, "/sim/scene_state", self._on_scene, qos.LATCHED)

        self.diag = Diagnostics(self, hardware_id=f"wam:{self.p['backend']}")
        self.diag.add("inference", self._diag_inference)
        if self.p["surprise_monitor"]:
            self.diag.add("surprise", self._diag_surprise)
        self._jobs: queue.Queue[tuple[Observation, float]] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, name="wam_inference", daemon=True)
        self._worker.start()
        self.create_timer(1.0 / self.p["tick_rate"], self._tick)
        self.get_logger().info(
            f"backend {self.p['backend']} on {self.device}: {len(self.joint_names)} joints, cameras {self.cameras},"
            f" horizon {self.policy.spec.action_horizon} x {self.policy.spec.action_period:.3f} s"
        )

    # ------------------------------------------------------------------ configure
    def _prediction_display(self) -> PredictionDisplay:
        """The filmstrip's state, with the calibrations of this node's cameras (a bad file refuses the start)."""
        try:
            calibrations = load_calibrations(self.p["camera_calibrations"], resolve)
        except CalibrationError as exc:
            raise ParameterError(f"parameter 'camera_calibrations': {exc}") from exc
        unused = sorted(set(calibrations) - set(self.cameras))
        if unused:
            self.get_logger().info(f"camera_calibrations for {unused}: not among the cameras {self.cameras}, unused")
        tile = self.p["filmstrip_tile"]
        return PredictionDisplay({c: k for c, k in calibrations.items() if c in self.cameras}, (tile, tile))

    def _on_param(self, name: str, value: Any) -> None:
        self.p[name] = value
        if name in self.policy.tunables():  # num_steps, noise_scale: applied from the next chunk on
            self.policy.tune(name, value)
        if name in ("surprise_threshold", "surprise_clear"):
            alarm = self.surprise.alarm
            alarm.threshold, alarm.clear = self.p["surprise_threshold"], self.p["surprise_clear"]
        if name in ("trigger_mode", "trigger_threshold", "trigger_rate", "min_interval"):
            with self._lock:
                self.scheduler.configure(self.p["trigger_mode"], self.p["trigger_threshold"],
                                         self.p["trigger_rate"], self.p["min_interval"])

    # ------------------------------------------------------------------ inputs
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_image(self, camera: str, msg: Image) -> None:
        try:
            frame = image_from_msg(msg)
        except ImageConversionError as exc:
            self._warning = f"camera '{camera}': {exc}"
            return
        if frame.ndim != 3 or frame.shape[2] != 3 or msg.encoding not in ("rgb8", "bgr8"):
            self._warning = f"camera '{camera}': expected rgb8/bgr8, got {msg.encoding}"
            return
        if msg.encoding == "bgr8":
            frame = frame[..., ::-1]
        stamp = time_to_sec(msg.header.stamp)
        self._last_frame[camera] = stamp
        self.sync.add(camera, stamp, frame)
        if self.p["surprise_monitor"]:
            with self._lock:  # the arm's joints as this frame was taken: a frozen camera shows none of their motion
                q = None if self._q is None else self._q[self.arm_idx]
            with self._match_lock:
                pairs = self.matcher.observe(camera, stamp, frame)
                stuck = self.surprise.frame(camera, stamp, frame, q)
            if pairs or stuck is not None:
                self._on_pairs(pairs, [stuck] if stuck is not None else [])

    def _on_joint_state(self, msg: JointState) -> None:
        try:
            q = positions_in_order(msg.name, msg.position, self.joint_names)
        except JointStateError:
            return  # partial or broken states (e.g. another publisher's subset) are ignored
        stamp = time_to_sec(msg.header.stamp) or self._now()
        with self._lock:
            self._q, self._q_stamp = q, stamp

    def _on_instruction(self, msg: String) -> None:
        with self._lock:
            changed = msg.data != self._instruction
            if changed:
                self._instruction = msg.data
                self._reset_pending = True
                self._task_since = self._now()
                self.scheduler.reset()
        if changed:
            self._forget_predictions()

    def _forget_predictions(self, since: float | None = None) -> None:
        """A new task or a new simulated episode (starting at ``since``): what was predicted for the old world is
        no reference for the new one (a reset teleports arm and cubes), and an alarm about the old one is over."""
        with self._match_lock:
            self.matcher.clear(since)
            self.surprise.alarm.reset()
            self.surprise.frozen.clear()

    def _on_scene(self, msg: String) -> None:
        try:
            scene = json.loads(msg.data)
        except json.JSONDecodeError:
            self._warning = "unparseable /sim/scene_state"
            return
        before, self._scene = self._scene, scene
        if isinstance(scene, dict) and isinstance(before, dict) and scene.get("episode") != before.get("episode"):
            try:
                since = float(scene["stamp"]) - float(scene["episode_time"])
            except (KeyError, TypeError, ValueError):
                since = None
            self._forget_predictions(since)

    # ------------------------------------------------------------------ trigger
    def _observation(self, now: float) -> Observation | None:
        """Assemble an observation, or None with the reason left in self._warning."""
        with self._lock:
            q, q_stamp, instruction, since = self._q, self._q_stamp, self._instruction, self._task_since
        if q is None or now - q_stamp > self.p["joint_state_timeout"]:
            self._warning = "no recent /joint_states: no inference"
            return None
        synced = self.sync.latest(now, allow_repeat=True)
        if synced is None:
            late = [c for c in self.cameras if now - self._last_frame.get(c, -np.inf) > self.p["max_image_age"]]
            self._warning = (f"camera(s) {late} missing: no frame within {self.p['max_image_age']} s; no inference"
                             if late else "camera frames not synchronized within sync_slop; no inference")
            return None
        if min(q_stamp, synced.stamp) < since:
            # a new task starts from what is seen after it was given: a state queued before it (the sim's
            # reset publishes the instruction before the reset pose arrives) would anchor the episode there
            self._warning = "waiting for joint states and frames newer than the new instruction"
            return None
        return Observation(synced.frames, q, instruction, synced.stamp)

    def _tick(self) -> None:
        now = self._now()
        with self._lock:
            if not self.scheduler.should_start(now):
                return
        t0 = time.perf_counter()
        obs = self._observation(now)
        if obs is None:
            return
        self._warning = ""
        with self._lock:
            self.scheduler.started(now)
        self._jobs.put_nowait((obs, time.perf_counter() - t0))  # never full: one inference at a time

    # ------------------------------------------------------------------ worker
    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                obs, assembly = self._jobs.get(timeout=0.1)
            except queue.Empty:
                continue
            with self._lock:
                reset, self._reset_pending = self._reset_pending, False
            try:
                if reset:
                    self.policy.reset()
                self._run(obs, assembly)
            except Exception as exc:  # a failing backend means no chunk, never a stale one
                self._failures += 1
                self._last_error = f"{type(exc).__name__}: {exc}"
                self.log.warning("inference", f"inference failed, no chunk published: {self._last_error}",
                                 period=5.0)
                with self._lock:
                    self.scheduler.finished(self._now())

    def _run(self, obs: Observation, assembly: float) -> None:
        want_frames = self.p["surprise_monitor"] or self.pub_frames.get_subscription_count() > 0
        t0 = time.perf_counter()
        pred = self.policy.infer(obs, decode_frames=want_frames)
        if self.p["extra_latency"] > 0:
            time.sleep(self.p["extra_latency"])
        latency = time.perf_counter() - t0
        pred.validate(self.policy.spec)
        t1 = time.perf_counter()
        self.publish_prediction(obs, pred)
        self._overheads.append(assembly + time.perf_counter() - t1)  # node's own cost per chunk
        now = self._now()
        self._latencies.append(latency)
        self._chunk_times.append(time.monotonic())
        self._last_error = ""
        with self._lock:
            self.scheduler.finished(now, obs.timestamp, pred.actions.shape[0] * pred.action_period)

    def publish_prediction(self, obs: Observation, pred: Prediction) -> None:
        """Chunk, filmstrip (when decoded) and end-effector path for one prediction."""
        h = pred.actions.shape[0]
        times = (np.arange(h) + 1) * pred.action_period
        traj = Trajectory(obs.timestamp, self.policy.spec.joint_names, times, pred.actions).validate()
        self.pub_chunk.publish(trajectory_to_msg(traj))
        if self.p["surprise_monitor"] and pred.frames is not None and pred.frame_offsets is not None:
            with self._match_lock:
                self.matcher.add(obs.timestamp, pred.frame_offsets, pred.frames, obs.images)
        want_strip = self.pub_frames.get_subscription_count() > 0 and bool(obs.images)
        want_markers = self.pub_path.get_subscription_count() > 0
        if not (want_strip or want_markers):
            return  # nobody watches: no kinematics, no composing
        q_path = np.vstack([obs.joint_positions[self.arm_idx], pred.actions[:, self.arm_idx]])
        path = ChunkPath.from_joints(self.robot.kinematics.fk, q_path, np.concatenate([[0.0], times]))
        if want_strip:
            frames = pred.frames if pred.frame_offsets is not None else None
            strip = self.display.show(obs.timestamp, obs.images, path, frames, pred.frame_offsets,
                                      note="no predicted frames from this policy server")
            self.pub_frames.publish(image_to_msg(strip, obs.timestamp, "wam_filmstrip"))
            self._say_display_notes()
        if want_markers:
            self.pub_path.publish(path_markers(path.positions, path.times, self.robot.base_link, obs.timestamp))

    def _say_display_notes(self) -> None:
        """Log once each camera that gets no path drawn on the filmstrip, and why."""
        notes = self.display.notes
        for note in notes[self._notes_said:]:
            self.get_logger().info(f"/wam/predicted_frames: {note}")
        self._notes_said = len(notes)

    # ------------------------------------------------------------------ surprise
    def _on_pairs(self, pairs: list[FramePair], frozen: list[PairScore]) -> None:
        """Predicted frames whose real frame has just arrived, and a frozen camera's score (image callback thread)."""
        self._pairs_seen += len(pairs)
        self._score_pairs(pairs, frozen)
        if pairs:
            self._show_pairs(pairs)

    def _surprise_monitor(self) -> SurpriseMonitor:
        """Scorer (calibrated from surprise_calibration, else learning during its warm-up) and alarm."""
        scorer = SurpriseScorer(warmup=self.p["surprise_warmup"])
        if self.p["surprise_calibration"]:
            try:
                scorer.load(self.p["surprise_calibration"])
            except ValueError as exc:
                raise ParameterError(f"parameter 'surprise_calibration': {exc}") from exc
        if self.p["surprise_clear"] > self.p["surprise_threshold"]:
            raise ParameterError(f"parameter 'surprise_clear' = {self.p['surprise_clear']}: must not exceed "
                                 f"surprise_threshold ({self.p['surprise_threshold']})")
        return SurpriseMonitor(scorer, SurpriseAlarm(self.p["surprise_threshold"], self.p["surprise_clear"]),
                               FrozenCameraCheck(self.p["surprise_frozen_motion"]))

    def _score_pairs(self, pairs: list[FramePair], frozen: list[PairScore]) -> None:
        """Score the batch, publish it on /wam/surprise (x = score, y = threshold, z = alarm), say alarms."""
        with self._match_lock:  # image callbacks of several cameras may run at once
            was = self.surprise.alarm.active
            score, alarm, scores = self.surprise.update(pairs, frozen)
            self._surprise_last = (score, alarm, scores)
        msg = Vector3Stamped()
        msg.header.stamp = sec_to_time(max(s.stamp for s in scores))  # when reality was seen
        msg.header.frame_id = "wam_surprise"
        msg.vector.x, msg.vector.y, msg.vector.z = float(score), float(self.surprise.alarm.threshold), float(alarm)
        self.pub_surprise.publish(msg)
        if alarm:  # the onset's description, and the last moment it was on (for /diagnostics)
            text = self._surprise_text(scores) if not was else self._alarm_seen[1]
            self._alarm_seen = (time.monotonic(), text)
        if alarm and not was:
            self.log.warning("surprise", f"surprise alarm: {self._alarm_seen[1]}", period=1.0)
        elif was and not alarm:
            self.get_logger().info(f"surprise alarm cleared (score {score:.1f})")

    def _surprise_text(self, scores: list[PairScore]) -> str:
        """The most surprising pair of a batch, named: camera, offset, score, block."""
        top = max((s for s in scores if np.isfinite(s.score)), key=lambda s: s.score, default=None)
        if top is None:
            return "warming up"
        if top.frozen:
            return (f"camera '{top.camera}' frozen: its picture has not changed for {top.offset:.1f} s as the arm "
                    f"moved {self.surprise.frozen.moved(top.camera):.2f} rad")
        return (f"camera '{top.camera}' +{top.offset:.1f}s: score {top.score:.1f} (unexpected change "
                f"{top.unexpected:.1f}, predicted change not seen {top.missed:.1f}), most at image block {top.block}")

    def _show_pairs(self, pairs: list[FramePair]) -> None:
        """Republish the filmstrip with the real frames filled in, when they are the shown prediction's."""
        if self.pub_frames.get_subscription_count() == 0:
            return
        shown = self.display.add_pairs(pairs)
        if shown is not None:
            stamp, strip = shown
            self.pub_frames.publish(image_to_msg(strip, stamp, "wam_filmstrip"))

    # ------------------------------------------------------------------ diagnostics
    def _diag_inference(self) -> tuple[int, str, dict[str, Any]]:
        lat = np.array(self._latencies) * 1e3
        ovh = np.array(self._overheads) * 1e3
        ct = list(self._chunk_times)
        rate = (len(ct) - 1) / (ct[-1] - ct[0]) if len(ct) > 1 and ct[-1] > ct[0] else 0.0
        values: dict[str, Any] = {
            "backend": self.p["backend"], "device": self.device,
            "latency_p50_ms": float(np.percentile(lat, 50)) if lat.size else float("nan"),
            "latency_p99_ms": float(np.percentile(lat, 99)) if lat.size else float("nan"),
            "node_overhead_p50_ms": float(np.percentile(ovh, 50)) if ovh.size else float("nan"),
            "chunk_rate_hz": float(rate), "chunks": len(self._latencies), "failures": self._failures,
            "trigger_mode": self.p["trigger_mode"], **{f"sync_{k}": v for k, v in self.sync.stats().items()},
            "path_overlay_cameras": ", ".join(self.display.overlay_cameras) or "none",
            **({"path_overlay_notes": "; ".join(self.display.notes)} if self.display.notes else {}),
        }
        if self._last_error:
            return ERROR, f"backend failing: {self._last_error}", values
        if self._warning:
            return WARN, self._warning, values
        return OK, "running", values

    def _diag_surprise(self) -> tuple[int, str, dict[str, Any]]:
        score, alarm, scores = self._surprise_last
        alarm_cfg = self.surprise.alarm
        values: dict[str, Any] = {"score": score, "alarm": alarm, "threshold": alarm_cfg.threshold,
                                  "clear": alarm_cfg.clear, "pairs": self._pairs_seen,
                                  **{f"pairs_{k}": v for k, v in self.matcher.stats().items()}}
        for s in scores:
            values[f"score {s.camera} +{s.offset:.1f}s"] = s.score
        if alarm:
            return WARN, f"surprise alarm: {self._alarm_seen[1]}", values
        ago = time.monotonic() - self._alarm_seen[0]
        if ago < ALARM_SHOWN:  # a brief alarm (one batch: the next chunk already sees the change) stays visible
            return WARN, f"surprise alarm: {self._alarm_seen[1]} (cleared {ago:.1f} s ago)", values
        if not np.isfinite(score):
            return OK, "warming up" if self._pairs_seen else "no predicted/real frame pairs yet", values
        return OK, f"score {score:.1f}", values

    def close(self) -> None:
        self._stop.set()
        self._worker.join(timeout=5.0)
        self.policy.close()  # e.g. the remote client's connection


def main(args: list[str] | None = None) -> None:
    sys.exit(run_node(lambda: WamNode(), args))


if __name__ == "__main__":
    main()
