"""The ruckig-based jerk-limited filter alone: limits held, bad targets braked, bad limits refused."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wam_ros.control.jerk_limited_filter import JerkLimitedFilter

V, A, J = np.array([2.0, 1.0]), np.array([4.0, 2.0]), np.array([40.0, 20.0])
DT = 0.01
TOL = 1e-6


def _run(filt: JerkLimitedFilter, targets):
    states = [filt.state]
    for tp, tv in targets:
        states.append(filt.update(tp, tv))
    p = np.array([s.position for s in states])
    v = np.array([s.velocity for s in states])
    a = np.array([s.acceleration for s in states])
    return p, v, a


def _assert_within_limits(p, v, a):
    assert np.all(np.isfinite(p)) and np.all(np.isfinite(v)) and np.all(np.isfinite(a))
    assert np.all(np.abs(v) <= V * (1 + TOL))
    assert np.all(np.abs(a) <= A * (1 + TOL))
    jerk = np.abs(np.diff(a, axis=0)) / DT
    assert np.all(jerk <= J * (1 + 1e-3))


def test_step_target_is_reached_within_limits():
    filt = JerkLimitedFilter(V, A, J, DT, ["a", "b"])
    p, v, a = _run(filt, [(np.array([1.0, -0.5]), None)] * 300)
    _assert_within_limits(p, v, a)
    np.testing.assert_allclose(p[-1], [1.0, -0.5], atol=1e-9)
    # the step itself is far beyond one tick of motion: the filter, not the target, set the pace
    assert np.max(np.abs(np.diff(p, axis=0))) <= np.max(V) * DT * (1 + TOL)


def test_non_finite_target_brakes_that_joint_and_counts_an_error():
    filt = JerkLimitedFilter(V, A, J, DT)
    _run(filt, [(np.array([5.0, 5.0]), None)] * 50)  # get moving
    moving = filt.state.velocity.copy()
    assert np.all(np.abs(moving) > 0.1)
    p, v, a = _run(filt, [(np.array([math.nan, 1.0]), None)] * 200)
    _assert_within_limits(p, v, a)
    assert filt.errors == 200 and "non-finite" in filt.last_error
    np.testing.assert_allclose(v[-1], 0.0, atol=1e-9)  # joint 0 braked to rest, no jump ...
    assert np.max(np.abs(np.diff(v[:, 0]))) <= A[0] * DT * (1 + TOL)
    assert np.all(np.diff(p[:, 0]) >= -1e-12)  # ... never reversing (braking, not seeking a position)
    np.testing.assert_allclose(p[-1, 1], 1.0, atol=1e-9)  # joint 1 still tracked its finite target


def test_target_velocity_beyond_limit_is_clipped_not_refused():
    filt = JerkLimitedFilter(V, A, J, DT)
    p, v, a = _run(filt, [(np.array([0.1 * k, 0.1 * k]), np.array([10.0, -10.0])) for k in range(100)])
    _assert_within_limits(p, v, a)
    assert filt.errors == 0


@pytest.mark.parametrize("bad", [math.inf, 0.0, -1.0, math.nan])
def test_missing_or_bad_limit_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="joint 'b' has jerk limit"):
        JerkLimitedFilter(V, A, [40.0, bad], DT, ["a", "b"])
