"""SafetyChecker without ROS: what is accepted, clamped, dropped and rejected, and why."""

from __future__ import annotations

import math

import numpy as np
import pytest
from safety_invariants import assert_output_safe

from wam_ros.robot.model import RobotModel
from wam_ros.robot.trajectory import Trajectory
from wam_ros.safety.checks import SafetyChecker, SafetyConfig, SafetyConfigError, Verdict
from wam_ros.safety.supervisor import Output

ROBOT = RobotModel.load()
NAMES = ROBOT.actuated_joints
NOW = 50.0
Q = np.array([0.1, -0.3, 0.5, 0.0, 0.2, -0.1, 0.02])
ZERO = np.zeros(len(NAMES))


@pytest.fixture
def checker():
    return SafetyChecker(ROBOT)


def ramp(delta: np.ndarray, n: int = 10, dt: float = 0.05, stamp: float = 0.0, names=NAMES, start=Q) -> Trajectory:
    """n points from start (exclusive) to start+delta, evenly spaced in time."""
    pos = start[None, :] + np.linspace(0, 1, n + 1)[1:, None] * delta[None, :]
    return Trajectory(stamp, tuple(names), dt * np.arange(1, n + 1), pos)


def check(checker, traj, q=Q, v=ZERO):
    return checker.check(traj, NOW, q, q, v)


def as_output(res) -> Output:
    return Output("command", res.trajectory, "", res.start_position, res.start_velocity)


def smooth(delta: np.ndarray, duration: float = 1.0, dt: float = 0.05, start=Q) -> Trajectory:
    """A minimum-jerk move from start (at rest) to start+delta, sampled every dt."""
    t = dt * np.arange(1, round(duration / dt) + 1)
    s = t / duration
    shape = 10 * s**3 - 15 * s**4 + 6 * s**5
    return Trajectory(0.0, NAMES, t, start[None, :] + shape[:, None] * delta[None, :])


def test_smooth_command_inside_the_limits_is_accepted_followed_and_ends_at_rest(checker):
    d = np.array([0.2, 0.0, -0.1, 0.0, 0.05, 0.0, 0.01])
    cmd = smooth(d)
    res = check(checker, cmd)
    assert res.verdict is Verdict.ACCEPTED and res.reasons == ()
    out = res.trajectory
    assert out.stamp == NOW and out.joint_names == NAMES
    np.testing.assert_allclose(out.times[: cmd.num_points], cmd.times)
    # the command's own velocities are estimated from its points, so the path follows them closely, not exactly
    np.testing.assert_allclose(out.positions[: cmd.num_points], cmd.positions, atol=1e-3)
    assert np.all(out.velocities[-1] == 0), "the path ends at rest"
    assert_output_safe(as_output(res), checker.limits)


def test_long_segments_are_split_and_the_path_ends_at_rest(checker):
    d = np.array([0.01, 0.0, -0.01, 0.0, 0.0, 0.0, 0.0])
    res = check(checker, ramp(d, n=5, dt=0.1))
    assert res.sendable
    out = res.trajectory
    assert np.all(np.diff(np.concatenate([[0.0], out.times])) <= checker.config.stop_step + 1e-12)
    for t in 0.1 * np.arange(1, 6):  # the command's own points stay knots
        assert np.min(np.abs(out.times - t)) < 1e-12
    assert out.num_points > 10 and np.all(out.velocities[-1] == 0)
    assert_output_safe(as_output(res), checker.limits)


def test_reordered_joint_names_give_the_same_output(checker):
    d = np.array([0.02, 0.01, -0.01, 0.0, 0.01, 0.0, 0.001])
    ordered = check(checker, ramp(d))
    perm = [3, 0, 6, 2, 5, 1, 4]
    traj = ramp(d)
    shuffled = Trajectory(0.0, tuple(NAMES[i] for i in perm), traj.times, traj.positions[:, perm])
    res = check(checker, shuffled)
    assert res.sendable and res.trajectory.joint_names == NAMES
    np.testing.assert_allclose(res.trajectory.positions, ordered.trajectory.positions)


def test_controller_joint_order_is_respected(checker):
    order = tuple(reversed(NAMES))
    c = SafetyChecker(ROBOT, joint_names=order)
    q = Q[::-1].copy()
    res = c.check(ramp(np.full(7, 0.001), start=Q), NOW, q, q, ZERO)
    assert res.sendable and res.trajectory.joint_names == order
    same = check(checker, ramp(np.full(7, 0.001), start=Q))
    np.testing.assert_allclose(res.trajectory.positions, same.trajectory.positions[:, ::-1])


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda n, p, t: (n, _set(p, (2, 1), math.nan), t), "non-finite positions for joint(s) ['joint2']"),
        (lambda n, p, t: (n, _set(p, (0, 6), math.inf), t), "non-finite positions"),
        (lambda n, p, t: (n, p, _set(t, (3,), math.nan)), "non-finite"),
        (lambda n, p, t: (("bogus", *n[1:]), p, t), "unknown or non-commandable joint(s) ['bogus']"),
        (lambda n, p, t: ((*n[:6], "gripper_finger_joint_mirror"), p, t), "gripper_finger_joint_mirror"),
        (lambda n, p, t: (n[:6], p[:, :6], t), "missing joint(s) ['gripper_finger_joint']"),
        (lambda n, p, t: (("joint1", *n[:6]), p, t), "duplicate joint names"),
        (lambda n, p, t: (n, p, t[::-1]), "strictly increasing"),
    ],
)
def test_malformed_or_non_finite_commands_are_rejected_with_the_reason(checker, mutate, needle):
    base = ramp(np.full(7, 0.001))
    names, pos, times = mutate(base.joint_names, base.positions.copy(), base.times.copy())
    res = check(checker, Trajectory(0.0, names, times, pos))
    assert res.verdict is Verdict.REJECTED and res.fault and res.trajectory is None
    assert needle in res.reasons[0]


def _set(a: np.ndarray, idx: tuple, value: float) -> np.ndarray:
    a[idx] = value
    return a


def test_non_finite_velocity_field_is_rejected_too(checker):
    traj = ramp(np.full(7, 0.001))
    vel = np.zeros_like(traj.positions)
    vel[1, 4] = -math.inf
    res = check(checker, Trajectory(0.0, NAMES, traj.times, traj.positions, vel))
    assert res.fault and "velocities" in res.reasons[0]


def test_position_near_the_limit_is_clamped_far_beyond_it_rejected(checker):
    upper = ROBOT.limits()["upper"]
    q = Q.copy()
    q[0] = upper[0] - 0.1
    target = q.copy()
    target[0] = upper[0] - 0.01  # inside the 0.05 rad margin band
    traj = Trajectory(0.0, NAMES, [1.0, 2.0], np.vstack([target, target]))
    res = checker.check(traj, NOW, q, q, ZERO)
    assert res.verdict is Verdict.CLAMPED and "safety margin" in res.reasons[0] and "joint1" in res.reasons[0]
    assert np.max(res.trajectory.positions[:, 0]) <= upper[0] - 0.05 + 1e-12
    target[0] = upper[0] + 0.04  # past the URDF limit by less than one margin: still a small violation
    res = checker.check(Trajectory(0.0, NAMES, [1.0, 2.0], np.vstack([target, target])), NOW, q, q, ZERO)
    assert res.verdict is Verdict.CLAMPED and np.max(res.trajectory.positions[:, 0]) <= upper[0] - 0.05 + 1e-12
    target[0] = upper[0] + 0.06
    res = checker.check(Trajectory(0.0, NAMES, [1.0, 2.0], np.vstack([target, target])), NOW, q, q, ZERO)
    assert res.fault and "beyond the URDF limit (+ margin) for joint(s) ['joint1']" in res.reasons[0]


def test_velocity_a_little_over_is_clamped_far_over_is_rejected(checker):
    vmax = checker.limits.velocity[0]
    q = Q.copy()
    v = np.zeros(7)
    v[0] = vmax  # already moving at the limit, so only the velocity (not acceleration) binds
    for ratio, verdict in ((1.5, Verdict.CLAMPED), (3.0, Verdict.REJECTED)):
        d = np.zeros(7)
        d[0] = vmax * ratio * 0.2
        res = checker.check(ramp(d, n=10, dt=0.02), NOW, q, q, v)
        assert res.verdict is verdict, res.reasons
    res = checker.check(ramp(np.eye(7)[0] * vmax * 1.5 * 0.2, n=10, dt=0.02), NOW, q, q, v)
    assert_output_safe(as_output(res), checker.limits)
    res = checker.check(ramp(np.eye(7)[0] * vmax * 3 * 0.2, n=10, dt=0.02), NOW, q, q, v)
    assert "joint1" in res.reasons[0] and "velocity" in res.reasons[0]


def test_acceleration_steps_are_smoothed_not_rejected(checker):
    d = np.zeros(7)
    d[1] = 0.3  # 1.5 rad/s from rest in the first 20 ms: far above 4 rad/s^2
    res = check(checker, ramp(d, n=10, dt=0.02))
    assert res.verdict is Verdict.CLAMPED and "acceleration" in res.reasons[-1]
    assert_output_safe(as_output(res), checker.limits)


def test_first_point_far_from_the_measured_position_is_a_tracking_fault(checker):
    measured = Q.copy()
    measured[3] += 0.5
    traj = ramp(np.full(7, 0.001))
    res = checker.check(traj, NOW, measured, Q, ZERO)
    assert res.fault and "measured position of joint4" in res.reasons[0]


@pytest.mark.parametrize(
    ("stamp", "times", "needle"),
    [(NOW - 2.0, None, "stale command"), (NOW + 5.0, None, "in the future"), (NOW - 0.4, None, "in the past")],
)
def test_time_problems_drop_without_fault(checker, stamp, times, needle):
    traj = ramp(np.full(7, 0.001), n=5, dt=0.05, stamp=stamp)
    res = check(checker, traj)
    assert res.verdict is Verdict.DROPPED and not res.fault and needle in res.reasons[0]


def test_points_already_past_are_skipped(checker):
    traj = ramp(np.full(7, 0.001), n=10, dt=0.05, stamp=NOW - 0.2)
    res = check(checker, traj)
    assert res.verdict is Verdict.ACCEPTED and "skipped 4 point(s)" in res.reasons[0]
    np.testing.assert_allclose(res.trajectory.times[:6], traj.times[4:] - 0.2)


def test_speed_scaling_stretches_time_and_zero_means_no_motion(checker):
    d = np.full(7, 0.001)
    checker.speed_scaling = 0.5
    res = check(checker, ramp(d, n=4, dt=0.1))
    for t in (0.2, 0.4, 0.6, 0.8):  # the points, twice as far apart (the path has knots between them)
        assert np.min(np.abs(res.trajectory.times - t)) < 1e-12
    checker.speed_scaling = 0.0
    assert check(checker, ramp(d)).verdict is Verdict.DROPPED
    with pytest.raises(SafetyConfigError, match="speed_scaling"):
        checker.speed_scaling = 1.5


def test_moving_fast_toward_a_limit_brakes_inside_it(checker):
    upper = checker.limits.upper[0]
    q = Q.copy()
    q[0] = upper - 0.6
    v = np.zeros(7)
    v[0] = 2.0  # braking distance at 4 rad/s^2: 0.5 rad
    target = q.copy()
    target[0] = upper  # asks to run into the limit at full speed
    traj = Trajectory(0.0, NAMES, [0.1, 0.2, 0.3], np.vstack([q + v * 0.1, q + v * 0.2, target]))
    res = checker.check(traj, NOW, q, q, v)
    assert res.sendable
    assert np.max(res.trajectory.positions[:, 0]) <= upper + 1e-9
    # at a position bound the braking bound overrides the jerk limit (docs): only that may be exceeded
    assert_output_safe(as_output(res), checker.limits, jerk=False)
    assert "jerk limit yielded to a position bound" in res.reasons[-1]


def test_cartesian_box_rejects_commands_that_leave_it():
    x, y, z = ROBOT.fk(Q[:6])[:3, 3]
    inside = SafetyChecker(ROBOT, SafetyConfig(cartesian_box=(x - 1, x + 1, y - 1, y + 1, z - 1, z + 1)))
    assert check(inside, ramp(np.full(7, 0.001))).sendable
    tight = SafetyChecker(ROBOT, SafetyConfig(cartesian_box=(x - 1, x + 1, y - 1, y + 1, z + 0.01, z + 1)))
    res = check(tight, ramp(np.full(7, 0.001)))
    assert res.fault and "tool0" in res.reasons[0] and "Cartesian box" in res.reasons[0]


def test_hold_and_controlled_stop(checker):
    hold = checker.hold(Q, NOW)
    assert hold.num_points == 1 and np.array_equal(hold.positions[0], Q)
    v = np.array([1.0, -2.0, 0.5, 0.0, 0.0, 3.0, 0.05])
    stop, note = checker.stop(Q, v, NOW)
    assert note == ""
    out = Output("stop", stop, "", Q, v)
    assert_output_safe(out, checker.limits)
    assert stop.num_points > 3


def test_bad_settings_are_refused():
    with pytest.raises(SafetyConfigError, match="velocity_scale"):
        SafetyChecker(ROBOT, SafetyConfig(velocity_scale=0.0))
    with pytest.raises(SafetyConfigError, match="no range for joint"):
        SafetyChecker(ROBOT, SafetyConfig(prismatic_margin=0.03))
    with pytest.raises(SafetyConfigError, match="actuated joints"):
        SafetyChecker(ROBOT, joint_names=NAMES[:6])
    with pytest.raises(SafetyConfigError, match="cartesian_box"):
        SafetyChecker(ROBOT, SafetyConfig(cartesian_box=(1, 0, 0, 1, 0, 1)))


#: The state test_deadman_and_timeouts (hypothesis) handed to stop(): a command output had braked joint1 to rest
#: just past its soft lower limit, its last segment at +1.92 rad/s^2 (0.8x the jerk limit over its 20 ms);
#: the command timeout's stop starts where the handover stretch ends, on that last knot, where rounding
#: left -1.7e-14 rad/s (clipped to 0 at the bound).
AT_REST_ACCELERATING = (
    np.array([-2.8806508992753086, 1.9852353412030035, -2.599370500371131, -2.8696340812572907,
              -2.193808532963594, -2.8546812756978817, 0.039679828360698104]),
    np.array([-1.7437440380518865e-14, 0, 0, 0, 0, 0, 0]),
    np.array([1.9152328805700327, 0, 0, 0, 0, 0, 0]),
)  # fmt: skip


@pytest.mark.parametrize("state", ["found", "mid-range"])
def test_controlled_stop_at_rest_but_still_accelerating_keeps_the_jerk_limit(state):
    """The stop used to be a hold 2 ms (min_point_spacing) later: the acceleration's step to 0 over 2 ms,
    8x the jerk limit, without saying a bound yielded. Now it holds one stop step (20 ms) later."""
    c = SafetyChecker(ROBOT, SafetyConfig(min_point_spacing=0.002, stop_step=0.02))
    q, v, a = AT_REST_ACCELERATING
    if state == "mid-range":  # the same without a position bound or rounding: at rest, decelerating
        q, v, a = Q, ZERO, np.array([0, -2.0, 0, 0, 3.0, 0, 0])
    stop, note = c.stop(q, v, NOW, a)
    assert note == ""
    ratios = assert_output_safe(Output("stop", stop, "", q, v, a), c.limits)
    assert ratios["jerk"] <= 1.0
    np.testing.assert_allclose(stop.positions[-1], q, atol=1e-12)
