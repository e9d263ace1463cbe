"""Online jerk-limited tracking filter over ruckig: the last word on smoothness.

Each tick every joint is given a target (position, velocity) and moves its own state
one ``dt`` along ruckig's jerk-limited trajectory towards it. Because ruckig starts
from the filter's previous output, the output never exceeds the per-joint velocity,
acceleration and jerk limits, whatever the target does (steps, noise, targets out of
reach). Each joint has its own one-DoF ruckig instance, so a ``min_duration`` applies
per joint: the smoother uses it to *intercept* the plan a little ahead ("be at
plan(t + tau) at t + tau") instead of chasing the current target time-optimally, which
with per-tick replanning saturates the jerk limit and chatters.

Position limits are kept too: a joint that could no longer stop inside its limits
after this tick brakes instead (from the previous state, which by the same check
still could). If ruckig refuses a joint's update (invalid input, numerics) or the
target is not finite, that joint brakes to rest within limits and the error is
counted; only if even braking fails is the joint held.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ruckig import (
    ControlInterface,
    InputParameter,
    OutputParameter,
    Result,
    Ruckig,
    RuckigError,
    Synchronization,
    Trajectory,
)

_OK = (Result.Working, Result.Finished)
#: Target velocities are kept just inside the limit so ruckig never rejects them.
_VEL_MARGIN = 0.999
#: Relative nudge of a state sitting on a velocity/acceleration limit before a retry.
_NUDGE = 1e-6


@dataclass(frozen=True)
class FilterState:
    position: np.ndarray
    velocity: np.ndarray
    acceleration: np.ndarray


class _Joint:
    """One joint's ruckig instance (position and velocity interfaces)."""

    __slots__ = ("inp", "otg", "out")

    def __init__(self, dt: float, v: float, a: float, j: float) -> None:
        self.otg = Ruckig(1, dt)
        self.inp = InputParameter(1)
        self.out = OutputParameter(1)
        self.inp.max_velocity = [v]
        self.inp.max_acceleration = [a]
        self.inp.max_jerk = [j]
        self.inp.target_acceleration = [0.0]


class JerkLimitedFilter:
    """Per-joint jerk-limited tracking of a moving target, one ``update`` per tick."""

    def __init__(
        self,
        velocity: Sequence[float],
        acceleration: Sequence[float],
        jerk: Sequence[float],
        dt: float,
        names: Sequence[str] | None = None,
        lower: Sequence[float] | None = None,
        upper: Sequence[float] | None = None,
    ) -> None:
        limits = {
            k: np.asarray(v, dtype=float).reshape(-1)
            for k, v in (("velocity", velocity), ("acceleration", acceleration), ("jerk", jerk))
        }
        n = limits["velocity"].shape[0]
        names = list(names) if names is not None else [f"joint {i}" for i in range(n)]
        for kind, arr in limits.items():
            if arr.shape[0] != n or len(names) != n:
                raise ValueError(f"{kind} limits have {arr.shape[0]} values for {len(names)} joints")
            for name, value in zip(names, arr):
                if not (np.isfinite(value) and value > 0):
                    raise ValueError(
                        f"joint '{name}' has {kind} limit {value}; the jerk-limited filter needs positive finite "
                        "velocity, acceleration and jerk limits (URDF velocity, joint_limits.yaml for the rest)"
                    )
        if not (np.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be positive, got {dt}")
        self.dt = float(dt)
        self.names = tuple(names)
        self.num_joints = n
        self.max_velocity = limits["velocity"]
        self.max_acceleration = limits["acceleration"]
        self.max_jerk = limits["jerk"]
        self.lower = np.full(n, -np.inf) if lower is None else np.asarray(lower, dtype=float).reshape(-1)
        self.upper = np.full(n, np.inf) if upper is None else np.asarray(upper, dtype=float).reshape(-1)
        if self.lower.shape[0] != n or self.upper.shape[0] != n or np.any(self.lower > self.upper):
            raise ValueError(f"position limits must be {n} values with lower <= upper")
        self._limited = np.isfinite(self.lower) | np.isfinite(self.upper)
        self._joints = [
            _Joint(self.dt, *(float(limits[k][i]) for k in ("velocity", "acceleration", "jerk"))) for i in range(n)
        ]
        # offline, all joints at once: where would each joint stop if it braked now?
        self._stop_otg = Ruckig(n)
        self._stop_inp = InputParameter(n)
        self._stop_traj = Trajectory(n)
        si = self._stop_inp
        si.max_velocity = self.max_velocity.tolist()
        si.max_acceleration = self.max_acceleration.tolist()
        si.max_jerk = self.max_jerk.tolist()
        si.control_interface = ControlInterface.Velocity
        si.synchronization = Synchronization.No
        si.target_velocity = [0.0] * n
        si.target_acceleration = [0.0] * n
        self._p = np.zeros(n)
        self._v = np.zeros(n)
        self._a = np.zeros(n)
        self._planned = np.zeros(n, dtype=bool)  # joint's last ruckig trajectory is valid for predict()
        self.errors = 0  # ruckig refused a joint's update (it braked instead)
        self.hard_holds = 0  # even braking failed: joint held
        self.limit_brakes = 0  # joint-ticks braked to stay inside position limits
        self.last_error = ""

    # ------------------------------------------------------------------ state
    def reset(
        self, position: np.ndarray, velocity: np.ndarray | None = None, acceleration: np.ndarray | None = None
    ) -> None:
        """Start from a given state (the measured joint positions, at rest by default)."""
        p = np.asarray(position, dtype=float).reshape(-1)
        if p.shape[0] != self.num_joints or not np.all(np.isfinite(p)):
            raise ValueError(f"reset position must be {self.num_joints} finite values, got {p}")
        self._p = p.copy()
        self._planned[:] = False
        self._v = np.zeros(self.num_joints) if velocity is None else np.asarray(velocity, dtype=float).copy()
        self._a = np.zeros(self.num_joints) if acceleration is None else np.asarray(acceleration, dtype=float).copy()

    @property
    def velocity(self) -> np.ndarray:
        return self._v

    @property
    def state(self) -> FilterState:
        return FilterState(self._p.copy(), self._v.copy(), self._a.copy())

    # ------------------------------------------------------------------ ticks
    def update(
        self,
        target_position: np.ndarray,
        target_velocity: np.ndarray | None = None,
        min_duration: float = 0.0,
    ) -> FilterState:
        """Advance one ``dt`` towards (target_position, target_velocity).

        ``min_duration`` > 0: reach the target no sooner than that (interception);
        0: as fast as the limits allow.
        """
        n = self.num_joints
        tp = np.asarray(target_position, dtype=float).reshape(-1)
        tv = np.zeros(n) if target_velocity is None else np.asarray(target_velocity, dtype=float).reshape(-1)
        if tp.shape[0] != n or tv.shape[0] != n:
            self._fail(f"target has {tp.shape[0]} positions / {tv.shape[0]} velocities for {n} joints")
            return self.brake()
        finite = np.isfinite(tp) & np.isfinite(tv)
        if not np.all(finite):
            self._fail("non-finite target")
        lim = self.max_velocity * _VEL_MARGIN
        tv = np.clip(tv, -lim, lim)
        prev = (self._p.copy(), self._v.copy(), self._a.copy())
        md = float(min_duration) if min_duration > 0 else None
        for j in range(n):
            if not finite[j] or not self._step(j, float(tp[j]), float(tv[j]), md):
                self._brake_joint(j)
        over = self._cannot_stop_in_limits()
        for j in np.flatnonzero(over):
            # could no longer stop inside its position limits: brake from the previous state instead
            self._p[j], self._v[j], self._a[j] = prev[0][j], prev[1][j], prev[2][j]
            self._brake_joint(j)
            self.limit_brakes += 1
        return self.state

    def predict(self, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(positions, velocities, accelerations) (len(offsets), J) at ``offsets`` s after the current state.

        Read off the trajectories ruckig computed on the last tick (towards the current
        targets; beyond their end ruckig continues at the target velocity), so it costs
        no extra updates. A joint that was reset or held stays where it is.
        """
        offsets = np.asarray(offsets, dtype=float).reshape(-1)
        m = offsets.shape[0]
        pos = np.repeat(self._p[None], m, axis=0)
        vel = np.zeros((m, self.num_joints))
        acc = np.zeros((m, self.num_joints))
        for j in np.flatnonzero(self._planned):
            traj = self._joints[j].out.trajectory
            t0 = self._joints[j].out.time
            for k, dt in enumerate(offsets):
                p, v, a = traj.at_time(t0 + dt)
                pos[k, j], vel[k, j], acc[k, j] = p[0], v[0], a[0]
        return pos, vel, acc

    def brake(self) -> FilterState:
        """Advance one ``dt`` decelerating every joint to rest within limits (no position target)."""
        for j in range(self.num_joints):
            self._brake_joint(j)
        return self.state

    def _step(self, j: int, tp: float, tv: float, min_duration: float | None) -> bool:
        jt = self._joints[j]
        jt.inp.control_interface = ControlInterface.Position
        jt.inp.target_position = [tp]
        jt.inp.target_velocity = [tv]
        jt.inp.minimum_duration = min_duration
        return self._run(j)

    def _brake_joint(self, j: int) -> None:
        jt = self._joints[j]
        jt.inp.control_interface = ControlInterface.Velocity
        jt.inp.target_velocity = [0.0]
        jt.inp.minimum_duration = None
        if not self._run(j):
            self.hard_holds += 1
            self._v[j] = 0.0
            self._a[j] = 0.0
            self._planned[j] = False

    def _run(self, j: int) -> bool:
        """One ruckig step of joint ``j``; on a refusal retry once from a state nudged inside the limits."""
        jt = self._joints[j]
        inp, out = jt.inp, jt.out
        inp.current_position = [float(self._p[j])]
        reason = ""
        for attempt in range(2):
            if attempt:  # states exactly on a limit occasionally trip ruckig's numerics
                lv, la = self.max_velocity[j] * (1 - _NUDGE), self.max_acceleration[j] * (1 - _NUDGE)
                self._v[j] = min(max(self._v[j], -lv), lv)
                self._a[j] = min(max(self._a[j], -la), la)
            inp.current_velocity = [float(self._v[j])]
            inp.current_acceleration = [float(self._a[j])]
            try:
                res = jt.otg.update(inp, out)
                reason = "" if res in _OK else f"ruckig returned {res.name}"
            except RuckigError as exc:
                reason = str(exc).strip()
            if not reason:
                break
        if not reason:
            p, v, a = out.new_position[0], out.new_velocity[0], out.new_acceleration[0]
            if np.isfinite(p) and np.isfinite(v) and np.isfinite(a):
                self._p[j], self._v[j], self._a[j] = p, v, a
                self._planned[j] = True
                return True
            reason = "ruckig produced a non-finite state"
        self._fail(f"joint '{self.names[j]}': {reason}")
        return False

    def _cannot_stop_in_limits(self) -> np.ndarray:
        """Per joint: would braking from the current state cross a position limit?"""
        outside = (self._p < self.lower - 1e-9) | (self._p > self.upper + 1e-9)
        # cheap screen: a conservative stopping distance (time to stop from |v|, |a| under the limits)
        v, a = np.abs(self._v), np.abs(self._a)
        t_stop = v / self.max_acceleration + (a + self.max_acceleration) / self.max_jerk
        reach = v * t_stop + 0.5 * a * t_stop**2 + 1e-6
        near = self._limited & ((self._p - reach < self.lower) | (self._p + reach > self.upper))
        if not np.any(near & (self._v != 0)):
            return outside
        si = self._stop_inp
        si.current_position = self._p.tolist()
        si.current_velocity = self._v.tolist()
        si.current_acceleration = self._a.tolist()
        try:
            self._stop_otg.calculate(si, self._stop_traj)
        except RuckigError:
            return self._limited.copy()
        over = outside.copy()
        for j, ext in enumerate(self._stop_traj.position_extrema):
            if self._limited[j]:
                over[j] |= ext.min < self.lower[j] - 1e-9 or ext.max > self.upper[j] + 1e-9
        return over

    def _fail(self, reason: str) -> None:
        self.errors += 1
        self.last_error = reason
