"""keyboard_teleop: drive the arm from a terminal (no gamepad needed).

Keys (wam_ros.teleop.keyboard): w/s a/d r/f move the tool in x/y/z, u/o i/k j/l
rotate it, g/h open/close the gripper, space stops, q or Esc quits. The terminal is
put in cbreak mode (keys arrive unbuffered, restored on exit). Twists become joint
targets through the same differential IK as the gamepad, published on wam/command
for the safety bridge, with a deadman heartbeat (true while a key is active) on
wam/deadman, so the bridge's deadman option works with a keyboard too.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import numpy as np
import rclpy
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool
from trajectory_msgs.msg import JointTrajectory

from wam_ros.params import defaults
from wam_ros.params.teleop_node import PARAMS as TELEOP_PARAMS
from wam_ros.robot.joint_state import JointStateError, positions_in_order
from wam_ros.robot.trajectory import Trajectory
from wam_ros.ros.diagnostics import OK, WARN, Diagnostics
from wam_ros.ros.guarded_node import GuardedNode
from wam_ros.ros.node_runtime import run_node
from wam_ros.ros.parameters import Param, declare_params
from wam_ros.ros.qos import COMMAND, SENSOR
from wam_ros.ros.robot_description import ROBOT_PARAMS, load_robot_model
from wam_ros.ros.trajectory_conversion import trajectory_to_msg
from wam_ros.teleop.diff_ik import DAMPING, LIMIT_MARGIN, VELOCITY_FRACTION, DiffIK
from wam_ros.teleop.keyboard import HELP, KeyboardTeleop, TerminalKeyReader
from wam_ros.teleop.twist_integrator import TwistIntegrator

#: Streaming and gripper defaults are teleop_node's (the same command stream, another input).
_TELEOP = defaults(TELEOP_PARAMS)

PARAMS = [
    *ROBOT_PARAMS,
    Param("rate", _TELEOP["rate"], "command rate [Hz]", range=(1.0, 200.0)),
    Param("command_lead", _TELEOP["command_lead"], "time_from_start of the streamed point [s]", range=(0.005, 1.0)),
    Param("command_topic", "wam/command", "JointTrajectory output (to the safety bridge)"),
    Param("deadman_topic", "wam/deadman", "std_msgs/Bool heartbeat: true while a key is active"),
    Param("max_linear", 0.05, "tool speed per key [m/s]", range=(0.001, 0.5)),
    Param("max_angular", 0.3, "tool angular speed per key [rad/s]", range=(0.01, 2.0)),
    Param("hold", 0.6, "a key press moves for this long; auto-repeat renews it [s]", range=(0.05, 2.0)),
    Param("gripper_speed", _TELEOP["gripper_speed"], "gripper speed per g/h press [m/s]", range=(0.0, 1.0)),
    Param("gripper_step_time", 0.25, "one g/h press moves the gripper this long [s]", range=(0.01, 2.0)),
    Param("velocity_fraction", VELOCITY_FRACTION, "share of each joint's velocity limit", range=(0.01, 1.0)),
    Param("limit_margin", LIMIT_MARGIN, "stay this far inside position limits [rad|m]", range=(0.0, 0.5)),
    Param("ik_damping", DAMPING, "damped least squares lambda", range=(1e-4, 1.0)),
]


class KeyboardTeleopNode(GuardedNode):
    def __init__(self) -> None:
        super().__init__("keyboard_teleop")
        p = declare_params(self, PARAMS)
        self.p = p
        robot = load_robot_model(p)
        self.joints = robot.actuated_joints
        ik = DiffIK(robot, p["ik_damping"], p["limit_margin"], p["velocity_fraction"])
        self.integrator = TwistIntegrator(robot, ik, p["limit_margin"], p["gripper_speed"])
        self.keys = KeyboardTeleop(p["max_linear"], p["max_angular"], p["hold"])
        self.lock = threading.Lock()
        self.gripper_dir, self.gripper_until = 0, -np.inf
        self.measured: np.ndarray | None = None
        self.sent = 0
        self.pub = self.create_publisher(JointTrajectory, p["command_topic"], COMMAND)
        self.deadman_pub = self.create_publisher(Bool, p["deadman_topic"], COMMAND)
        self.create_subscription(JointState, "joint_states", self._on_joint_state, SENSOR)
        self.create_timer(1.0 / p["rate"], self._tick)
        self.diag = Diagnostics(self)
        self.diag.add("keyboard", self._diagnostics)
        self.reader = TerminalKeyReader(self._on_key, running=lambda: rclpy.ok() and not self.keys.quit)
        if self.reader.start():
            self.get_logger().info(HELP)
        else:
            self.get_logger().error("stdin is not a terminal: keyboard_teleop needs one (run it in a terminal)")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_key(self, key: str) -> None:
        with self.lock:
            self.keys.press(key, self._now())

    def _on_joint_state(self, msg: JointState) -> None:
        try:
            self.measured = positions_in_order(msg.name, msg.position, self.joints)
        except JointStateError:
            return  # partial or broken states (e.g. another publisher's subset) are ignored

    def _tick(self) -> None:
        now = self._now()
        with self.lock:
            if self.keys.quit:
                self.deadman_pub.publish(Bool(data=False))
                self.get_logger().info("quit")
                rclpy.try_shutdown()
                return
            twist = self.keys.twist(now)
            g = self.keys.take_gripper()
        if g:
            self.gripper_dir, self.gripper_until = g, now + self.p["gripper_step_time"]
        gripper = self.gripper_dir if now <= self.gripper_until else 0
        active = bool(twist.any() or gripper)
        self.deadman_pub.publish(Bool(data=active))
        if not active or self.measured is None:
            self.integrator.release()
            return
        q = self.integrator.step(self.measured, twist, gripper, 1.0 / self.p["rate"])
        self.pub.publish(trajectory_to_msg(Trajectory(now, self.joints, [self.p["command_lead"]], q[None, :])))
        self.sent += 1

    def _diagnostics(self) -> tuple[int, str, dict[str, Any]]:
        values = {"commands_sent": self.sent, "joint_states": self.measured is not None}
        return (OK, "ready", values) if self.measured is not None else (WARN, "no /joint_states yet", values)


def main(args: list[str] | None = None) -> None:
    sys.exit(run_node(lambda: KeyboardTeleopNode(), args))


if __name__ == "__main__":
    main()
