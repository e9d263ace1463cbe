"""joint_trajectory_controller semantics without ROS: what the simulated arm executes.

The reference is a piecewise polynomial through knots ``(t, q, v, a)``; each segment
is linear, cubic or quintic according to what the trajectory's points carry
(positions only / + velocities / + accelerations), as ros2_controllers' JTC does.

Replacement: a new trajectory takes over at its start time (header stamp, 0 = now);
until then the running one continues. Waypoints at or before the takeover time are
dropped; the first new segment starts from the running reference at that time, so
the reference never jumps. An invalid trajectory raises ``TrajectoryError`` and the
running reference (or hold) is kept unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from wam_ros.robot.trajectory import Trajectory, TrajectoryError

LINEAR, CUBIC, QUINTIC = 1, 3, 5


def interpolation_of(traj: Trajectory) -> int:
    """Segment kind implied by what the points carry (JTC's rule)."""
    if traj.velocities is None:
        return LINEAR
    if traj.accelerations is None:
        return CUBIC
    return QUINTIC


def sample_segment(
    kind: int,
    t0: float,
    s0: tuple[np.ndarray, np.ndarray, np.ndarray],
    t1: float,
    s1: tuple[np.ndarray, np.ndarray, np.ndarray],
    t: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Position, velocity, acceleration at ``t`` in [t0, t1] on one segment."""
    q0, v0, a0 = s0
    q1, v1, a1 = s1
    T = t1 - t0
    tau = min(max(t - t0, 0.0), T)
    if kind == LINEAR or T <= 0:
        if T <= 0:
            return q1.copy(), np.zeros_like(q1), np.zeros_like(q1)
        v = (q1 - q0) / T
        return q0 + v * tau, v, np.zeros_like(q0)
    if kind == CUBIC:
        c0, c1 = q0, v0
        c2 = (3 * (q1 - q0) - (2 * v0 + v1) * T) / T**2
        c3 = (2 * (q0 - q1) + (v0 + v1) * T) / T**3
        q = c0 + c1 * tau + c2 * tau**2 + c3 * tau**3
        v = c1 + 2 * c2 * tau + 3 * c3 * tau**2
        a = 2 * c2 + 6 * c3 * tau
        return q, v, a
    # quintic: match position, velocity and acceleration at both ends
    c0, c1, c2 = q0, v0, a0 / 2
    h = q1 - q0 - v0 * T - a0 * T**2 / 2
    hv = v1 - v0 - a0 * T
    ha = a1 - a0
    c3 = (20 * h - 8 * hv * T + ha * T**2) / (2 * T**3)
    c4 = (-30 * h + 14 * hv * T - 2 * ha * T**2) / (2 * T**4)
    c5 = (12 * h - 6 * hv * T + ha * T**2) / (2 * T**5)
    q = c0 + c1 * tau + c2 * tau**2 + c3 * tau**3 + c4 * tau**4 + c5 * tau**5
    v = c1 + 2 * c2 * tau + 3 * c3 * tau**2 + 4 * c4 * tau**3 + 5 * c5 * tau**4
    a = 2 * c2 + 6 * c3 * tau + 12 * c4 * tau**2 + 20 * c5 * tau**3
    return q, v, a


class TrajectoryController:
    """Holds or follows a joint reference for a fixed list of joints.

    ``lower``/``upper`` (optional) make out-of-range waypoints a rejection reason,
    so a bad command is refused instead of being clipped into something else.
    """

    def __init__(
        self,
        joint_names: Sequence[str],
        initial: np.ndarray,
        now: float = 0.0,
        lower: np.ndarray | None = None,
        upper: np.ndarray | None = None,
    ) -> None:
        self.joint_names = tuple(joint_names)
        n = len(self.joint_names)
        self.lower = np.full(n, -np.inf) if lower is None else np.asarray(lower, dtype=float)
        self.upper = np.full(n, np.inf) if upper is None else np.asarray(upper, dtype=float)
        self.accepted = 0
        self.rejected = 0
        self.last_rejection = ""
        self.hold(initial, now)

    # ------------------------------------------------------------------ commands
    def hold(self, q: np.ndarray, now: float) -> None:
        """Replace everything by holding ``q`` from ``now`` (forward position command, reset)."""
        q = self._check_positions(np.asarray(q, dtype=float).reshape(1, -1), "position command")[0]
        z = np.zeros_like(q)
        self._t = np.array([now])
        self._q, self._v, self._a = q[None].copy(), z[None].copy(), z[None].copy()
        self._kind = np.array([LINEAR])

    def set_trajectory(self, traj: Trajectory, now: float) -> int:
        """Install ``traj`` (JTC replacement semantics); returns how many points were kept.

        Raises TrajectoryError naming the problem; the running reference is then unchanged.
        """
        try:
            traj = self.validate(traj)
            start = traj.start_time(now)
            cut = max(start, now)
            abs_t = start + traj.times
            keep = abs_t > cut + 1e-9
            if not np.any(keep):
                raise TrajectoryError(
                    f"all {traj.num_points} waypoint(s) are in the past (last at {abs_t[-1]:.3f}s, now {now:.3f}s)"
                )
        except TrajectoryError as exc:
            self.rejected += 1
            self.last_rejection = str(exc)
            raise
        self._prune(now)
        kind = interpolation_of(traj)
        qc, vc, ac = self.sample(cut)
        old = self._t < cut - 1e-12
        n_old = int(old.sum())  # knots are sorted: the first n_old are strictly before the cut
        n_keep = int(keep.sum())
        zeros = np.zeros((n_keep, len(self.joint_names)))
        vel = traj.velocities[keep] if traj.velocities is not None else zeros
        acc = traj.accelerations[keep] if traj.accelerations is not None else zeros
        # the knot at ``cut`` closes the truncated running segment with its own kind
        cut_kind = self._kind[n_old] if n_old < len(self._t) else LINEAR
        self._t = np.concatenate([self._t[old], [cut], abs_t[keep]])
        self._q = np.concatenate([self._q[old], qc[None], traj.positions[keep]])
        self._v = np.concatenate([self._v[old], vc[None], vel])
        self._a = np.concatenate([self._a[old], ac[None], acc])
        self._kind = np.concatenate([self._kind[old], [cut_kind], np.full(n_keep, kind)])
        self.accepted += 1
        return n_keep

    def validate(self, traj: Trajectory) -> Trajectory:
        """Check and reorder ``traj`` to this controller's joints; raises TrajectoryError."""
        unknown = [n for n in traj.joint_names if n not in self.joint_names]
        if unknown:
            raise TrajectoryError(f"unknown joint(s) {unknown}; expected {list(self.joint_names)}")
        missing = [n for n in self.joint_names if n not in traj.joint_names]
        if missing:
            raise TrajectoryError(f"missing joint(s) {missing}: all of {list(self.joint_names)} are required")
        traj = traj.validate().reordered(self.joint_names)
        if traj.stamp < 0:
            raise TrajectoryError(f"negative header stamp {traj.stamp}")
        if traj.times[0] < 0:
            raise TrajectoryError(f"negative time_from_start {traj.times[0]}")
        self._check_positions(traj.positions, "waypoint")
        return traj

    def _check_positions(self, q: np.ndarray, what: str) -> np.ndarray:
        if q.shape[-1] != len(self.joint_names):
            raise TrajectoryError(f"{what} has {q.shape[-1]} values for {len(self.joint_names)} joints")
        if not np.all(np.isfinite(q)):
            raise TrajectoryError(f"{what} contains non-finite values")
        bad = np.argwhere((q < self.lower - 1e-6) | (q > self.upper + 1e-6))
        if bad.size:
            i, j = bad[0]
            raise TrajectoryError(
                f"{what} {i}: {self.joint_names[j]} = {q[i, j]:.4f} outside its limits "
                f"[{self.lower[j]:.4f}, {self.upper[j]:.4f}]"
            )
        return q

    # ------------------------------------------------------------------ reference
    def sample(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Reference (q, v, a) at time ``t``; holds the last knot after the end."""
        if t >= self._t[-1]:
            return self._q[-1].copy(), np.zeros_like(self._q[-1]), np.zeros_like(self._q[-1])
        if t <= self._t[0]:
            return self._q[0].copy(), self._v[0].copy(), self._a[0].copy()
        k = int(np.searchsorted(self._t, t, side="right"))  # segment k-1 -> k
        return sample_segment(
            int(self._kind[k]),
            float(self._t[k - 1]),
            (self._q[k - 1], self._v[k - 1], self._a[k - 1]),
            float(self._t[k]),
            (self._q[k], self._v[k], self._a[k]),
            t,
        )

    def active(self, t: float) -> bool:
        """True while a trajectory is being executed (not yet holding its last point)."""
        return t < self._t[-1]

    @property
    def end_time(self) -> float:
        return float(self._t[-1])

    def _prune(self, now: float) -> None:
        """Drop knots that lie entirely in the past (keeps the one before ``now``)."""
        k = int(np.searchsorted(self._t, now, side="right")) - 1
        if k > 0:
            self._t, self._q, self._v, self._a, self._kind = (
                x[k:] for x in (self._t, self._q, self._v, self._a, self._kind)
            )
