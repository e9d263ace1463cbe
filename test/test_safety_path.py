"""What the controller executes from the bridge's outputs (issue 15, D4: no surge, whatever arrives).

The outputs of SafetySupervisor + SafetyChecker are executed here by the simulated arm's
trajectory controller (wam_ros.sim.trajectory_controller: joint_trajectory_controller
semantics, a cubic through each pair of knots, a new trajectory taking over from the
running reference), each delivered after a random delay, and the executed reference is
sampled every millisecond. No ROS.
"""

from __future__ import annotations

import numpy as np

from wam_ros.robot.model import RobotModel
from wam_ros.robot.trajectory import Trajectory
from wam_ros.safety.checks import SafetyChecker
from wam_ros.safety.path import PathLimits, PathState, brake, plan, sample
from wam_ros.safety.supervisor import CommandSource, SafetyState, SafetySupervisor, SupervisorConfig
from wam_ros.sim.trajectory_controller import TrajectoryController

ROBOT = RobotModel.load()
NAMES = ROBOT.actuated_joints
Q = np.array([0.1, -0.3, 0.5, 0.0, 0.2, -0.1, 0.02])
J6 = 5  # joint6: 8 rad/s^2, 3 rad/s
SMOOTHER = CommandSource("5300", "/chunk_smoother_node")


class Executed:
    """Delivers outputs to a TrajectoryController after a delay and samples what it executes."""

    def __init__(self, q0: np.ndarray, seed: int = 0, max_delay: float = 0.008) -> None:
        self.ctrl = TrajectoryController(NAMES, q0, 0.0)
        self.rng = np.random.default_rng(seed)
        self.max_delay = max_delay
        self.inbox: list[tuple[float, Trajectory]] = []
        self.samples: list[tuple[float, np.ndarray, np.ndarray, np.ndarray]] = []
        self.t = 0.0

    def send(self, outputs, now: float) -> None:
        for out in outputs:
            traj = out.trajectory
            if out.kind == "hold":  # the node sends holds with stamp 0 ("now"), everything else stamped
                traj = Trajectory(0.0, traj.joint_names, traj.times, traj.positions, traj.velocities)
            self.inbox.append((now + self.rng.uniform(0.0, self.max_delay), traj))

    def run_until(self, t_end: float) -> None:
        while self.t < t_end - 1e-12:
            self.t = round(self.t + 0.001, 9)
            for item in [i for i in self.inbox if i[0] <= self.t]:
                self.inbox.remove(item)
                self.ctrl.set_trajectory(item[1], self.t)
            self.samples.append((self.t, *self.ctrl.sample(self.t)))

    def peaks(self) -> tuple[float, float]:
        lim = ROBOT.limits(NAMES)
        v = np.array([s[2] for s in self.samples])
        a = np.array([s[3] for s in self.samples])
        return float(np.max(np.abs(v) / lim["velocity"])), float(np.max(np.abs(a) / lim["acceleration"]))

    @property
    def q(self) -> np.ndarray:
        return self.samples[-1][1] if self.samples else self.ctrl.sample(0.0)[0]


def stream(sup: SupervisorConfig | SafetySupervisor, arm: Executed, t0: float, t1: float, path, seed: int) -> None:
    """A smoother-like commander: every 10 ms, 6 points 20 ms apart on ``path(t)``; joint states every 10 ms."""
    rng = np.random.default_rng(seed)
    t = t0
    while t < t1 - 1e-9:
        arm.run_until(t)
        sup.update_joint_state(NAMES, arm.q + rng.normal(0, 1e-4, len(NAMES)), None, t)
        times = 0.02 * np.arange(6)
        cmd = Trajectory(t, NAMES, times + 1e-3, np.array([path(t + dt) for dt in times]))
        arm.send(sup.command(cmd, t, SMOOTHER).outputs, t)
        arm.send(sup.tick(t).outputs, t)
        t = round(t + 0.01, 9)


def test_d4_a_resumed_commander_whose_reference_jumps_ahead_cannot_surge():
    """The smoother froze 2 s (SIGSTOP), then resumed 0.05 rad ahead and sped up to 1.35 rad/s to catch up
    (0.47 before; its own output within 6 rad/s^2): the executed reference stays within the acceleration
    limit (it reached 2.7x on joint6 before the fix)."""
    sup = SafetySupervisor(SafetyChecker(ROBOT), SupervisorConfig(command_timeout=0.3))
    arm = Executed(Q, seed=1)
    sup.update_joint_state(NAMES, Q, None, 0.0)
    assert sup.arm(0.0).ok

    def before(t: float) -> np.ndarray:
        q = Q.copy()
        q[J6] += 0.47 * t
        return q

    stream(sup, arm, 0.0, 1.0, before, seed=2)
    assert sup.state is SafetyState.ACTIVE
    # frozen: no commands for 2 s, joint states go on; the command watchdog stops the arm
    t = 1.0
    while t < 3.0:
        arm.run_until(t)
        sup.update_joint_state(NAMES, arm.q, None, t)
        arm.send(sup.tick(t).outputs, t)
        t = round(t + 0.01, 9)
    assert sup.state is SafetyState.ARMED
    resume_q = arm.q.copy()

    def after(tt: float) -> np.ndarray:  # near the arm, jumped 0.05 ahead, speeding up to 1.35 rad/s
        q = resume_q.copy()
        s, ramp = tt - 3.0, 1.35 / 6.0
        q[J6] += 0.05 + (3.0 * s * s if s < ramp else 3.0 * ramp * ramp + 1.35 * (s - ramp))
        return q

    stream(sup, arm, 3.0, 3.6, after, seed=3)
    assert sup.state is SafetyState.ACTIVE  # resumed on its own, as before: but smoothly
    arm.run_until(4.5)
    v_peak, a_peak = arm.peaks()
    print(f"\nexecuted reference: peak velocity {v_peak:.3f}x, peak acceleration {a_peak:.3f}x the limits")
    assert v_peak <= 1.0 + 1e-6
    assert a_peak <= 1.0 + 1e-3, f"acceleration {a_peak:.2f}x the limit: a surge"


def test_d4_interleaved_commanders_cannot_make_the_output_reverse():
    """D2's symptom: another publisher's 2-point holds interleaved with the smoother reversed the output ~30
    times in 2 s (73 rad/s^2). The second commander is refused; the executed reference stays smooth."""
    sup = SafetySupervisor(SafetyChecker(ROBOT), SupervisorConfig())
    arm = Executed(Q, seed=4)
    sup.update_joint_state(NAMES, Q, None, 0.0)
    assert sup.arm(0.0).ok
    other = CommandSource("07", "/teleop_node")
    t = 0.0
    while t < 2.0:
        arm.run_until(t)
        sup.update_joint_state(NAMES, arm.q, None, t)
        pts = np.tile(Q, (6, 1))
        pts[:, 4] += 0.3 * (1.0 - np.cos(t + 0.02 * np.arange(6)))  # from rest, forward the whole time
        cmd = Trajectory(t, NAMES, 0.02 * np.arange(6) + 1e-3, pts)
        arm.send(sup.command(cmd, t, SMOOTHER).outputs, t)
        if round(t * 100) % 2:  # ~50 Hz holds at the measured position from another publisher
            hold = Trajectory(t, NAMES, [0.01, 0.02], np.vstack([arm.q, arm.q]))
            assert not sup.command(hold, t, other).outputs
        arm.send(sup.tick(t).outputs, t)
        t = round(t + 0.01, 9)
    arm.run_until(2.5)
    v5 = np.array([s[2][4] for s in arm.samples if s[0] < 2.0])
    reversals = int(np.sum(np.diff(np.sign(v5[np.abs(v5) > 1e-3])) != 0))
    assert reversals <= 1 and arm.peaks()[1] <= 1.0 + 1e-3
    assert sup.refused_sources[other] > 50


def test_path_knots_are_consistent_so_the_controller_executes_the_plan():
    """Cubic Hermite through the knots = the planned quadratic (third-order coefficient 0)."""
    c = SafetyChecker(ROBOT)
    lim = c.limits
    rng = np.random.default_rng(5)
    for _ in range(50):
        v0 = rng.uniform(-1, 1, 7) * lim.velocity * 0.5
        times = np.cumsum(rng.choice([0.01, 0.02, 0.05, 0.2], 6))
        targets = Q + np.cumsum(rng.uniform(-0.05, 0.05, (6, 7)), axis=0) * np.array([1, 1, 1, 1, 1, 1, 0.05])
        p = plan(PathState(Q, v0, np.zeros(7)), times, targets,
                 PathLimits(lim.lower, lim.upper, lim.velocity, lim.acceleration, lim.jerk), 0.05)  # fmt: skip
        t = np.concatenate([[0.0], p.times])
        q = np.vstack([Q, p.positions])
        v = np.vstack([v0, p.velocities])
        dt = np.diff(t)[:, None]
        c3 = (2 * (q[:-1] - q[1:]) + (v[:-1] + v[1:]) * dt) / dt**3
        assert np.max(np.abs(c3 * dt**3)) < 1e-12


def test_brake_from_rest_while_still_accelerating_holds_one_step_instead_of_nothing():
    """At rest with an acceleration the jerk limit lets drop to 0 in one step, brake() used to return
    nothing, so a stop became a hold ``min_point_spacing`` later: the same step to 0 over that shorter
    segment, 8x the jerk limit (test_deadman_and_timeouts). It now holds for one ``step``."""
    lim = SafetyChecker(ROBOT).limits
    limits = PathLimits(lim.lower, lim.upper, lim.velocity, lim.acceleration, lim.jerk)
    step, zero = 0.05, np.zeros(7)
    a = zero.copy()
    a[0] = -0.9 * lim.jerk[0] * step
    p = brake(PathState(Q, zero, a), limits, step)
    np.testing.assert_array_equal(p.times, [step])
    np.testing.assert_array_equal(p.positions, Q[None, :])
    np.testing.assert_array_equal(p.velocities, zero[None, :])
    assert p.jerk_yielded == 0 and abs(0.0 - a[0]) / p.times[0] <= lim.jerk[0]
    assert brake(PathState(Q, zero, zero), limits, step).empty  # at rest and not accelerating: nothing to do


def test_a_time_within_rounding_of_the_end_samples_the_path_at_rest():
    """A path ends at rest on a segment that may still accelerate; sampled a rounding error before its
    end it used to give that acceleration to the next output's start, which judged its step to 0 over
    its own 20 ms stretch (1.4x the jerk limit, test_default_limits_any_command_sequence)."""
    times = np.array([0.0, 0.05])
    pos = np.array([[0.0], [0.05 * 0.1 / 2]])
    vel = np.array([[0.1], [0.0]])  # braking at 2 rad/s^2 to rest
    q, v, a = sample(times, pos, vel, 0.05 - 1e-12)
    assert q[0] == pos[1, 0] and v[0] == 0.0 and a[0] == 0.0
    q, v, a = sample(times, pos, vel, 0.05 - 1e-6)  # well before the end: still braking
    assert v[0] > 0.0 and a[0] == -2.0
