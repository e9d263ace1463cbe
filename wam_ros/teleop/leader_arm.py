"""GELLO-style leader arm: the leader's JointState mapped joint by joint onto the follower.

A leader arm is a cheap kinematic replica whose encoders are read as
sensor_msgs/JointState. Its joint names, zero offsets and directions differ from the
follower's, so the mapping is configuration: ``follower = sign * leader + offset``
per follower joint (sign may be any non-zero scale, e.g. for a gripper trigger).
Targets are clipped into the follower's limits (minus a margin) so the safety
bridge never sees a position past a limit, which it would treat as a fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from wam_ros.robot.joint_state import JointStateError, positions_in_order
from wam_ros.robot.model import RobotModel
from wam_ros.teleop.limits import inner_limits


class LeaderArmError(ValueError):
    """The mapping configuration or a leader message is unusable; the message names what."""


@dataclass(frozen=True)
class LeaderArmMapping:
    follower_joints: tuple[str, ...]  # every actuated follower joint, in command order
    leader_joints: tuple[str, ...]  # the leader joint driving each follower joint
    offsets: np.ndarray
    signs: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @classmethod
    def from_config(
        cls,
        robot: RobotModel,
        leader_joints: Sequence[str],
        offsets: Sequence[float] | None = None,
        signs: Sequence[float] | None = None,
        limit_margin: float = 0.02,
    ) -> LeaderArmMapping:
        """``leader_joints[i]`` drives ``robot.actuated_joints[i]``; empty offsets/signs mean 0 / +1."""
        follower = robot.actuated_joints
        n = len(follower)
        leader = tuple(leader_joints)
        if len(leader) != n:
            raise LeaderArmError(f"leader_joints has {len(leader)} names for the {n} follower joints {list(follower)}")
        if len(set(leader)) != n:
            raise LeaderArmError(f"leader_joints has duplicates: {list(leader)}")
        off = np.zeros(n) if not offsets else np.asarray(offsets, dtype=float)
        sgn = np.ones(n) if not signs else np.asarray(signs, dtype=float)
        for name, v in (("offsets", off), ("signs", sgn)):
            if v.shape != (n,) or not np.all(np.isfinite(v)):
                raise LeaderArmError(f"{name} must be {n} finite numbers (one per follower joint), got {v.tolist()}")
        if np.any(sgn == 0):
            raise LeaderArmError(f"signs must be non-zero, got {sgn.tolist()}")
        return cls(follower, leader, off, sgn, *inner_limits(robot, follower, limit_margin))

    def map(self, names: Sequence[str], positions: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """Follower targets (command order) and a mask of joints that were clipped to a limit."""
        try:
            raw = positions_in_order(names, positions, self.leader_joints, "leader JointState")
        except JointStateError as exc:
            raise LeaderArmError(str(exc)) from exc
        q = self.signs * raw + self.offsets
        clipped = np.clip(q, self.lower, self.upper)
        return clipped, clipped != q
