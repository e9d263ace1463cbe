"""sim_robot_node: the MuJoCo arm behind ros2_control-shaped topics.

Speaks what joint_state_broadcaster + joint_trajectory_controller +
forward_command_controller would: /joint_states, /arm_controller/joint_trajectory,
/forward_position_controller/commands; plus rendered cameras in realsense2_camera's
naming, /clock, the task's /sim/scene_state and /wam/instruction, and ~/reset.

One thread owns the simulation (MuJoCo data is not thread-safe): it steps physics,
applies queued commands, renders and publishes. ROS callbacks only enqueue.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from dataclasses import replace
from typing import Any

import numpy as np
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from wam_ros.params import sim_robot_node as sim_robot_node_params
from wam_ros.robot.trajectory import TrajectoryError
from wam_ros.ros.diagnostics import OK, WARN, Diagnostics
from wam_ros.ros.guarded_node import GuardedNode
from wam_ros.ros.image_conversion import camera_info_msg, image_to_msg
from wam_ros.ros.node_runtime import run_node
from wam_ros.ros.parameters import ParameterError, declare_params
from wam_ros.ros.qos import COMMAND, LATCHED
from wam_ros.ros.robot_description import load_robot_model
from wam_ros.ros.time_conversion import sec_to_time
from wam_ros.ros.trajectory_conversion import trajectory_from_msg
from wam_ros.sim.disturbances import Disturbance
from wam_ros.sim.mujoco_arm import CAMERAS, ArmRenderer
from wam_ros.sim.reach_task import TaskConfig
from wam_ros.sim.sim_env import SimEnv

PARAMS = sim_robot_node_params.PARAMS  # defined once, in wam_ros.params.sim_robot_node


class SimRobotNode(GuardedNode):
    def __init__(self) -> None:
        super().__init__("sim_robot_node")
        p = declare_params(self, PARAMS, on_change=self._on_param)
        unknown = [c for c in p["cameras"] if c not in CAMERAS]
        if unknown:
            raise ParameterError(f"parameter 'cameras': unknown camera(s) {unknown}; available: {list(CAMERAS)}")
        self.p = p
        self.robot = load_robot_model(p)
        self.env = SimEnv(self.robot, seed=p["seed"], control_period=p["control_period"],
                          task=TaskConfig(targets_per_layout=p["targets_per_layout"]))
        self._seed_base = p["seed"]
        self._seed_next = 1  # the first reset starts seed + 1 (seed + 0 is running now)
        self._rtf = p["real_time_factor"]
        self._cameras = tuple(p["cameras"]) if p["cameras_enabled"] and p["camera_rate"] > 0 else ()
        # Stamps: simulation time when we publish /clock; otherwise wall time at start + simulation time.
        self._offset = 0.0 if p["publish_clock"] else self.get_clock().now().nanoseconds * 1e-9
        self._inbox: queue.Queue = queue.Queue()
        self._disturbance: Disturbance | None = None  # in force (owned by the simulation thread)
        if p["disturbance"] != "none":
            self._inbox.put(("disturb", p["disturbance"]))

        self._js_pub = self.create_publisher(JointState, "joint_states", 10)
        self._clock_pub = self.create_publisher(Clock, "/clock", 10) if p["publish_clock"] else None
        self._scene_pub = self.create_publisher(String, "sim/scene_state", LATCHED)
        self._instr_pub = self.create_publisher(String, "wam/instruction", LATCHED)
        self._img_pubs = {
            c: (
                self.create_publisher(Image, f"camera/{c}/color/image_raw", 2),
                self.create_publisher(CameraInfo, f"camera/{c}/color/camera_info", 2),
            )
            for c in self._cameras
        }
        self.create_subscription(JointTrajectory, "arm_controller/joint_trajectory", self._on_trajectory, COMMAND)
        self.create_subscription(Float64MultiArray, "forward_position_controller/commands", self._on_positions, COMMAND)
        self.create_service(Trigger, "~/reset", self._on_reset)

        self.stats: dict[str, Any] = {"steps": 0, "overruns": 0, "frames": 0, "render_ms": 0.0, "rtf": 0.0}
        self.diagnostics = Diagnostics(self, hardware_id="mujoco")
        self.diagnostics.add("simulation", self._diag)
        self._running = True
        self._thread = threading.Thread(target=self._run, name="sim", daemon=True)
        self._thread.start()
        self.get_logger().info(
            f"simulating {self.robot.name}: rtf={self._rtf}, joint_states {p['joint_state_rate']} Hz, "
            f"cameras {list(self._cameras)} at {p['camera_rate']} Hz {p['image_width']}x{p['image_height']}; "
            f"episode 0 seed {self.env.episode.seed}: '{self.env.episode.instruction}'"
        )

    # ------------------------------------------------------------------ callbacks (enqueue only)
    def _on_param(self, name: str, value: Any) -> None:
        if name == "real_time_factor":
            self._rtf = float(value)
        elif name == "seed":
            self._seed_base, self._seed_next = int(value), 0
        elif name == "disturbance":
            self._inbox.put(("disturb", value))

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        try:
            traj = trajectory_from_msg(msg)
        except TrajectoryError as exc:
            self._reject(str(exc))
            return
        if traj.stamp != 0.0:  # 0 keeps meaning "now"
            traj = replace(traj, stamp=traj.stamp - self._offset)
        self._inbox.put(("trajectory", traj))

    def _on_positions(self, msg: Float64MultiArray) -> None:
        q = np.asarray(msg.data, dtype=float)
        n = len(self.robot.actuated_joints)
        if q.shape != (n,):
            self._reject(f"forward command has {q.size} values, expected {n} ({list(self.robot.actuated_joints)})")
            return
        self._inbox.put(("positions", q))

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        done = threading.Event()
        result: dict[str, str] = {}
        self._inbox.put(("reset", (done, result)))
        if not done.wait(10.0):
            response.success, response.message = False, "simulation thread did not answer within 10 s"
        else:
            response.success, response.message = True, result["message"]
        return response

    def _reject(self, reason: str) -> None:
        self.stats["last_rejection"] = reason
        self.log.warning("rejected", f"command rejected, holding: {reason}", period=2.0)

    # ------------------------------------------------------------------ simulation thread
    def _apply(self, kind: str, payload: Any) -> None:
        env = self.env
        if kind == "reset":
            done, result = payload
            seed = self._seed_base + self._seed_next
            self._seed_next += 1
            if self._disturbance is not None:  # reverted for the reset, in force again in the new episode
                self._disturbance.revert(env.arm)
            ep = env.reset(seed)
            if self._disturbance is not None:
                self._disturb(self._disturbance.kind)
            result["message"] = f"episode {env.episode_index} seed {seed}: {ep.instruction}"
            self.get_logger().info(result["message"])
            self._publish_episode()
            done.set()
            return
        if kind == "disturb":
            self._disturb(payload)
            return
        try:
            if kind == "trajectory":
                env.command_trajectory(payload)
            else:
                env.command_positions(payload)
        except TrajectoryError as exc:
            self._reject(str(exc))

    def _disturb(self, kind: str) -> None:
        """Revert the disturbance in force and inject ``kind`` ("none": nothing) into the running episode."""
        if self._disturbance is not None:
            self._disturbance.revert(self.env.arm)
            self._disturbance = None
        if kind != "none":
            cams = self._cameras or tuple(self.p["cameras"])
            self._disturbance = Disturbance(kind, cube=self.env.episode.target, camera=cams[0])
            self._disturbance.apply(self.env.arm)
        self.stats["disturbance"] = kind
        self.get_logger().warning(f"disturbance: {kind}" if kind != "none" else "disturbance: none (reverted)")

    def _publish_episode(self) -> None:
        if self.p["publish_instruction"]:
            self._instr_pub.publish(String(data=self.env.episode.instruction))
        self._publish_scene()

    def _publish_scene(self) -> None:
        state = self.env.scene_state(self.env.time + self._offset)
        self._scene_pub.publish(String(data=json.dumps(state)))

    def _run(self) -> None:
        env = self.env
        renderer = None
        if self._cameras:
            renderer = ArmRenderer(env.arm.model, self.p["image_width"], self.p["image_height"])
            intrinsics = {c: renderer.intrinsics(c) for c in self._cameras}
        tick = 1.0 / self.p["joint_state_rate"]
        cam_period = 1.0 / self.p["camera_rate"] if self._cameras else float("inf")
        scene_period = 1.0 / self.p["scene_state_rate"]
        names = list(env.arm.all_joints)
        next_cam = env.time
        next_scene = env.time
        self._publish_episode()
        wall0, sim0 = time.monotonic(), env.time
        rtf_wall, rtf_sim = wall0, sim0
        try:
            while self._running and self.context.ok():
                while not self._inbox.empty():
                    self._apply(*self._inbox.get_nowait())
                env.step(tick)
                self.stats["steps"] += 1
                t = env.time
                stamp = sec_to_time(t + self._offset)
                js = JointState(name=names)
                js.header.stamp = stamp
                js.position = env.arm.joint_positions().tolist()
                js.velocity = env.arm.joint_velocities().tolist()
                self._js_pub.publish(js)
                if self._clock_pub is not None:
                    self._clock_pub.publish(Clock(clock=stamp))
                if renderer is not None and t >= next_cam - 1e-9:
                    t0 = time.perf_counter()
                    frames = renderer.render(env.arm.data.qpos.copy(), self._cameras)
                    if self._disturbance is not None:
                        frames = self._disturbance.edit_images(frames)
                    for cam, frame in frames.items():
                        img_pub, info_pub = self._img_pubs[cam]
                        frame_id = f"camera_{cam}_color_optical_frame"
                        img_pub.publish(image_to_msg(frame, t + self._offset, frame_id))
                        h, w = frame.shape[:2]
                        info_pub.publish(camera_info_msg(t + self._offset, frame_id, w, h, intrinsics[cam]))
                    ms = (time.perf_counter() - t0) * 1e3
                    self.stats["render_ms"] = 0.9 * self.stats["render_ms"] + 0.1 * ms if self.stats["frames"] else ms
                    self.stats["frames"] += 1
                    next_cam = max(next_cam + cam_period, t - tick)
                if t >= next_scene - 1e-9:
                    self._publish_scene()
                    next_scene = max(next_scene + scene_period, t - tick)
                now = time.monotonic()
                if now - rtf_wall >= 1.0:
                    self.stats["rtf"] = (t - rtf_sim) / (now - rtf_wall)
                    rtf_wall, rtf_sim = now, t
                rtf = self._rtf
                if rtf > 0:
                    wait = wall0 + (t - sim0) / rtf - now
                    if wait > 0:
                        time.sleep(wait)
                    elif wait < -0.2:  # fell behind: do not race to catch up, start pacing afresh
                        self.stats["overruns"] += 1
                        wall0, sim0 = now, t
                else:
                    wall0, sim0 = now, t
        except Exception:
            if self.context.ok() and self._running:
                raise
            # shutting down: publishers were destroyed under us; nothing to report
        finally:
            if renderer is not None:
                renderer.close()

    def _diag(self) -> tuple[int, str, dict[str, Any]]:
        c = self.env.controller
        values = {
            "sim_time": self.env.time,
            "real_time_factor_target": self._rtf,
            "real_time_factor_achieved": self.stats["rtf"],
            "overruns": self.stats["overruns"],
            "frames_rendered": self.stats["frames"],
            "render_ms": self.stats["render_ms"],
            "trajectories_accepted": c.accepted,
            "trajectories_rejected": c.rejected,
            "last_rejection": self.stats.get("last_rejection", ""),
            "episode": self.env.episode_index,
            "seed": self.env.episode.seed,
            "disturbance": self.stats.get("disturbance", "none"),
        }
        if values["disturbance"] != "none":
            return WARN, f"disturbance injected: {values['disturbance']}", values
        behind = self._rtf > 0 and self.stats["rtf"] < 0.9 * self._rtf and self.stats["steps"] > 100
        return (WARN, "slower than real_time_factor", values) if behind else (OK, "running", values)

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=2.0)


def main(args: list[str] | None = None) -> None:
    sys.exit(run_node(lambda: SimRobotNode(), args))


if __name__ == "__main__":
    main()
