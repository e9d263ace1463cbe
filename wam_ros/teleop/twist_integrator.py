"""Integrate an end-effector twist into joint targets: the shared core of gamepad and keyboard teleop.

The reference starts at the measured position when motion begins and is then
integrated from the last target (not from the measured state), so controller lag
does not slow the operator down; releasing the input re-anchors at the measured
position next time. Gripper steps at a fixed speed; everything stays inside the
margined limits.
"""

from __future__ import annotations

import numpy as np

from wam_ros.robot.model import RobotModel
from wam_ros.teleop.diff_ik import DiffIK
from wam_ros.teleop.limits import inner_limits


class TwistIntegrator:
    def __init__(self, robot: RobotModel, ik: DiffIK, limit_margin: float, gripper_speed: float) -> None:
        self.ik = ik
        self.n_arm = len(robot.arm_joints)
        self.lower, self.upper = inner_limits(robot, robot.actuated_joints, limit_margin)
        self.gripper_speed = gripper_speed
        self.reference: np.ndarray | None = None

    def release(self) -> None:
        """Input released: the next motion starts again from the measured position."""
        self.reference = None

    def step(self, measured: np.ndarray, twist: np.ndarray, gripper: int, dt: float) -> np.ndarray:
        """Next targets (actuated order) after ``dt`` of ``twist`` and gripper direction (+1 open, -1 close)."""
        q = (self.reference if self.reference is not None else np.asarray(measured, dtype=float)).copy()
        n = self.n_arm
        q[:n] = self.ik.step(q[:n], twist, dt)
        q[n:] = np.clip(q[n:] + gripper * self.gripper_speed * dt, self.lower[n:], self.upper[n:])
        self.reference = q
        return q.copy()
