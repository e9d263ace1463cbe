"""A small stand-alone command sender for the safety bridge tests (killed with SIGKILL there).

Streams one-point /wam/command messages at 50 Hz: a slow sinusoid on joint1 around the
first measured position. Run as a script: ``python test/safety_command_publisher.py``.
"""

from __future__ import annotations

import math
import time

import rclpy
from builtin_interfaces.msg import Duration
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from wam_ros.robot.model import RobotModel


def main() -> None:
    rclpy.init()
    node = rclpy.create_node("safety_test_commander")
    names = RobotModel.load().actuated_joints
    start: dict[str, float] = {}

    def on_js(msg: JointState) -> None:
        if not start:
            start.update(zip(msg.name, msg.position, strict=False))

    node.create_subscription(JointState, "/joint_states", on_js, 10)
    pub = node.create_publisher(JointTrajectory, "/wam/command", 10)
    t0 = time.monotonic()

    def send() -> None:
        if not start:
            return
        t = time.monotonic() - t0
        q = [start[n] for n in names]
        q[0] += 0.05 * math.sin(0.5 * t)
        msg = JointTrajectory(joint_names=list(names))
        msg.points = [JointTrajectoryPoint(positions=q, time_from_start=Duration(nanosec=50_000_000))]
        pub.publish(msg)

    node.create_timer(0.02, send)
    print("commander running", flush=True)
    rclpy.spin(node)


if __name__ == "__main__":
    main()
