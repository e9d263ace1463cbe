"""``Trajectory``: a ROS-free joint trajectory, the value every core module passes around.

It mirrors trajectory_msgs/JointTrajectory: ``stamp`` is an absolute time in seconds
on the node clock (0.0 means "start now", as joint_trajectory_controller reads it),
``times`` are seconds from ``stamp``. Action chunks, commands and teleop references
all use it, so nodes convert messages once and the core never sees ROS types.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class TrajectoryError(ValueError):
    """A trajectory is malformed; the message names what is wrong."""


@dataclass(frozen=True)
class Trajectory:
    stamp: float
    joint_names: tuple[str, ...]
    times: np.ndarray  # (N,) seconds from stamp, strictly increasing
    positions: np.ndarray  # (N, J)
    velocities: np.ndarray | None = None  # (N, J)
    accelerations: np.ndarray | None = None  # (N, J)

    def __post_init__(self) -> None:
        object.__setattr__(self, "joint_names", tuple(self.joint_names))
        object.__setattr__(self, "times", np.asarray(self.times, dtype=float).reshape(-1))
        object.__setattr__(self, "positions", np.asarray(self.positions, dtype=float))
        for name in ("velocities", "accelerations"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, np.asarray(v, dtype=float))

    @property
    def num_points(self) -> int:
        return int(self.times.shape[0])

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def absolute_times(self) -> np.ndarray:
        return self.stamp + self.times

    def start_time(self, now: float) -> float:
        """When the trajectory starts on the node clock: its stamp, or ``now`` for a stamp of 0
        (joint_trajectory_controller's "start now", the one reading every consumer must share)."""
        return now if self.stamp == 0.0 else self.stamp

    def validate(self, require_finite: bool = True) -> Trajectory:
        """Raise TrajectoryError naming the first problem; return self when valid."""
        n, j = self.num_points, self.num_joints
        if n == 0:
            raise TrajectoryError("trajectory has no points")
        if j == 0:
            raise TrajectoryError("trajectory has no joint names")
        if len(set(self.joint_names)) != j:
            raise TrajectoryError(f"duplicate joint names in {list(self.joint_names)}")
        if self.positions.shape != (n, j):
            raise TrajectoryError(f"positions have shape {self.positions.shape}, expected ({n}, {j})")
        for name in ("velocities", "accelerations"):
            v = getattr(self, name)
            if v is not None and v.shape != (n, j):
                raise TrajectoryError(f"{name} have shape {v.shape}, expected ({n}, {j})")
        if n > 1 and not np.all(np.diff(self.times) > 0):
            raise TrajectoryError("time_from_start must be strictly increasing")
        if require_finite:
            if not np.isfinite(self.stamp) or not np.all(np.isfinite(self.times)):
                raise TrajectoryError("non-finite stamp or time_from_start")
            for name in ("positions", "velocities", "accelerations"):
                v = getattr(self, name)
                if v is not None and not np.all(np.isfinite(v)):
                    bad = sorted({self.joint_names[c] for c in np.argwhere(~np.isfinite(v))[:, 1]})
                    raise TrajectoryError(f"non-finite {name} for joint(s) {bad}")
        return self

    def reordered(self, joint_names: tuple[str, ...] | list[str]) -> Trajectory:
        """The same trajectory with columns in ``joint_names`` order (all must be present)."""
        joint_names = tuple(joint_names)
        missing = [n for n in joint_names if n not in self.joint_names]
        if missing:
            raise TrajectoryError(f"missing joint(s) {missing}; trajectory has {list(self.joint_names)}")
        idx = [self.joint_names.index(n) for n in joint_names]

        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[:, idx]

        return Trajectory(
            self.stamp, joint_names, self.times, self.positions[:, idx], pick(self.velocities), pick(self.accelerations)
        )
