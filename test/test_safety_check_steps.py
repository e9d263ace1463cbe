"""The named steps of SafetyChecker.check, one by one (issue 16): each refusal, clamp and note on its own.

test_safety_checks.py judges whole commands; these tests pin what each step decides, so a change to one
step shows up here by name. Pure numpy, no ROS.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from wam_ros.robot.model import RobotModel
from wam_ros.robot.trajectory import Trajectory
from wam_ros.safety.checks import (
    CheckResult,
    SafetyChecker,
    SafetyConfig,
    Verdict,
    _skip_close_points,
)

ROBOT = RobotModel.load()
NAMES = ROBOT.actuated_joints
J = len(NAMES)
NOW = 50.0
Q = np.array([0.1, -0.3, 0.5, 0.0, 0.2, -0.1, 0.02])
ZERO = np.zeros(J)


@pytest.fixture
def checker():
    return SafetyChecker(ROBOT)


def ramp(delta: float = 0.001, n: int = 4, dt: float = 0.05, stamp: float = 0.0, names=NAMES) -> Trajectory:
    pos = Q[None, :] + np.linspace(0, 1, n + 1)[1:, None] * np.full(J, delta)[None, :]
    return Trajectory(stamp, tuple(names), dt * np.arange(1, n + 1), pos)


# ---------------------------------------------------------------------- _malformed
def test_malformed_accepts_a_well_formed_command(checker):
    assert checker._malformed(ramp(), Q, Q) is None


def test_malformed_checks_the_size_before_anything_else():
    small = SafetyChecker(ROBOT, SafetyConfig(max_command_points=3))
    cmd = ramp(n=4)
    cmd.positions[0, 0] = math.nan  # also non-finite: the size is what is reported
    assert small._malformed(cmd, Q, Q) == "command has 4 points, more than max_command_points = 3"


def test_malformed_names_each_structural_problem(checker):
    assert checker._malformed(ramp(stamp=math.nan), Q, Q) == "non-finite value: header stamp or time_from_start"
    dup = ramp(names=(NAMES[0], *NAMES[:-1]))
    assert checker._malformed(dup, Q, Q).startswith("malformed command: duplicate joint names")
    unknown = ramp(names=(*NAMES[:-1], "bogus"))
    assert checker._malformed(unknown, Q, Q).startswith("unknown or non-commandable joint(s) ['bogus']")
    few = Trajectory(0.0, NAMES[:-1], [0.05], Q[None, :-1])
    assert checker._malformed(few, Q, Q) == f"command is missing joint(s) {[NAMES[-1]]}"


def test_malformed_names_non_finite_numbers_wherever_they_are(checker):
    cmd = ramp()
    cmd.positions[1, 2] = math.inf
    assert checker._malformed(cmd, Q, Q) == f"non-finite value: non-finite positions for joint(s) {[NAMES[2]]}"
    bad = Q.copy()
    bad[0] = math.nan
    assert checker._malformed(ramp(), bad, Q) == "non-finite measured position"
    assert checker._malformed(ramp(), Q, bad) == "non-finite start reference"


# ---------------------------------------------------------------------- _future_points
@pytest.mark.parametrize(
    ("stamp", "reason"),
    [
        (NOW - 0.6, "stale command: stamp 0.600s old"),
        (NOW + 1.5, "command stamp 1.500s in the future"),
        (NOW - 10.0 + 0.4, "stale command: stamp 9.600s old"),
    ],
)
def test_future_points_drops_stale_and_far_future_stamps(checker, stamp, reason):
    res = checker._future_points(ramp(stamp=stamp), NOW)
    assert isinstance(res, CheckResult) and res.verdict is Verdict.DROPPED and res.reasons == (reason,)


def test_future_points_drops_commands_entirely_in_the_past_or_without_speed(checker):
    res = checker._future_points(ramp(stamp=NOW - 0.3), NOW)  # last point at -0.1 s
    assert res == CheckResult(Verdict.DROPPED, ("stale command: all points are in the past",))
    checker.speed_scaling = 0.005
    res = checker._future_points(ramp(), NOW)
    assert res == CheckResult(Verdict.DROPPED, ("speed_scaling 0.005 < 0.01: no motion",))


def test_future_points_reorders_joints_and_times_relative_to_now(checker):
    perm = np.arange(J)[::-1]
    cmd = ramp()
    reversed_cmd = Trajectory(0.0, tuple(NAMES[i] for i in perm), cmd.times, cmd.positions[:, perm])
    times, req, reasons = checker._future_points(reversed_cmd, NOW)
    np.testing.assert_array_equal(req, cmd.positions)
    np.testing.assert_allclose(times, cmd.times)
    assert reasons == []


def test_future_points_skips_past_points_and_stretches_time_by_speed_scaling(checker):
    checker.speed_scaling = 0.5
    cmd = ramp(n=6, stamp=NOW - 0.12)  # points at -0.07, -0.02, 0.03, 0.08, 0.13, 0.18 s
    times, req, reasons = checker._future_points(cmd, NOW)
    np.testing.assert_allclose(times, (cmd.times[2:] - 0.12) / 0.5)
    np.testing.assert_array_equal(req, cmd.positions[2:])
    assert reasons == ["skipped 2 point(s) already in the past"]


# ---------------------------------------------------------------------- _skip_close_points
def test_skip_close_points_keeps_well_spaced_points_untouched():
    times, req = np.array([0.01, 0.02, 0.05]), np.arange(6.0).reshape(3, 2)
    out_t, out_q, note = _skip_close_points(times, req, 0.01)
    assert out_t is times and out_q is req and note is None


def test_skip_close_points_drops_close_points_but_keeps_the_last():
    times, req = np.array([0.005, 0.02, 0.025, 0.035]), np.arange(8.0).reshape(4, 2)
    out_t, out_q, note = _skip_close_points(times, req, 0.01)
    np.testing.assert_array_equal(out_t, [0.02, 0.035])
    np.testing.assert_array_equal(out_q, req[[1, 3]])
    assert note == "skipped 2 point(s) closer than 10 ms to the one before"
    assert times[0] == 0.005, "the caller's array is not modified"


def test_skip_close_points_moves_a_single_point_due_now_to_the_spacing():
    out_t, _, note = _skip_close_points(np.array([0.002]), np.ones((1, 2)), 0.01)
    np.testing.assert_array_equal(out_t, [0.01])
    assert note == "skipped 0 point(s) closer than 10 ms to the one before"


# ---------------------------------------------------------------------- position limits
def test_beyond_position_limits_allows_one_margin_past_the_urdf_limit(checker):
    lim = checker.limits
    req = np.vstack([Q, Q])
    req[1, 1] = lim.hard_upper[1] + lim.margin[1]
    assert checker._beyond_position_limits(req) is None
    req[1, 1] += 1e-6
    req[0, 4] = lim.hard_lower[4] - lim.margin[4] - 1e-6
    assert checker._beyond_position_limits(req) == (
        f"position beyond the URDF limit (+ margin) for joint(s) {sorted([NAMES[1], NAMES[4]])}"
    )


def test_clamp_positions_clips_into_the_bounds_and_says_which_joints(checker):
    lo, hi = Q - 0.1, Q + 0.1
    req = np.vstack([Q, Q + 0.05])
    target, note = checker._clamp_positions(req, lo, hi)
    np.testing.assert_array_equal(target, req)
    assert note is None
    req[1, 3] = Q[3] + 0.5
    target, note = checker._clamp_positions(req, lo, hi)
    assert target[1, 3] == hi[3] and req[1, 3] == Q[3] + 0.5
    assert note == f"clamped positions to the safety margin for joint(s) {[NAMES[3]]}"


# ---------------------------------------------------------------------- velocity reject
def test_too_fast_rejects_above_the_reject_ratio_only(checker):
    vmax = checker.limits.velocity
    times = np.array([0.1, 0.2])
    target = np.vstack([Q, Q])
    target[1, 2] += 1.9 * vmax[2] * 0.1  # 1.9x the limit: clamped later, not refused here
    assert checker._too_fast(times, target) is None
    target[1, 2] = Q[2] + 2.5 * vmax[2] * 0.1
    assert checker._too_fast(times, target) == f"velocity 2.5x the limit for joint {NAMES[2]} (reject above 2.0x)"


def test_too_fast_has_nothing_to_judge_in_a_single_point(checker):
    assert checker._too_fast(np.array([0.01]), (Q + 100.0)[None, :]) is None


# ---------------------------------------------------------------------- tracking error
def test_tracking_error_allows_what_the_velocity_limit_reaches_plus_the_tolerance(checker):
    reach = checker.limits.velocity * 0.1 + checker.config.max_tracking_error
    target = (Q + 0.99 * reach)[None, :]
    assert checker._tracking_error(np.array([0.1]), target, Q) is None
    target = Q.copy()[None, :]
    target[0, 5] = Q[5] - reach[5] - 0.01
    assert checker._tracking_error(np.array([0.1]), target, Q) == (
        f"first point {reach[5] + 0.01:.3f} from the measured position of {NAMES[5]} (allowed {reach[5]:.3f})"
    )


# ---------------------------------------------------------------------- plan the path
def test_plan_path_from_rest_follows_the_points_and_ends_at_rest(checker):
    times = np.array([0.05, 0.1])
    target = np.vstack([Q + 0.0005, Q + 0.001])
    lo, hi = checker.effective_limits(Q, ZERO)
    path, v0, a0, reasons = checker._plan_path(Q, ZERO, None, times, target, lo, hi)
    np.testing.assert_array_equal(v0, ZERO)
    np.testing.assert_array_equal(a0, ZERO)
    assert reasons == []
    assert np.all(path.velocities[-1] == 0) and path.times[0] > 0
    assert np.all(path.positions >= lo) and np.all(path.positions <= hi)


def test_plan_path_clips_an_infeasible_start_and_reads_non_finite_acceleration_as_zero(checker):
    q = Q.copy()
    q[0] = checker.limits.upper[0] - 0.01
    v = ZERO.copy()
    v[0] = 5 * checker.limits.velocity[0]  # above the limit
    a = np.full(J, math.nan)
    lo, hi = checker.effective_limits(q, ZERO)  # bounds that do not leave room to brake
    path, v0, a0, reasons = checker._plan_path(q, v, a, np.array([0.1]), q[None, :], lo, hi)
    assert v0[0] < v[0] and v0[0] <= checker.limits.velocity[0]
    np.testing.assert_array_equal(a0, ZERO)
    assert reasons[0] == "start velocity outside limits/braking distance: clipped"
    assert np.all(path.positions[:, 0] <= hi[0] + 1e-9)


# ---------------------------------------------------------------------- Cartesian box
def test_leaves_box_only_with_a_box_configured(checker):
    positions = np.vstack([Q, Q + 0.001])
    assert checker._leaves_box(positions) is None
    x, y, z = ROBOT.fk(Q[:6])[:3, 3]
    roomy = SafetyChecker(ROBOT, SafetyConfig(cartesian_box=(x - 1, x + 1, y - 1, y + 1, z - 1, z + 1)))
    assert roomy._leaves_box(positions) is None
    tight = SafetyChecker(ROBOT, SafetyConfig(cartesian_box=(x - 1, x + 1, y - 1, y + 1, z + 0.01, z + 1)))
    reason = tight._leaves_box(positions)
    assert reason.startswith(f"{ROBOT.ee_link} at (") and reason.endswith("at point 0")


# ---------------------------------------------------------------------- the steps compose into check
def test_check_reports_the_steps_notes_in_order(checker):
    """Past points skipped, a position clamped, the start velocity clipped: check's reasons are the steps'."""
    lim = checker.limits
    q = Q.copy()
    q[0] = lim.upper[0] - 0.02
    cmd = ramp(n=6, stamp=NOW - 0.12)
    cmd.positions[:, 0] = lim.upper[0] + 0.01  # inside the margin band: clamped to the soft limit
    v = ZERO.copy()
    v[0] = -5 * lim.velocity[0]
    res = checker.check(cmd, NOW, q, q, v)
    assert res.verdict is Verdict.CLAMPED
    assert res.reasons[:3] == (
        "skipped 2 point(s) already in the past",
        f"clamped positions to the safety margin for joint(s) {[NAMES[0]]}",
        "start velocity outside limits/braking distance: clipped",
    )
    np.testing.assert_array_equal(res.first_requested, cmd.positions[2])
