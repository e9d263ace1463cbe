"""Independent checks of what the safety bridge may send (shared by the safety tests).

An output is judged the way joint_trajectory_controller executes it: the cubic Hermite
through consecutive knots (time, position, velocity), starting from the reference the
controller follows when the output arrives (the output's start state). Velocity,
acceleration and jerk are computed from those cubics here, not taken from the
planner, so a bug in the planner's own bookkeeping cannot hide a violation.
"""

from __future__ import annotations

import numpy as np

from wam_ros.safety.checks import SafetyLimits
from wam_ros.safety.supervisor import Output

TOL = 1e-7
SAMPLES = 8  # per segment, for the position envelope


def hermite(out: Output) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Knot times t (first 0), positions Q, velocities V and the cubic coefficients c2, c3 per segment."""
    traj = out.trajectory
    assert traj.velocities is not None, "outputs carry velocities (without them JTC interpolates linearly)"
    t = np.concatenate([[0.0], traj.times])
    q = np.vstack([out.start_position[None, :], traj.positions])
    v = np.vstack([out.start_velocity[None, :], traj.velocities])
    dt = np.diff(t)[:, None]
    c2 = (3 * (q[1:] - q[:-1]) - (2 * v[:-1] + v[1:]) * dt) / dt**2
    c3 = (2 * (q[:-1] - q[1:]) + (v[:-1] + v[1:]) * dt) / dt**3
    return t, q, v, c2, c3


def widened(out: Output, lim: SafetyLimits) -> tuple[np.ndarray, np.ndarray]:
    """The soft limits, widened only by where ``out`` starts and its braking distance (v^2 / 2a)."""
    q0, v0 = out.start_position, out.start_velocity
    brake = 0.5 * v0 * v0 / lim.acceleration
    return (np.minimum(lim.lower, q0 - np.where(v0 < 0, brake, 0.0)),
            np.maximum(lim.upper, q0 + np.where(v0 > 0, brake, 0.0)))  # fmt: skip


def assert_output_safe(
    out: Output, lim: SafetyLimits, jerk: bool = True, bounds: tuple[np.ndarray, np.ndarray] | None = None
) -> dict[str, float]:
    """Assert ``out`` as executed stays inside the limits; returns the peak ratios (for reports).

    ``jerk``: also assert the jerk limit (it may yield where a position bound binds: docs).
    ``bounds``: the position bounds of the chain of outputs this one continues (it begins with a
    stretch of the previous one, planned inside that one's bounds); default: its own, ``widened``.
    """
    traj = out.trajectory
    assert traj.joint_names == lim.joint_names
    for arr in (traj.positions, traj.times, out.start_position, out.start_velocity):
        assert np.all(np.isfinite(arr)), f"non-finite output in {out.kind}"
    assert traj.times[0] > 0 and np.all(np.diff(traj.times) > 0)
    assert np.all(traj.positions <= lim.hard_upper + TOL) and np.all(traj.positions >= lim.hard_lower - TOL)
    if out.kind == "hold":
        assert traj.num_points == 1
        return {}
    t, q, v, c2, c3 = hermite(out)
    dt = np.diff(t)[:, None]
    q0 = out.start_position
    lo, hi = widened(out, lim) if bounds is None else bounds
    lo, hi = lo - TOL, hi + TOL
    tau = np.linspace(0.0, 1.0, SAMPLES + 1)[None, :, None] * dt[:, None, :]
    pos = q[:-1, None, :] + v[:-1, None, :] * tau + c2[:, None, :] * tau**2 + c3[:, None, :] * tau**3
    assert np.all(pos >= lo) and np.all(pos <= hi), "position outside the soft limits"
    # velocity: a quadratic per segment, extreme at an end or at its vertex
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = np.where(np.abs(c3) > 0, -c2 / (3 * c3), 0.0)
    vertex = np.clip(np.nan_to_num(vertex), 0.0, dt)
    v_vertex = v[:-1] + 2 * c2 * vertex + 3 * c3 * vertex**2
    v_peak = np.max(np.abs(np.vstack([v, v_vertex])) / lim.velocity)
    assert v_peak <= 1 + TOL + TOL / np.min(lim.velocity), f"velocity {v_peak:.4f}x the limit"
    # acceleration: linear per segment, extreme at its ends
    a_start, a_end = 2 * c2, 2 * c2 + 6 * c3 * dt
    a_peak = np.max(np.maximum(np.abs(a_start), np.abs(a_end)) / lim.acceleration)
    # 1e-4: float rounding of the planned accelerations (a real overshoot shows at percent level)
    assert a_peak <= 1 + 1e-4, f"acceleration {a_peak:.6f}x the limit"
    assert np.allclose(v[-1], 0.0, atol=1e-12), "output does not end at rest"
    ratios = {"velocity": float(v_peak), "acceleration": float(a_peak)}
    finite = np.isfinite(lim.jerk)
    if finite.any():
        a_prev = out.start_acceleration if out.start_acceleration is not None else np.zeros_like(q0)
        # the acceleration steps at each knot (from the start state's; to 0 at rest after the end), each
        # spread over the segment it begins (the last over the last segment)
        steps = np.abs(np.vstack([a_start[:1] - a_prev[None, :], a_start[1:] - a_end[:-1], a_end[-1:]]))
        ramp = np.vstack([dt, dt[-1:]])
        j_ratio = np.max(np.where(finite, steps / (ramp * np.where(finite, lim.jerk, 1.0)), 0.0))
        within = np.max(np.where(finite, np.abs(6 * c3) / np.where(finite, lim.jerk, 1.0), 0.0))
        ratios["jerk"] = float(max(j_ratio, within))
        if jerk:
            assert ratios["jerk"] <= 1 + 1e-6, f"jerk {ratios['jerk']:.4f}x the limit"
    return ratios


def sample_path(out: Output, now: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Position, velocity, acceleration of ``out`` as executed (Hermite cubics) at ``now``."""
    traj = out.trajectory
    tau = now - traj.stamp
    if out.kind == "hold" or traj.velocities is None:
        q = traj.positions[0] if tau >= traj.times[0] else out.start_position
        return q.copy(), np.zeros_like(q), np.zeros_like(q)
    t, q, v, c2, c3 = hermite(out)
    if tau >= t[-1]:
        return q[-1].copy(), np.zeros_like(q[-1]), np.zeros_like(q[-1])
    k = max(int(np.searchsorted(t, max(tau, 0.0), side="right")), 1) - 1
    s = max(tau, 0.0) - t[k]
    return (
        q[k] + v[k] * s + c2[k] * s**2 + c3[k] * s**3,
        v[k] + 2 * c2[k] * s + 3 * c3[k] * s**2,
        2 * c2[k] + 6 * c3[k] * s,
    )
