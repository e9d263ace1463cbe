"""TrajectoryController: JTC semantics (interpolation kinds, replacement, past waypoints, rejection)."""

from __future__ import annotations

import numpy as np
import pytest

from wam_ros.robot.trajectory import Trajectory, TrajectoryError
from wam_ros.sim.trajectory_controller import TrajectoryController

J = ("a", "b")


def ctrl(q0=(0.0, 0.0), now=0.0, **kw) -> TrajectoryController:
    return TrajectoryController(J, np.array(q0), now, **kw)


def traj(stamp, times, pos, vel=None, acc=None, names=J) -> Trajectory:
    return Trajectory(
        stamp,
        names,
        np.array(times, float),
        np.array(pos, float),
        vel and np.array(vel, float),
        acc and np.array(acc, float),
    )


def test_holds_initial_position_when_idle():
    c = ctrl((0.2, -0.1))
    q, v, a = c.sample(5.0)
    assert np.allclose(q, [0.2, -0.1]) and np.allclose(v, 0) and np.allclose(a, 0)
    assert not c.active(5.0)


def test_positions_only_is_linear():
    c = ctrl()
    c.set_trajectory(traj(0.0, [1.0, 2.0], [[1.0, 2.0], [0.0, 0.0]]), now=10.0)  # stamp 0 = now
    for t, expect in [(10.25, [0.25, 0.5]), (10.5, [0.5, 1.0]), (11.0, [1.0, 2.0]), (11.5, [0.5, 1.0])]:
        q, _v, _ = c.sample(t)
        assert np.allclose(q, expect), (t, q)
    assert np.allclose(c.sample(10.5)[1], [1.0, 2.0])  # constant velocity on a linear segment
    assert np.allclose(c.sample(12.5)[0], [0.0, 0.0])  # holds the last point
    assert np.allclose(c.sample(12.5)[1], 0.0)


def test_velocities_make_it_cubic():
    c = ctrl()
    c.set_trajectory(traj(0.0, [1.0, 2.0], [[1.0, 1.0], [2.0, 0.0]], vel=[[1.0, 0.0], [0.0, 0.0]]), now=0.0)
    q, v, _ = c.sample(1.0)
    assert np.allclose(q, [1.0, 1.0]) and np.allclose(v, [1.0, 0.0])  # waypoint position and velocity met
    q_mid, _, _ = c.sample(0.5)
    # Hermite (0, v=0) -> (1, v=1) over 1 s: q = 2t^2 - t^3, so q(0.5) = 0.375 for joint a
    assert np.isclose(q_mid[0], 0.375) and np.isclose(q_mid[1], 0.5)
    assert not np.isclose(q_mid[0], 0.5)  # not linear


def test_accelerations_make_it_quintic():
    c = ctrl()
    c.set_trajectory(traj(0.0, [1.0], [[1.0, -1.0]], vel=[[0.0, 0.0]], acc=[[0.0, 0.0]]), now=0.0)
    q, v, _a = c.sample(0.5)
    assert np.allclose(q, [0.5, -0.5])  # symmetric rest-to-rest quintic passes the midpoint
    assert np.allclose(v, [1.875, -1.875])  # peak velocity 15/8 of the mean for a min-jerk profile
    _, v1, a1 = c.sample(1.0 - 1e-9)
    assert np.allclose(v1, 0, atol=1e-6) and np.allclose(a1, 0, atol=1e-5)
    _, _, a0 = c.sample(1e-9)
    assert np.allclose(a0, 0, atol=1e-5)


def test_joint_order_is_by_name():
    c = ctrl()
    c.set_trajectory(traj(0.0, [1.0], [[5.0, 3.0]], names=("b", "a")), now=0.0)
    assert np.allclose(c.sample(2.0)[0], [3.0, 5.0])


def test_future_start_keeps_running_trajectory_until_then():
    c = ctrl()
    c.set_trajectory(traj(0.0, [2.0], [[2.0, 0.0]]), now=0.0)  # a: 1 rad/s
    c.set_trajectory(traj(1.0, [1.0], [[0.0, 1.0]]), now=0.5)  # takes over at t=1
    assert np.allclose(c.sample(0.75)[0], [0.75, 0.0])  # old one still running
    assert np.allclose(c.sample(1.0)[0], [1.0, 0.0])  # continuous at the takeover
    assert np.allclose(c.sample(1.5)[0], [0.5, 0.5])  # new one: from (1, 0) to (0, 1) over 1 s
    assert np.allclose(c.sample(3.0)[0], [0.0, 1.0])


def test_replacement_now_starts_from_current_reference():
    c = ctrl()
    c.set_trajectory(traj(0.0, [2.0], [[2.0, 0.0]]), now=0.0)
    c.set_trajectory(traj(0.0, [1.0], [[0.0, 0.0]]), now=1.0)  # at t=1 the reference is 1.0
    assert np.allclose(c.sample(1.0)[0], [1.0, 0.0])
    assert np.allclose(c.sample(1.5)[0], [0.5, 0.0])


def test_waypoints_in_the_past_are_dropped():
    c = ctrl()
    # stamped at t=1, received at t=2.5: the points at 1.5 and 2.0 (abs) are in the past
    kept = c.set_trajectory(traj(1.0, [0.5, 1.0, 2.0, 3.0], [[9.0, 9.0], [8.0, 8.0], [1.0, 0.0], [2.0, 0.0]]), now=2.5)
    assert kept == 2
    assert np.allclose(c.sample(2.5)[0], [0.0, 0.0])  # no jump towards the dropped points
    assert np.allclose(c.sample(3.0)[0], [1.0, 0.0])  # first kept point on its own time
    assert np.allclose(c.sample(2.75)[0], [0.5, 0.0])
    assert np.allclose(c.sample(4.0)[0], [2.0, 0.0])


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (traj(0.0, [1.0], [[1.0, 1.0]], names=("a", "c")), "unknown joint"),
        (traj(0.0, [1.0], [[1.0]], names=("a",)), "missing joint"),
        (traj(0.0, [1.0], [[1.0, np.nan]]), "non-finite"),
        (traj(0.0, [1.0, 0.5], [[1.0, 1.0], [2.0, 2.0]]), "strictly increasing"),
        (traj(0.5, [1.0], [[1.0, 1.0]]), "in the past"),
        (traj(0.0, [1.0], [[3.0, 0.0]]), "outside its limits"),
    ],
)
def test_invalid_trajectory_is_rejected_and_reference_kept(bad, reason):
    c = ctrl(lower=np.array([-2.0, -2.0]), upper=np.array([2.0, 2.0]))
    c.set_trajectory(traj(0.0, [4.0], [[1.0, 1.0]]), now=0.0)
    before = [c.sample(t)[0] for t in (2.0, 3.0, 5.0)]
    with pytest.raises(TrajectoryError, match=reason):
        c.set_trajectory(bad, now=2.0)
    after = [c.sample(t)[0] for t in (2.0, 3.0, 5.0)]
    assert all(np.array_equal(x, y) for x, y in zip(before, after))
    assert c.rejected == 1 and reason.split()[0] in c.last_rejection


def test_hold_rejects_bad_positions():
    c = ctrl(lower=np.array([-1.0, -1.0]), upper=np.array([1.0, 1.0]))
    with pytest.raises(TrajectoryError, match="non-finite"):
        c.hold(np.array([np.inf, 0.0]), 1.0)
    with pytest.raises(TrajectoryError, match="2 joints"):
        c.hold(np.array([0.0]), 1.0)
    assert np.allclose(c.sample(2.0)[0], 0.0)


def test_long_run_prunes_old_knots():
    c = ctrl()
    for k in range(200):
        c.set_trajectory(traj(0.0, [0.1, 0.2], [[k, 0.0], [k + 1, 0.0]]), now=0.1 * k)
    assert len(c._t) < 10


# ---------------------------------------------------------------- the simulated arm respects the URDF velocity limits
def _run_arm(delays: tuple[float, ...], seconds: float = 8.0, seed: int = 0):
    """The sim arm driven like the safety bridge drives it: every 10 ms a 6-point trajectory (stamp 0 = "start when
    received", points 10-110 ms ahead) along a reference within the limits (joint6 at 2.5 of 3.0 rad/s, joint5 at 1.2
    of 2.0), each delivered after one of ``delays`` (references arriving in bursts under load).
    Returns the largest |velocity| / limit per joint over every control step, and the env."""
    from wam_ros.sim.sim_env import SimEnv

    env = SimEnv(seed=0)
    names, lim = env.robot.actuated_joints, env.robot.limits()
    rng = np.random.default_rng(seed)
    q0 = env.arm.home.copy()

    def ref(t: float) -> np.ndarray:
        q = q0.copy()
        q[5] += 1.0 * (1.0 - np.cos(2.5 * t))  # from rest
        q[4] -= 0.6 * (1.0 - np.cos(2.0 * t))
        return q

    pending: list[tuple[float, Trajectory]] = []
    worst = np.zeros(len(names))
    times = 0.01 + 0.02 * np.arange(6)
    while env.time < seconds:
        t = env.time
        pending.append((t + float(rng.choice(delays)), Trajectory(0.0, names, times, np.array([ref(t + s)
                                                                                                for s in times]))))
        for _, tr in [p for p in pending if p[0] <= t]:
            env.command_trajectory(tr)
        pending = [p for p in pending if p[0] > t]
        for _ in range(5):  # every control period (2 ms) of the 10 ms tick
            env.step()
            worst = np.maximum(worst, np.abs(env.arm.actuated_velocities()) / lim["velocity"])
    return worst, env


def test_sim_arm_never_exceeds_the_urdf_velocity_limits_when_references_arrive_in_bursts():
    """Issue 15: joint6 reached 5.5 rad/s against 3.0 (joint5 2.81 against 2.0) while every command was within
    the limits: a late trajectory replacing the running one makes the controller's spline from its current
    reference to the (now earlier) first point ask for several times the limit. Measured before the fix:
    joint5 2.4x, joint6 5.3x the limit. The servo target is now rate-limited and the drive saturates."""
    worst, env = _run_arm((0.0, 0.0, 0.03, 0.08))
    assert np.all(worst <= 1.0 + 1e-9), worst
    assert env.velocity_limited_steps > 0  # the bursts did ask for more


def test_sim_arm_follows_a_feasible_reference_untouched():
    """References delivered on time are within the limits: the servo targets are not limited and the arm reaches
    the reference's speed (joint6 2.5 rad/s; the PD servo overshoots it by ~20 %, which the drive caps at 3.0)."""
    worst, env = _run_arm((0.0,), seconds=4.0)
    assert env.velocity_limited_steps == 0
    assert 2.5 / 3.0 <= worst[5] <= 1.0 + 1e-9
