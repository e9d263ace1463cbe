"""teleop_node: a human (or the scripted expert) drives the arm through /wam/command.

``source``:
- ``leader_arm``: a GELLO-style leader's sensor_msgs/JointState, mapped by
  wam_ros.teleop.leader_arm (names, offsets, signs from parameters), rate-limited
  toward the leader so a far-away leader never produces a jump;
- ``joy``: sensor_msgs/Joy -> end-effector twist (wam_ros.teleop.joy_mapping) ->
  joint targets by damped-least-squares differential IK; the deadman button is
  forwarded as a std_msgs/Bool heartbeat on wam/deadman for the safety bridge;
- ``expert``: wam_ros.sim.scripted_expert.ScriptedExpert acts as the teleoperator
  from sim/scene_state + /joint_states, publishing its chunk as a short trajectory.

The sources are core objects (wam_ros.teleop.sources); this node only converts their
messages, ticks the configured source and publishes what it answers. Every command
goes to the safety bridge (never to a controller directly), so teleop is gated,
limited and deadman-protected like the policy.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
from sensor_msgs.msg import JointState, Joy
from std_msgs.msg import Bool, String
from trajectory_msgs.msg import JointTrajectory

from wam_ros.params import teleop_node as teleop_node_params
from wam_ros.robot.joint_state import JointStateError, positions_in_order
from wam_ros.robot.model import RobotModel
from wam_ros.ros.diagnostics import OK, WARN, Diagnostics
from wam_ros.ros.guarded_node import GuardedNode
from wam_ros.ros.node_runtime import run_node
from wam_ros.ros.parameters import ParameterError, declare_params
from wam_ros.ros.qos import COMMAND, LATCHED, SENSOR
from wam_ros.ros.robot_description import load_robot_model
from wam_ros.ros.trajectory_conversion import trajectory_to_msg
from wam_ros.teleop.sources import (
    ExpertSource,
    JoySource,
    LeaderArmSource,
    TeleopConfigError,
    TeleopSource,
    make_source,
)

PARAMS = teleop_node_params.PARAMS  # defined once, in wam_ros.params.teleop_node


class TeleopNode(GuardedNode):
    def __init__(self) -> None:
        super().__init__("teleop_node")
        p = declare_params(self, PARAMS, on_change=self._on_param)
        self.p = p
        self.robot: RobotModel = load_robot_model(p)
        self.joints = self.robot.actuated_joints
        try:
            self.source: TeleopSource = make_source(self.robot, p)
        except TeleopConfigError as exc:
            raise ParameterError(str(exc)) from exc
        self.measured: np.ndarray | None = None
        self.sent = 0
        self.pub = self.create_publisher(JointTrajectory, p["command_topic"], COMMAND)
        self.deadman_pub = None
        self.create_subscription(JointState, "joint_states", self._on_joint_state, SENSOR)
        src = self.source
        if isinstance(src, LeaderArmSource):
            self.create_subscription(
                JointState, p["leader_topic"], lambda m: src.feed(self._now(), m.name, m.position), SENSOR
            )
        elif isinstance(src, JoySource):
            self.deadman_pub = self.create_publisher(Bool, p["deadman_topic"], COMMAND)
            self.create_subscription(Joy, p["joy_topic"], lambda m: src.feed(self._now(), m.axes, m.buttons), SENSOR)
        elif isinstance(src, ExpertSource):
            self.create_subscription(String, p["scene_state_topic"], self._on_scene, LATCHED)
        self.create_timer(src.period, self._tick)
        self.diag = Diagnostics(self)
        self.diag.add("teleop", self._diagnostics)
        self.get_logger().info(f"teleop source={p['source']} -> {p['command_topic']}")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_param(self, name: str, value: Any) -> None:
        self.p[name] = value
        self.source.set_param(name, value)

    # ------------------------------------------------------------------ inputs
    def _on_joint_state(self, msg: JointState) -> None:
        try:
            self.measured = positions_in_order(msg.name, msg.position, self.joints)
        except JointStateError:
            return  # partial or broken states (e.g. another publisher's subset) are ignored

    def _on_scene(self, msg: String) -> None:
        try:
            scene = json.loads(msg.data)
        except ValueError:
            self.source.last_error = "scene_state is not JSON"
            return
        self.source.feed(self._now(), scene)

    # ------------------------------------------------------------------ output
    def _tick(self) -> None:
        out = self.source.tick(self._now(), self.measured)
        if out.deadman is not None and self.deadman_pub is not None:
            self.deadman_pub.publish(Bool(data=out.deadman))
        if out.command is not None:
            self.pub.publish(trajectory_to_msg(out.command))
            self.sent += 1

    def _diagnostics(self) -> tuple[int, str, dict[str, Any]]:
        values = {"source": self.p["source"], "commands_sent": self.sent, "last_error": self.source.last_error,
                  "joint_states": self.measured is not None}
        if self.measured is None:
            return WARN, "no /joint_states yet", values
        return OK, f"{self.p['source']}: {self.sent} commands", values


def main(args: list[str] | None = None) -> None:
    sys.exit(run_node(lambda: TeleopNode(), args))


if __name__ == "__main__":
    main()
