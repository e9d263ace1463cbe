"""What a policy's action rows mean, and how they become joint-position targets (ROS-free).

WAM families speak different action spaces: openpi's ALOHA and DreamZero reply with
absolute joint positions, DROID with joint velocities, LIBERO with end-effector deltas,
LingBot-VA with end-effector poses relative to the episode's first pose. The smoother
and the safety bridge only ever see joint-position chunks, so every conversion happens
here, once, with the robot model's kinematics (pinocchio) and the URDF limits:

- ``joint_position``: the row is the target.
- ``joint_velocity``: integrated from the measured state at the action period
  (optionally clipped first, as DROID's client clips to [-1, 1] rad/s).
- ``joint_delta``: each row is an offset from the measured state at the observation.
- ``ee_delta``: each row moves the end effector from the previous step's pose
  (position added in the base frame, rotation ``exp(dr) @ R``), scaled by
  ``delta_scale`` (LIBERO's controller: 0.05 m and 0.5 rad per unit action).
- ``ee_pose``: absolute end-effector poses in the base frame.
- ``ee_pose_relative``: poses relative to the episode's first measured pose (position
  added, rotation composed ``R0 @ dR``); ``reset()`` starts a new episode.
End-effector targets go through damped-least-squares IK (wam_ros.robot.ik), warm-started
from the previous step, and every result is clipped to the URDF position limits. A target the
IK cannot reach (it ends farther than ``ik_tolerance`` from it) ends the chunk there: an
unconverged solve can land anywhere (jumps of 1-4 rad were seen), so only the reachable prefix is
kept, and a chunk whose first target is out of reach is refused by name.
The gripper column is mapped through a ``GripperConvention`` onto the gripper joints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pinocchio as pin

from wam_ros.robot.ik import dls_step
from wam_ros.robot.model import RobotModel

ACTION_SPACES = ("joint_position", "joint_velocity", "joint_delta", "ee_delta", "ee_pose", "ee_pose_relative")
ROTATIONS = ("axis_angle", "quaternion_xyzw", "euler_xyz")
ROTATION_SIZE = {"axis_angle": 3, "quaternion_xyzw": 4, "euler_xyz": 3}


class ActionSpaceError(ValueError):
    """An action space definition, or an action chunk, that cannot be converted; the message names it."""


@dataclass(frozen=True)
class GripperConvention:
    """How the gripper column reads: which value means open, which closed, and whether to snap.

    DROID: open 0, closed 1, binarised at 0.5. LIBERO: open -1, closed +1. The gripper joints
    are open at their upper limit (the finger opening), closed at the lower.
    """

    open_value: float = 0.0
    closed_value: float = 1.0
    binarize: bool = False

    def __post_init__(self) -> None:
        finite = np.isfinite(self.open_value) and np.isfinite(self.closed_value)
        if not finite or self.open_value == self.closed_value:
            raise ActionSpaceError(
                f"gripper convention: open_value {self.open_value} and closed_value {self.closed_value} "
                "must be finite and differ"
            )

    def closed_fraction(self, values: np.ndarray) -> np.ndarray:
        """0 = open .. 1 = closed, clipped; binarised at the midpoint when ``binarize``."""
        frac = np.clip((np.asarray(values, dtype=float) - self.open_value) / (self.closed_value - self.open_value),
                       0.0, 1.0)
        return (frac >= 0.5).astype(float) if self.binarize else frac

    def to_joints(self, values: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
        """(N,) action values -> (N, G) gripper joint positions."""
        frac = self.closed_fraction(values)[:, None]
        return upper[None, :] - frac * (upper - lower)[None, :]

    def from_joints(self, q_gripper: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
        """Measured gripper joints -> the policy's gripper value (for observations)."""
        span = np.where(upper - lower > 0, upper - lower, 1.0)
        frac = float(np.clip(np.mean((upper - np.asarray(q_gripper, dtype=float)) / span), 0.0, 1.0))
        return self.open_value + frac * (self.closed_value - self.open_value)


@dataclass(frozen=True)
class ActionSpace:
    """One action row's layout: the arm part in ``kind`` then, if ``gripper_column``, the gripper."""

    kind: str = "joint_position"
    rotation: str = "axis_angle"  # end-effector kinds only
    gripper: GripperConvention | None = field(default_factory=GripperConvention)  # None: no gripper column
    velocity_clip: float = 0.0  # joint_velocity: clip |v| to this first (0: no clip)
    delta_scale: tuple[float, float] = (1.0, 1.0)  # ee_delta: metres and radians per unit action

    def __post_init__(self) -> None:
        if self.kind not in ACTION_SPACES:
            raise ActionSpaceError(f"action space '{self.kind}': must be one of {list(ACTION_SPACES)}")
        if self.rotation not in ROTATIONS:
            raise ActionSpaceError(f"rotation '{self.rotation}': must be one of {list(ROTATIONS)}")
        if self.velocity_clip < 0 or not all(s > 0 for s in self.delta_scale):
            raise ActionSpaceError(
                f"velocity_clip {self.velocity_clip} must be >= 0 and delta_scale {self.delta_scale} positive"
            )

    @property
    def is_cartesian(self) -> bool:
        return self.kind.startswith("ee_")

    def arm_width(self, n_arm: int) -> int:
        return 3 + ROTATION_SIZE[self.rotation] if self.is_cartesian else n_arm

    def width(self, n_arm: int) -> int:
        """Columns per action row for an arm of ``n_arm`` joints."""
        return self.arm_width(n_arm) + (1 if self.gripper is not None else 0)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ActionSpace:
        """From a profile's ``action_space`` map; unknown keys are refused by name."""
        d = dict(d)
        gripper = d.pop("gripper", {})
        known = {"kind", "rotation", "velocity_clip", "delta_scale"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ActionSpaceError(f"action_space: unknown key(s) {unknown}; known: {sorted(known | {'gripper'})}")
        if "delta_scale" in d:
            d["delta_scale"] = tuple(float(x) for x in d["delta_scale"])
        if gripper is None:
            return cls(gripper=None, **d)
        gknown = {"open_value", "closed_value", "binarize"}
        gunknown = sorted(set(gripper) - gknown)
        if gunknown:
            raise ActionSpaceError(f"action_space.gripper: unknown key(s) {gunknown}; known: {sorted(gknown)}")
        return cls(gripper=GripperConvention(**gripper), **d)


# ------------------------------------------------------------------ rotations
# pinocchio's SO(3) maps (the library that already does the robot's kinematics), not a hand-written copy.
def exp_so3(w: np.ndarray) -> np.ndarray:
    """Axis-angle vector -> rotation matrix."""
    return pin.exp3(np.asarray(w, dtype=float))


def log_so3(r: np.ndarray) -> np.ndarray:
    """Rotation matrix -> axis-angle vector."""
    return pin.log3(np.asarray(r, dtype=float))


def rotation_from(values: np.ndarray, rotation: str) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if rotation == "axis_angle":
        return exp_so3(values)
    if rotation == "quaternion_xyzw":
        n = np.linalg.norm(values)
        if not n > 1e-9:
            raise ActionSpaceError(f"quaternion {values.tolist()} has zero norm")
        return pin.Quaternion(values / n).matrix()  # Eigen's coefficient order is (x, y, z, w)
    return pin.rpy.rpyToMatrix(*values)  # euler_xyz: extrinsic x then y then z (R = Rz Ry Rx)


def rotation_to(r: np.ndarray, rotation: str) -> np.ndarray:
    if rotation == "axis_angle":
        return log_so3(r)
    if rotation == "quaternion_xyzw":
        return pin.Quaternion(np.asarray(r, dtype=float)).coeffs().copy()
    return pin.rpy.matrixToRpy(np.asarray(r, dtype=float))


# ------------------------------------------------------------------ conversion
class ActionConverter:
    """Turns a policy's (N, D) action rows into (N, J) joint-position targets for ``robot``."""

    def __init__(self, robot: RobotModel, space: ActionSpace, period: float, ik_iterations: int = 20,
                 ik_damping: float = 0.02, ik_tolerance: tuple[float, float] = (0.01, 0.05)) -> None:
        if not period > 0:
            raise ActionSpaceError(f"action period must be > 0 s, got {period}")
        self.robot, self.space, self.period = robot, space, float(period)
        self.n_arm = len(robot.arm_joints)
        lim = robot.limits()
        self.lower, self.upper = lim["lower"], lim["upper"]
        self.ik_iterations, self.ik_damping = int(ik_iterations), float(ik_damping)
        self.ik_tolerance = (float(ik_tolerance[0]), float(ik_tolerance[1]))  # [m], [rad]
        self.rows_out_of_reach = 0  # rows cut from the last converted chunk (targets the IK could not reach)
        self._episode_start: np.ndarray | None = None  # 4x4, ee_pose_relative

    def reset(self) -> None:
        """A new episode: the next observation's pose becomes the reference of ``ee_pose_relative``."""
        self._episode_start = None

    # the observation side: what the policy is told about the arm
    def ee_pose(self, q: np.ndarray) -> np.ndarray:
        return self.robot.fk(np.asarray(q, dtype=float)[: self.n_arm])

    def gripper_value(self, q: np.ndarray) -> float:
        conv = self.space.gripper or GripperConvention()
        return conv.from_joints(np.asarray(q)[self.n_arm:], self.lower[self.n_arm:], self.upper[self.n_arm:])

    def to_joint_positions(self, actions: np.ndarray, q_measured: np.ndarray) -> np.ndarray:
        """(N, D) actions -> (N, J) joint targets; ActionSpaceError naming the problem."""
        a = np.asarray(actions, dtype=float)
        q0 = np.asarray(q_measured, dtype=float)
        n_joints = len(self.lower)
        width = self.space.width(self.n_arm)
        if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] != width:
            raise ActionSpaceError(
                f"{self.space.kind} actions must be (N, {width}) "
                f"({self.space.arm_width(self.n_arm)} arm + {'1 gripper' if self.space.gripper else 'no gripper'}), "
                f"got {a.shape}"
            )
        if not np.all(np.isfinite(a)):
            raise ActionSpaceError("non-finite values in the action chunk")
        if q0.shape != (n_joints,) or not np.all(np.isfinite(q0)):
            raise ActionSpaceError(f"measured state must be {n_joints} finite joint positions, got {q0.shape}")
        arm_q = self._arm(a[:, : self.space.arm_width(self.n_arm)], q0[: self.n_arm])
        self.rows_out_of_reach = a.shape[0] - len(arm_q)
        a = a[: len(arm_q)]
        out = np.empty((len(arm_q), n_joints))
        out[:, : self.n_arm] = arm_q
        if self.space.gripper is not None:
            out[:, self.n_arm:] = self.space.gripper.to_joints(a[:, -1], self.lower[self.n_arm:],
                                                                self.upper[self.n_arm:])
        else:
            out[:, self.n_arm:] = q0[self.n_arm:]
        return np.clip(out, self.lower, self.upper)

    def _arm(self, arm: np.ndarray, q: np.ndarray) -> np.ndarray:
        kind = self.space.kind
        if kind == "joint_position":
            return arm
        if kind == "joint_delta":
            return q[None, :] + arm
        if kind == "joint_velocity":
            v = np.clip(arm, -self.space.velocity_clip, self.space.velocity_clip) if self.space.velocity_clip else arm
            return q[None, :] + np.cumsum(v, axis=0) * self.period
        return self._cartesian(arm, q)

    def _cartesian(self, arm: np.ndarray, q: np.ndarray) -> np.ndarray:
        rot = self.space.rotation
        current = self.ee_pose(q)
        if self.space.kind == "ee_pose_relative" and self._episode_start is None:
            self._episode_start = current
        targets = []
        pose = current
        for row in arm:
            p, r = row[:3], rotation_from(row[3:], rot)
            target = np.eye(4)
            if self.space.kind == "ee_delta":
                s_pos, s_rot = self.space.delta_scale
                target[:3, 3] = pose[:3, 3] + s_pos * p
                target[:3, :3] = exp_so3(s_rot * rotation_to(r, "axis_angle")) @ pose[:3, :3]
            elif self.space.kind == "ee_pose":
                target[:3, 3], target[:3, :3] = p, r
            else:  # ee_pose_relative
                start = self._episode_start
                target[:3, 3] = start[:3, 3] + p
                target[:3, :3] = start[:3, :3] @ r
            targets.append(target)
            pose = target
        out = np.empty((len(targets), self.n_arm))
        q_prev = q
        for i, target in enumerate(targets):
            q_prev = self.ik(target, q_prev)
            pos_err, rot_err = self.pose_error(target, q_prev)
            if pos_err > self.ik_tolerance[0] or rot_err > self.ik_tolerance[1]:
                if i == 0:
                    raise ActionSpaceError(
                        f"{self.space.kind} row 0: end-effector target out of reach (the IK ends "
                        f"{pos_err * 1000:.0f} mm / {rot_err:.2f} rad from it; tolerance "
                        f"{self.ik_tolerance[0] * 1000:.0f} mm / {self.ik_tolerance[1]:.2f} rad)")
                return out[:i]  # the reachable prefix
            out[i] = q_prev
        return out

    def pose_error(self, target: np.ndarray, q: np.ndarray) -> tuple[float, float]:
        """How far the arm at ``q`` is from a 4x4 ``target``: metres and radians."""
        err = self._residual(target, np.asarray(q, dtype=float))
        return float(np.linalg.norm(err[:3])), float(np.linalg.norm(err[3:]))

    def _residual(self, target: np.ndarray, q: np.ndarray) -> np.ndarray:
        """(6,) base-frame position error and rotation (axis-angle) from the pose at ``q`` to ``target``."""
        pose = self.robot.kinematics.fk(q)
        return np.concatenate([target[:3, 3] - pose[:3, 3], log_so3(target[:3, :3] @ pose[:3, :3].T)])

    def ik(self, target: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Damped-least-squares IK to a 4x4 base-frame pose from ``q``, inside the position limits."""
        kin = self.robot.kinematics
        lo, hi = self.lower[: self.n_arm], self.upper[: self.n_arm]
        q = np.asarray(q, dtype=float).copy()
        for _ in range(self.ik_iterations):
            err = self._residual(target, q)
            if np.linalg.norm(err[:3]) < 1e-5 and np.linalg.norm(err[3:]) < 1e-4:
                break
            q = np.clip(q + dls_step(kin.jacobian(q), err, self.ik_damping), lo, hi)
        return q

    def from_joint_positions(self, q_targets: np.ndarray, q_measured: np.ndarray) -> np.ndarray:
        """The inverse: (N, J) joint targets -> (N, D) actions in this space (stand-in servers, tests)."""
        qt = np.asarray(q_targets, dtype=float)
        q0 = np.asarray(q_measured, dtype=float)
        kind, rot = self.space.kind, self.space.rotation
        arm_q = qt[:, : self.n_arm]
        if kind == "joint_position":
            arm = arm_q
        elif kind == "joint_delta":
            arm = arm_q - q0[None, : self.n_arm]
        elif kind == "joint_velocity":
            arm = np.diff(np.vstack([q0[None, : self.n_arm], arm_q]), axis=0) / self.period
        else:
            poses = [self.ee_pose(qi) for qi in arm_q]
            rows = []
            prev = self.ee_pose(q0)
            if kind == "ee_pose_relative" and self._episode_start is None:
                self._episode_start = prev
            for pose in poses:
                if kind == "ee_delta":
                    s_pos, s_rot = self.space.delta_scale
                    dp = (pose[:3, 3] - prev[:3, 3]) / s_pos
                    dr = rotation_to(exp_so3(log_so3(pose[:3, :3] @ prev[:3, :3].T) / s_rot), rot)
                    rows.append(np.concatenate([dp, dr]))
                elif kind == "ee_pose":
                    rows.append(np.concatenate([pose[:3, 3], rotation_to(pose[:3, :3], rot)]))
                else:
                    start = self._episode_start
                    rows.append(np.concatenate([pose[:3, 3] - start[:3, 3],
                                                rotation_to(start[:3, :3].T @ pose[:3, :3], rot)]))
                prev = pose
            arm = np.array(rows)
        if self.space.gripper is None:
            return arm
        g = self.space.gripper
        cols = [g.from_joints(row[self.n_arm:], self.lower[self.n_arm:], self.upper[self.n_arm:]) for row in qt]
        return np.hstack([arm, np.array(cols)[:, None]])
