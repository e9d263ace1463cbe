"""Damped-least-squares differential IK: an end-effector twist -> arm joint velocities.

``dq = J^T (J J^T + lambda^2 I)^-1 v`` (wam_ros.robot.ik.dls_step, the step the scripted expert
uses too) with J from pinocchio (RobotModel.kinematics),
so near singularities the arm slows down instead of flipping. Joint limits are
handled the way MoveIt Servo does in spirit: a joint inside ``limit_margin`` of a
limit and asked to move further is locked (its Jacobian column removed and the
twist re-solved by the others), the result is scaled uniformly (direction kept) to
the velocity limits, and the integrated step never leaves the position limits.
"""

from __future__ import annotations

import numpy as np

from wam_ros.robot.ik import dls_step
from wam_ros.robot.model import RobotModel
from wam_ros.teleop.limits import inner_limits

#: Defaults (teleop_node's and keyboard_teleop's ik_damping, limit_margin, velocity_fraction).
DAMPING = 0.05  # damped least squares lambda
LIMIT_MARGIN = 0.05  # stay this far inside position limits [rad|m]
VELOCITY_FRACTION = 0.5  # share of each joint's velocity limit teleop may use


class DiffIK:
    def __init__(
        self,
        robot: RobotModel,
        damping: float = DAMPING,
        limit_margin: float = LIMIT_MARGIN,
        velocity_fraction: float = VELOCITY_FRACTION,
    ) -> None:
        """``velocity_fraction``: share of each joint's velocity limit teleop may use."""
        if damping <= 0 or limit_margin < 0 or not 0 < velocity_fraction <= 1:
            raise ValueError(
                f"DiffIK: damping={damping} must be > 0, limit_margin={limit_margin} >= 0, "
                f"velocity_fraction={velocity_fraction} in (0, 1]"
            )
        self.kin = robot.kinematics
        self.n = len(robot.arm_joints)
        lim = robot.limits(robot.arm_joints)
        self.lower, self.upper = inner_limits(robot, robot.arm_joints, limit_margin)
        self.vmax = lim["velocity"] * velocity_fraction
        self.damping = damping

    def joint_velocity(self, q: np.ndarray, twist: np.ndarray, dt: float) -> np.ndarray:
        """Arm joint velocities that best produce ``twist`` = [vx, vy, vz, wx, wy, wz] (base frame) for ``dt``."""
        q = np.asarray(q, dtype=float)
        twist = np.asarray(twist, dtype=float)
        if q.shape != (self.n,) or twist.shape != (6,) or not (np.all(np.isfinite(q)) and np.all(np.isfinite(twist))):
            raise ValueError(f"DiffIK: need finite q ({self.n},) and twist (6,), got {q.shape}, {twist.shape}")
        jac = self.kin.jacobian(q)
        locked = np.zeros(self.n, dtype=bool)
        dq = np.zeros(self.n)
        for _ in range(self.n):
            dq = dls_step(jac * ~locked, twist, self.damping)
            nxt = q + dq * dt
            newly = ~locked & (((nxt > self.upper) & (dq > 0)) | ((nxt < self.lower) & (dq < 0)))
            if not newly.any():
                break
            locked |= newly
        dq[locked] = 0.0
        scale = np.max(np.abs(dq) / self.vmax)
        if scale > 1.0:
            dq = dq / scale
        return dq

    def step(self, q: np.ndarray, twist: np.ndarray, dt: float) -> np.ndarray:
        """Next arm joint positions after ``dt`` of ``twist``, always inside the (margined) limits."""
        q = np.asarray(q, dtype=float)
        return np.clip(q + self.joint_velocity(q, twist, dt) * dt, np.minimum(self.lower, q), np.maximum(self.upper, q))
