"""expert_policy_node: the scripted expert as a stand-in policy on /wam/action_chunk.

Every ``inference_period`` it takes the newest /joint_states and sim/scene_state,
asks ScriptedExpertPolicy for a chunk and publishes it stamped with the observation
time (the stamp of the joint state it used). ``extra_latency`` delays publication to
imitate a slow WAM, so the downstream smoother/bridge can be exercised with latency.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from wam_ros.params import expert_policy_node as expert_policy_node_params
from wam_ros.policies.base import Observation, PolicyError
from wam_ros.robot.trajectory import Trajectory
from wam_ros.ros.diagnostics import OK, WARN, Diagnostics
from wam_ros.ros.guarded_node import GuardedNode
from wam_ros.ros.node_runtime import run_node
from wam_ros.ros.parameters import declare_params
from wam_ros.ros.qos import COMMAND, LATCHED, SENSOR
from wam_ros.ros.robot_description import load_robot_model
from wam_ros.ros.time_conversion import time_to_sec
from wam_ros.ros.trajectory_conversion import trajectory_to_msg
from wam_ros.sim.scripted_expert import ScriptedExpertPolicy

PARAMS = expert_policy_node_params.PARAMS  # defined once, in wam_ros.params.expert_policy_node


class ExpertPolicyNode(GuardedNode):
    def __init__(self) -> None:
        super().__init__("expert_policy_node")
        p = declare_params(self, PARAMS, on_change=self._on_param)
        self.robot = load_robot_model(p)
        self.p = p
        self._scene: dict[str, Any] | None = None
        self._state: tuple[float, np.ndarray] | None = None
        self.policy = ScriptedExpertPolicy(
            self.robot, lambda: self._scene, horizon=p["horizon"], period=p["action_period"], speed=p["speed"]
        )
        self._extra_latency = p["extra_latency"]
        self._index = {n: i for i, n in enumerate(self.robot.actuated_joints)}
        self._pub = self.create_publisher(JointTrajectory, "wam/action_chunk", COMMAND)
        self.create_subscription(JointState, "joint_states", self._on_joint_state, SENSOR)
        self.create_subscription(String, "sim/scene_state", self._on_scene, LATCHED)
        self._pending: list[Any] = []
        self.create_timer(p["inference_period"], self._tick)
        self.stats: dict[str, Any] = {"chunks": 0, "skipped": 0, "infer_ms": 0.0, "last_skip": ""}
        self.diagnostics = Diagnostics(self)
        self.diagnostics.add("expert", self._diag)

    def _on_param(self, name: str, value: Any) -> None:
        if name == "extra_latency":
            self._extra_latency = float(value)

    def _on_scene(self, msg: String) -> None:
        try:
            self._scene = json.loads(msg.data)
        except json.JSONDecodeError as exc:
            self.get_logger().warning(f"sim/scene_state is not JSON: {exc}")

    def _on_joint_state(self, msg: JointState) -> None:
        pos = dict(zip(msg.name, msg.position))
        missing = [n for n in self._index if n not in pos]
        if missing:
            self._skip(f"joint_states lacks {missing}")
            return
        self._state = (time_to_sec(msg.header.stamp), np.array([pos[n] for n in self._index]))

    def _skip(self, reason: str) -> None:
        if reason != self.stats["last_skip"]:
            self.get_logger().warning(f"no chunk: {reason}")
        self.stats["skipped"] += 1
        self.stats["last_skip"] = reason

    def _tick(self) -> None:
        if self._state is None:
            self._skip("no /joint_states yet")
            return
        stamp, q = self._state
        now = self.get_clock().now().nanoseconds * 1e-9
        if now - stamp > self.p["max_state_age"]:
            self._skip(f"newest joint state is {now - stamp:.2f}s old")
            return
        t0 = time.perf_counter()
        try:
            pred = self.policy.infer(Observation({}, q, self._scene["instruction"] if self._scene else "", stamp))
            pred.validate(self.policy.spec)
        except PolicyError as exc:
            self._skip(str(exc))
            return
        self.stats["infer_ms"] = (time.perf_counter() - t0) * 1e3
        times = pred.action_period * np.arange(1, len(pred.actions) + 1)
        msg = trajectory_to_msg(Trajectory(stamp, self.robot.actuated_joints, times, pred.actions))
        if self._extra_latency > 0:
            self._publish_later(msg, self._extra_latency)
        else:
            self._publish(msg)

    def _publish_later(self, msg: JointTrajectory, delay: float) -> None:
        def fire() -> None:
            timer.cancel()
            self.destroy_timer(timer)
            self._pending.remove(timer)
            self._publish(msg)

        timer = self.create_timer(delay, fire)
        self._pending.append(timer)

    def _publish(self, msg: JointTrajectory) -> None:
        self._pub.publish(msg)
        self.stats["chunks"] += 1

    def _diag(self) -> tuple[int, str, dict[str, Any]]:
        values = {**self.stats, "extra_latency": self._extra_latency}
        if self.stats["chunks"] == 0:
            return WARN, f"no chunk published yet ({self.stats['last_skip'] or 'waiting'})", values
        return OK, "publishing chunks", values


def main(args: list[str] | None = None) -> None:
    sys.exit(run_node(lambda: ExpertPolicyNode(), args))


if __name__ == "__main__":
    main()
