"""The safety bridge's output path: planned inside the limits, executed by the controller as planned.

**The path** is C1 and piecewise quadratic. Knots ``(t_k, q_k, v_k)`` are joined by
segments of constant acceleration ``a_k = (v_{k+1} - v_k) / T_k``, so
``q_{k+1} = q_k + (v_k + v_{k+1}) T_k / 2``. The bridge sends the knots as positions and
velocities. joint_trajectory_controller (and the simulated arm) interpolate such a
segment with the cubic Hermite through ``(q_k, v_k)`` and ``(q_{k+1}, v_{k+1})``, and
for knots related as above that cubic's third-order coefficient is zero. The
controller therefore executes exactly the planned path: its velocity is continuous,
its acceleration on a segment is ``a_k``, and its jerk is the step between
consecutive ``a_k``. (Knot velocities that do not satisfy the relation, e.g. the
mean of the neighbouring segment velocities of a polyline, make the cubic overshoot:
up to 3x the planned acceleration where a ramp starts. Issue 15, D4.)

**Planning** passes the command through the limits *from the last sent reference*
(position, velocity and acceleration the controller follows now). Whatever arrives
(a jump, a resumed commander whose reference ran ahead, a second commander's
reversal), the output starts where the previous one is and, per segment and joint,
ends with the velocity nearest to what the command wants inside

- ``|v| <= v_max``, ``|a| <= a_max``                                      (hard)
- the braking bound: from the end of the segment the joint can still stop inside
  the position limits at ``a_max``, and it does not overshoot them inside the
  segment                                                                 (hard)
- ``|a_k - a_{k-1}| <= j_max * T_k`` and, approaching ``v_max``,
  ``v + a|a| / (2 j_max) <= v_max`` (where a jerk limit is configured)   (soft:
  yields to a hard bound, which only happens at a position limit; counted)

What the command wants at knot ``k+1`` is its own velocity there (a finite
difference of its points) plus a correction toward its position: the predicted
position error over ``TRACKING_TIME``, capped at ``sqrt(a_max * |error|)`` so a far
target is approached at a speed from which the joint can still stop on it. Segments longer than ``max_step`` are split
(the command's points are interpolated linearly), and every path ends with a
jerk-limited braking tail that brings it to rest, so a sender that stops sending
sees the arm stop. By induction (full braking is always inside the hard interval:
docs/safety_bridge.md) the hard interval is never empty, so no sequence of commands
can produce a path over the velocity, acceleration or position limits.

Pure numpy; per joint vectors in controller order. No ROS types here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: A bound "changed" the wanted velocity when it moved it by more than this [rad/s | m/s].
CLAMP_TOL = 1e-9
#: [s] time constant of the correction toward the command's points. Each output starts after a
#: handover stretch of the previous one (20 ms) and is replaced 10 ms later, so a correction much
#: faster than that would be applied again and again before it shows: it would overshoot.
TRACKING_TIME = 0.1
#: [s] a time this close before a path's end counts as its end (at rest, acceleration 0), as the supervisor's
#: handover counts it ended: a path may end at rest on a segment still accelerating (its step to 0 judged over
#: that last segment), and a rounding error before the end would hand that acceleration to the next output,
#: which judges the same step over its own first segment (1.4x the jerk limit over a 20 ms stretch after a 50 ms one).
END_TOL = 1e-9


@dataclass(frozen=True)
class PathLimits:
    """Per-joint bounds for one path (controller order)."""

    lower: np.ndarray  # position bounds for this path (soft limits, widened by the start's braking distance)
    upper: np.ndarray
    velocity: np.ndarray
    acceleration: np.ndarray
    jerk: np.ndarray  # inf: no jerk limit for that joint


@dataclass(frozen=True)
class PathState:
    """Where a path starts: position, velocity and the acceleration of the segment in progress."""

    q: np.ndarray
    v: np.ndarray
    a: np.ndarray


@dataclass(frozen=True)
class Plan:
    """Knots after the start (``times`` > 0, relative to it) and what the limits changed."""

    times: np.ndarray  # (N,)
    positions: np.ndarray  # (N, J)
    velocities: np.ndarray  # (N, J), exactly the path's velocity at each knot
    clamped: int = 0  # segments of the command whose velocity a bound changed (any joint)
    jerk_yielded: int = 0  # segments where a hard bound overrode the jerk limit (any joint)

    @property
    def empty(self) -> bool:
        return len(self.times) == 0


def plan(start: PathState, times: np.ndarray, targets: np.ndarray, lim: PathLimits, max_step: float) -> Plan:
    """The path from ``start`` through ``targets`` at ``times`` (> 0, increasing), then to rest.

    Joints are planned independently (the bounds are per joint); the braking tail is
    ``max_step`` apart and as long as the slowest joint needs.
    """
    times, targets = _subdivide(start.q, np.asarray(times, dtype=float), np.asarray(targets, dtype=float), max_step)
    wanted = _command_velocities(start.q, times, targets)
    dts = np.diff(times, prepend=0.0).tolist()
    n, nj = targets.shape
    qs, vs, tails = np.empty((n, nj)), np.empty((n, nj)), []
    clamped = np.zeros(n, dtype=bool)
    yielded = np.zeros(n, dtype=bool)
    for j in range(nj):
        jl = _JointLimits.of(lim, j)
        q, v, a = float(start.q[j]), float(start.v[j]), float(start.a[j])
        tq, tv = targets[:, j].tolist(), wanted[:, j].tolist()
        for k, dt in enumerate(dts):
            # correction toward the point: the predicted end error over TRACKING_TIME (no faster than
            # over this segment), capped so a far point is approached at a speed from which the joint
            # can stop on it
            err = q + (v + tv[k]) * 0.5 * dt - tq[k]
            corr = min(abs(err) / max(dt, TRACKING_TIME), math.sqrt(jl.a * abs(err)))
            want = tv[k] - math.copysign(corr, err)
            u, c, y = jl.step(q, v, a, dt, want, True)
            clamped[k] |= c
            yielded[k] |= y
            q, v, a = jl.advance(q, v, u, dt), u, (u - v) / dt
            qs[k, j], vs[k, j] = q, v
        tails.append(jl.brake(q, v, a, max_step, dts[-1]))
    m = max(len(t[0]) for t in tails)
    if m == 0:
        return Plan(times, qs, vs, int(clamped.sum()), int(yielded.sum()))
    tail_q = np.empty((m, nj))
    tail_v = np.zeros((m, nj))
    tail_yield = 0
    for j, (tq, tv, ty) in enumerate(tails):
        tail_q[:, j] = tq + [qs[-1, j] if not tq else tq[-1]] * (m - len(tq))
        tail_v[: len(tv), j] = tv
        tail_yield += ty
    return Plan(
        np.concatenate([times, times[-1] + max_step * np.arange(1, m + 1)]),
        np.vstack([qs, tail_q]),
        np.vstack([vs, tail_v]),
        int(clamped.sum()),
        int(yielded.sum()) + tail_yield,
    )


def brake(start: PathState, lim: PathLimits, step: float) -> Plan:
    """Knots ``step`` apart that bring ``start`` to rest inside the limits (empty only if at rest and
    not accelerating).

    A start at rest whose acceleration the jerk limit lets drop to 0 in one step (``_JointLimits.brake``:
    settled) still gets one knot, holding it, ``step`` later: that step to 0 is judged over the segment
    it begins, and without this knot the caller's next one (a hold, ``min_point_spacing`` later) would
    decide that segment's length and with it the jerk.
    """
    nj = len(start.q)
    tails = [
        _JointLimits.of(lim, j).brake(float(start.q[j]), float(start.v[j]), float(start.a[j]), step) for j in range(nj)
    ]
    m = max(len(t[0]) for t in tails)
    if m == 0 and np.any(np.asarray(start.a) != 0.0):
        m = 1  # at rest, still accelerating: hold one step (the loop below keeps q, v = 0)
    pos = np.tile(np.asarray(start.q, dtype=float), (m, 1))
    vel = np.zeros((m, nj))
    for j, (tq, tv, _) in enumerate(tails):
        if tq:
            pos[: len(tq), j] = tq
            pos[len(tq) :, j] = tq[-1]
            vel[: len(tv), j] = tv
    return Plan(step * np.arange(1, m + 1), pos, vel, 0, sum(t[2] for t in tails))


def sample(times: np.ndarray, positions: np.ndarray, velocities: np.ndarray, tau: float):
    """(q, v, a) at ``tau`` on the path with knots ``times`` (first 0), ``positions``, ``velocities``.

    Before the start: the start; after the end (or ``END_TOL`` before it): at rest at the last knot.
    """
    if tau >= times[-1] - END_TOL:
        z = np.zeros(positions.shape[1])
        return positions[-1].copy(), z, z.copy()
    tau = max(tau, 0.0)
    k = max(int(np.searchsorted(times, tau, side="right")), 1) - 1
    dt = times[k + 1] - times[k]
    acc = (velocities[k + 1] - velocities[k]) / dt
    s = tau - times[k]
    return positions[k] + velocities[k] * s + 0.5 * acc * s * s, velocities[k] + acc * s, acc


# ---------------------------------------------------------------------- internals
def _subdivide(q0: np.ndarray, times: np.ndarray, targets: np.ndarray, max_step: float):
    """Split segments longer than ``max_step`` (targets interpolated linearly between points)."""
    t_prev = np.concatenate([[0.0], times[:-1]])
    pieces = np.maximum(np.ceil((times - t_prev) / max_step - 1e-9).astype(int), 1)
    if np.all(pieces == 1):
        return times, targets
    p_prev = np.vstack([q0[None, :], targets[:-1]])
    ts, ps = [], []
    for k, m in enumerate(pieces):
        f = np.arange(1, m + 1) / m
        ts.append(t_prev[k] + f * (times[k] - t_prev[k]))
        ps.append(p_prev[k][None, :] + f[:, None] * (targets[k] - p_prev[k])[None, :])
    return np.concatenate(ts), np.vstack(ps)


def _command_velocities(q0: np.ndarray, times: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The command's own velocity at each of its points (finite differences of its points).

    Interior points: the three-point derivative (exact for a quadratic); the last point:
    the last segment's velocity (the braking tail follows). The first point uses the
    segment from the start only when the command has no second point.
    """
    n = len(times)
    if n == 1:
        return ((targets[0] - q0) / times[0])[None, :]
    dt = np.diff(times)[:, None]
    w = np.diff(targets, axis=0) / dt  # (n-1, J) segment velocities between the command's points
    d = np.empty_like(targets)
    d[0] = w[0]
    d[-1] = w[-1]
    if n > 2:
        d[1:-1] = (w[:-1] * dt[1:] + w[1:] * dt[:-1]) / (dt[:-1] + dt[1:])
    return d


@dataclass(frozen=True)
class _JointLimits:
    """One joint's bounds as floats (the planner runs per joint in plain Python: 7-element numpy
    operations cost more than the arithmetic they do)."""

    lo: float
    hi: float
    v: float
    a: float
    j: float

    @classmethod
    def of(cls, lim: PathLimits, i: int) -> _JointLimits:
        return cls(float(lim.lower[i]), float(lim.upper[i]), float(lim.velocity[i]), float(lim.acceleration[i]),
                   float(lim.jerk[i]))  # fmt: skip

    def step(self, q: float, v: float, a: float, dt: float, want: float, soft: bool) -> tuple[float, bool, bool]:
        """End velocity of one segment: ``want`` moved into the soft (jerk), then the hard interval.

        Returns (velocity, a bound changed it, a hard bound overrode the jerk limit).
        """
        u = want
        lo_j = hi_j = None
        if soft and self.j < math.inf:
            jdt = self.j * dt
            lo_j, hi_j = v + dt * (a - jdt), v + dt * (a + jdt)
            u = min(max(u, lo_j), hi_j)
            # speeding up by x = u - v gives a = x / dt; easing that off takes a^2 / (2 j) more
            # velocity: v + x + x^2 / (2 j dt^2) <= v_max, solved for x (and the same downward)
            jt2 = jdt * dt
            up = jt2 * (math.sqrt(1.0 + 2.0 * max(self.v - v, 0.0) / jt2) - 1.0)
            down = jt2 * (math.sqrt(1.0 + 2.0 * max(self.v + v, 0.0) / jt2) - 1.0)
            u = min(max(u, v - down), v + up)
        # hard: velocity, acceleration, and the braking bound toward both position limits
        adt = self.a * dt
        lo = max(-self.v, v - adt, -_toward_bound(q - self.lo, -v, dt, self.a))
        hi = min(self.v, v + adt, _toward_bound(self.hi - q, v, dt, self.a))
        if lo <= hi:
            u = min(max(u, lo), hi)
        else:  # only by rounding at a bound: decelerate at a_max (inside the interval by induction)
            u = v - math.copysign(min(adt, abs(v) + self.v), v)
        clamped = abs(u - want) > CLAMP_TOL
        yielded = lo_j is not None and (u < lo_j - CLAMP_TOL or u > hi_j + CLAMP_TOL)
        return u, clamped, yielded

    def advance(self, q: float, v: float, u: float, dt: float) -> float:
        # the bounds keep q inside; the clip only removes rounding
        return min(max(q + (v + u) * 0.5 * dt, min(self.lo, q)), max(self.hi, q))

    def brake(self, q: float, v: float, a: float, step: float, last: float | None = None
              ) -> tuple[list[float], list[float], int]:  # fmt: skip
        """Positions and velocities ``step`` apart that bring the joint to rest (empty if at rest).

        Discrete jerk-limited braking, ``s = j_max * step`` being the most the acceleration may
        change per step (down to 0 at rest, too). Each step lands on zero velocity if it can
        (in one step, or set up to land in the next); otherwise it takes the acceleration,
        within ``s`` of the last, from which easing off at ``s`` per step ends at rest: the
        solution of ``v + a T / 2 + a |a| / (2 j) = 0`` (the continuous switching curve with
        the discrete step's correction). Without a jerk limit it brakes at a_max. A hard bound
        (a position limit) overrides the jerk limit (counted).
        """
        qs: list[float] = []
        vs: list[float] = []
        yielded = 0
        jerk = self.j < math.inf
        s = self.j * step if jerk else 2.0 * self.a
        n_soft = math.ceil(4.0 * (abs(v) / self.a + 2.0 * self.a / min(s, self.a) * step) / step) + 8
        # at rest but still accelerating harder than the jerk limit lets it stop (over the segment that
        # got it there): move on a little and land again
        settled = self.j * min(step, last if last is not None else step) + 1e-12
        for i in range(n_soft + math.ceil(self.v / (self.a * step)) + 2):
            if v == 0.0 and (not jerk or abs(a) <= settled or (i > 0 and abs(a) <= s + 1e-12)):
                break
            soft = i < n_soft
            lo, hi = max(a - s, -self.a), min(a + s, self.a)
            land = -v / step
            if lo <= land <= hi and abs(land) <= s:
                acc = land  # the last step
            elif not (soft and jerk):
                acc = max(min(land, self.a), -self.a)
            else:
                # land next step: |v'/T| <= s and |v'/T + a'| <= s with v' = v + a' T
                w = v / step
                lo2, hi2 = max(lo, -w - s, (-w - s) / 2.0), min(hi, -w + s, (-w + s) / 2.0)
                if lo2 <= hi2:
                    acc = 0.5 * (lo2 + hi2)
                else:
                    target = -math.copysign(self.j * (math.sqrt(0.25 * step * step + 2.0 * abs(v) / self.j)
                                                      - 0.5 * step), v)  # fmt: skip
                    acc = min(max(target, lo), hi)
            want = v + acc * step
            u, _, y = self.step(q, v, a, step, want, False)
            yielded += int(y or not soft or abs(u - want) > CLAMP_TOL)
            q, v, a = self.advance(q, v, u, step), u, (u - v) / step
            if abs(v) < 1e-15:
                v = 0.0
            qs.append(q)
            vs.append(v)
        return qs, vs, yielded


def _toward_bound(room: float, v: float, dt: float, amax: float) -> float:
    """Largest end velocity ``u`` for a joint ``room`` below its bound, moving at ``v``.

    - ``u >= 0``: the end position keeps the braking distance, ``u^2 <= 2 a (room - (v + u) dt / 2)``;
    - ``u < 0`` after ``v > 0`` (turning back inside the segment): the turning point
      ``v^2 / (2 |acc|)`` stays within ``room``: ``u <= v - v^2 dt / (2 room)``.
    Turning back is only needed when even ``u = 0`` would end past the bound.
    """
    room = max(room, 0.0)
    half = 0.5 * amax * dt
    arg = half * half + 2.0 * amax * (room - 0.5 * v * dt)
    if arg >= 0.0:
        u = math.sqrt(arg) - half
        if u >= 0.0:
            return u
    return v - v * v * dt / (2.0 * room) if room > 0.0 else v - amax * dt
