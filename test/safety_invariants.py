"""Independent checks of what the safety bridge may send (shared by the safety tests).

Recomputes velocities and accelerations from an output's points with plain finite
differences, so a bug in the checker's own bookkeeping cannot hide a violation.
"""

from __future__ import annotations

import numpy as np

from wam_ros.safety.checks import SafetyLimits
from wam_ros.safety.supervisor import Output

TOL = 1e-7


def assert_output_safe(out: Output, lim: SafetyLimits) -> None:
    traj = out.trajectory
    assert traj.joint_names == lim.joint_names
    for arr in (traj.positions, traj.times, out.start_position, out.start_velocity):
        assert np.all(np.isfinite(arr)), f"non-finite output in {out.kind}"
    if traj.velocities is not None:
        assert np.all(np.isfinite(traj.velocities))
        assert np.all(np.abs(traj.velocities) <= lim.velocity * (1 + TOL) + TOL)
    assert traj.times[0] > 0 and np.all(np.diff(traj.times) > 0)
    q0 = out.start_position
    assert np.all(traj.positions <= lim.hard_upper + TOL) and np.all(traj.positions >= lim.hard_lower - TOL)
    if out.kind == "hold":
        assert traj.num_points == 1
        return
    # soft limits, widened only by where the arm already is or its braking distance (v^2 / 2a)
    v0 = out.start_velocity
    brake = 0.5 * v0 * v0 / lim.acceleration
    lo = np.minimum(lim.lower, q0 - np.where(v0 < 0, brake, 0.0)) - TOL
    hi = np.maximum(lim.upper, q0 + np.where(v0 > 0, brake, 0.0)) + TOL
    assert np.all(traj.positions >= lo) and np.all(traj.positions <= hi), "position outside the soft limits"
    t = np.concatenate([[0.0], traj.times])
    p = np.vstack([q0[None, :], traj.positions])
    dt = np.diff(t)[:, None]
    v = np.diff(p, axis=0) / dt
    assert np.all(np.abs(v) <= lim.velocity * (1 + TOL) + TOL), f"velocity {np.max(np.abs(v) / lim.velocity):.3f}x"
    vv = np.vstack([out.start_velocity[None, :], v])
    a = np.diff(vv, axis=0) / dt
    assert np.all(np.abs(a) <= lim.acceleration * (1 + 1e-6) + 1e-6), (
        f"acceleration {np.max(np.abs(a) / lim.acceleration):.3f}x the limit"
    )
    assert np.allclose(v[-1], 0.0, atol=1e-12), "output does not end at rest"


def sample_path(out: Output, now: float) -> tuple[np.ndarray, np.ndarray]:
    """Position and velocity of the piecewise-linear path of ``out`` at ``now`` (np.interp per joint)."""
    traj = out.trajectory
    t = np.concatenate([[0.0], traj.times])
    p = np.vstack([out.start_position[None, :], traj.positions])
    tau = now - traj.stamp
    q = np.array([np.interp(tau, t, p[:, j]) for j in range(p.shape[1])])
    if tau >= t[-1]:
        return q, np.zeros_like(q)
    k = max(int(np.searchsorted(t, tau, side="right")), 1)
    return q, (p[k] - p[k - 1]) / (t[k] - t[k - 1])
