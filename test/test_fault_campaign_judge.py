"""The fault campaign's judge (wam_ros.apps.fault_campaign.judge) catches what it must, without ROS.

Outputs are built the way the safety bridge builds them (points with the mean of the adjacent
segment velocities, ending at rest), then spoiled: a judge that passes everything would make the
campaign tests (test_fault_campaign.py) meaningless.
"""

from __future__ import annotations

import numpy as np
import pytest

from wam_ros.apps.fault_campaign import Sent, judge, segment_velocities
from wam_ros.robot.model import RobotModel

ROBOT = RobotModel.load()
J = len(ROBOT.actuated_joints)
LIM = ROBOT.limits()
Q0 = np.array([0.0, 0.3, 0.0, 0.5, 0.0, 0.4, 0.02])


def output(t: float, start: np.ndarray, seg_v: np.ndarray, times: np.ndarray, stamp_clock: float | None = None) -> Sent:
    """An output sent at ``t`` from ``start``: segments with velocities ``seg_v`` ending at ``times``."""
    dt = np.diff(np.concatenate([[0.0], times]))
    pos = start + np.cumsum(seg_v * dt[:, None], axis=0)
    knot_v = np.zeros_like(seg_v)
    knot_v[:-1] = 0.5 * (seg_v[:-1] + seg_v[1:])
    return Sent(t, t, times, pos, True, knot_v)


def js_at(ts: list[float], q: np.ndarray) -> list[tuple[float, np.ndarray, float, float]]:
    """Joint states (wall receive, positions, stamp, wall send) with the stamp clock equal to wall time."""
    return [(t, q, t, t) for t in ts]


def ramp(v_end: float, n: int = 5, dt: float = 0.02, joint: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Segment velocities accelerating joint ``joint`` from 0 to ``v_end`` and braking back to rest."""
    up = np.linspace(v_end / n, v_end, n)
    v = np.concatenate([up, up[::-1][1:], [0.0]])
    seg = np.zeros((len(v), J))
    seg[:, joint] = v
    return seg, dt * np.arange(1, len(v) + 1)


def test_a_path_within_the_limits_passes_and_its_peaks_are_measured():
    seg, times = ramp(0.5 * LIM["velocity"][0], n=10, dt=0.05)  # 0.1 rad/s per 0.05 s = 2 rad/s^2 < 4
    m = output(100.0, Q0, seg, times)
    res = judge([m], js_at([99.9, 100.0], Q0), ROBOT, 101.0)
    assert res.violations == []
    assert res.peak_velocity == pytest.approx(0.5, abs=1e-6) and res.peak_velocity_joint == "joint1"
    assert 0.4 < res.peak_acceleration < 1.0


def test_a_velocity_over_the_limit_is_a_violation():
    seg, times = ramp(1.3 * LIM["velocity"][0], n=40, dt=0.05)
    res = judge([output(100.0, Q0, seg, times)], js_at([100.0], Q0), ROBOT, 103.0)
    assert any("velocity" in v and "joint1" in v for v in res.violations), res.violations


def test_a_velocity_step_inside_an_output_is_an_acceleration_violation():
    seg, times = ramp(0.5, n=2, dt=0.02)  # 0.25 rad/s per 0.02 s = 12.5 rad/s^2 > 4
    res = judge([output(100.0, Q0, seg, times)], js_at([100.0], Q0), ROBOT, 101.0)
    assert any("acceleration" in v for v in res.violations), res.violations


def test_a_surge_between_consecutive_outputs_is_caught():
    """The second output continues the first's path (same start) but jumps its velocity (D4's surge)."""
    seg1 = np.zeros((10, J))
    seg1[:-1, 5] = 0.1  # 0.1 rad/s, braked within one 20 ms segment: 5 rad/s^2 against 8
    times = 0.02 * np.arange(1, 11)
    m1 = output(100.0, Q0, seg1, times)
    start2 = Q0 + np.array([0, 0, 0, 0, 0, 0.1 * 0.05, 0])  # where m1 is 50 ms later
    seg2 = seg1.copy()
    seg2[:-1, 5] = 0.5  # 0.4 rad/s more within the first 20 ms segment: 20 rad/s^2 against 8
    seg2[-2, 5] = 0.1
    m2 = output(100.05, start2, seg2, times)
    js = js_at(list(np.arange(99.9, 100.3, 0.01)), Q0)
    res = judge([m1, m2], js, ROBOT, 100.4)
    assert res.peak_acceleration_joint == "joint6" and res.peak_acceleration == pytest.approx(2.5)
    assert any("acceleration" in v for v in res.violations)
    # the same second output without the surge passes
    ok = judge([m1, output(100.05, start2, seg1, times)], js, ROBOT, 100.4)
    assert ok.violations == [], ok.violations


def test_non_finite_out_of_limits_and_jumps_are_violations():
    seg, times = ramp(0.2, n=5)
    good = output(100.0, Q0, seg, times)
    nan = Sent(100.1, 100.1, good.times, np.where(np.arange(J) == 2, np.nan, good.positions), True, None)
    res = judge([good, nan], js_at([100.0], Q0), ROBOT, 101.0)
    assert any("non-finite" in v for v in res.violations)
    far = Q0.copy()
    far[1] = LIM["upper"][1] + 0.1
    res = judge([Sent(100.0, 100.0, np.array([0.05]), far[None, :], True, None)], js_at([100.0], Q0), ROBOT, 101.0)
    assert any("outside its URDF limits" in v for v in res.violations)
    jump = output(100.0, Q0 + np.array([0.4, 0, 0, 0, 0, 0, 0]), seg, times)
    res = judge([jump], js_at([100.0], Q0), ROBOT, 101.0)
    assert any("from the measured position" in v for v in res.violations)
    wrong = Sent(100.0, 100.0, good.times, good.positions, False, None)
    assert any("joint names" in v for v in judge([wrong], js_at([100.0], Q0), ROBOT, 101.0).violations)


def test_a_hold_is_exempt_from_the_acceleration_check_and_its_step_is_reported():
    seg, times = ramp(0.4, n=4, dt=0.05)  # 0.1 rad/s more every 50 ms: 2 rad/s^2
    m1 = output(100.0, Q0, seg, times)
    hold = Sent(100.1, 100.1, np.array([0.01]), Q0[None, :], True, np.zeros((1, J)))  # hold where it started
    res = judge([m1, hold], js_at(list(np.arange(99.9, 100.5, 0.01)), Q0), ROBOT, 100.5)
    assert res.violations == [] and res.holds == 1
    assert res.max_hold_step == pytest.approx(0.05 * (0.1 + 0.2), abs=1e-6)  # two 50 ms segments travelled


def test_segment_velocities_recover_the_first_segment_from_the_point_velocities():
    seg, times = ramp(0.3, n=4)
    m = output(100.0, Q0, seg, times)
    np.testing.assert_allclose(segment_velocities(m, Q0 + 1.0), seg, atol=1e-12)  # start unused: exact


def _hermite_output(stamp: float, times: np.ndarray, q: np.ndarray, v: np.ndarray, seq: int) -> Sent:
    return Sent(stamp, stamp, times, q, True, v, seq, stamp)


def test_stamped_outputs_are_judged_as_the_cubic_hermite_the_controller_executes():
    """The bridge's C1 outputs (stamped with its clock, knots with velocities): a smooth continuation passes,
    the same continuation with a velocity jump at its first knot (a surge) fails, and so does a too-fast path."""
    times = 0.05 * np.arange(1, 9)
    v_joint = 0.2 * np.ones(8)
    v_joint[-1] = 0.0
    v = np.zeros((8, J))
    v[:, 0] = v_joint
    v[-2, 0] = 0.1
    q = Q0 + np.cumsum(np.diff(np.concatenate([[0.0], times]))[:, None] * v, axis=0)
    js = [(100.0 + k * 0.01, Q0, 100.0 + k * 0.01, 100.0 + k * 0.01) for k in range(-10, 60)]
    first = _hermite_output(100.0, times, q, v, 1)
    res = judge([first], js, ROBOT, 101.0)  # from rest at 0.2 rad/s in 50 ms: 4 rad/s^2 (+ cubic shape)
    assert res.peak_velocity_joint == "joint1" and res.peak_velocity == pytest.approx(0.2 / 2.0, rel=0.2)
    from wam_ros.apps.fault_campaign import hermite_at, hermite_knots

    knots = hermite_knots(first, Q0, np.zeros(J))
    q_at, v_at = hermite_at(knots, 100.1)
    smooth = _hermite_output(100.1, times, q_at + (q - Q0), np.vstack([v_at[None, :], v[1:]]), 2)
    ok = judge([first, smooth], js, ROBOT, 101.0)
    surge_v = np.vstack([v_at[None, :] + np.eye(J)[0] * 1.5, v[1:]])
    surge = judge([first, _hermite_output(100.1, times, q_at + (q - Q0), surge_v, 2)], js, ROBOT, 101.0)
    assert surge.peak_acceleration > ok.peak_acceleration * 2 and any("acceleration" in x for x in surge.violations)
    fast = _hermite_output(100.0, times, q * 0 + Q0 + np.outer(times, np.eye(J)[0] * 3.0), v * 15, 1)
    assert any("velocity" in x for x in judge([fast], js, ROBOT, 101.0).violations)
