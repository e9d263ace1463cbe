"""Property tests of the safety core: 10,000 generated command sequences, nothing unsafe gets out.

Each example is a sequence of commands (NaN/inf, unknown/missing/reordered joint
names, huge jumps, stale and future stamps, bursts faster than the rate limit)
interleaved with joint states and watchdog ticks, run through SafetySupervisor +
SafetyChecker. Every output is re-checked with independent finite differences
(test/safety_invariants.py). Deterministic (derandomize) for a given code base and import set, not
beyond: hypothesis also draws integers from the literal constants of the project modules loaded at
the time (hypothesis.internal.constants_ast), so running this file alone generates other sequences
than running the whole suite (121 vs ~1,400 constants), and editing any constant in wam_ros changes
them too. A case the search once found is therefore replayed as a plain test (``_Replay``).
"""

from __future__ import annotations

import math
import os
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safety_invariants import assert_output_safe, sample_path, widened

from wam_ros.robot.model import RobotModel
from wam_ros.robot.trajectory import Trajectory
from wam_ros.safety.checks import SafetyChecker, SafetyConfig
from wam_ros.safety.supervisor import SafetyState, SafetySupervisor, SupervisorConfig

ROBOT = RobotModel.load()
NAMES = ROBOT.actuated_joints
J = len(NAMES)
EXAMPLES = int(os.environ.get("SAFETY_EXAMPLES", "2500"))  # x 4 tests = 10,000 sequences

SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)

special = st.sampled_from([math.nan, math.inf, -math.inf])


FAULTS = ("none",) * 15 + ("nan", "unknown", "missing", "mimic", "nan_time")
STAMPS = ("zero",) * 4 + ("now", "old", "stale", "future", "far")
GRIPPER_SCALE = np.array([1, 1, 1, 1, 1, 1, 0.05])
#: Hypothesis picks the structure of each command (which fault, which stamp); a drawn seed
#: fills the numbers with numpy, which keeps 10,000 sequences fast.
command_specs = st.tuples(st.integers(0, 2**32 - 1), st.sampled_from(FAULTS), st.sampled_from(STAMPS), special)


def make_command(spec, now: float, q: np.ndarray, magnitudes) -> Trajectory:
    seed, fault, stamp_kind, bad_value = spec
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 11))
    speed = magnitudes[rng.integers(len(magnitudes))]  # rad/s (m/s for the gripper: x 1/20)
    spacing = (0.001, 0.01, 0.02, 0.05, 0.1)[rng.integers(5)]
    pos = q[None, :] + np.cumsum(rng.uniform(-1, 1, (n, J)) * speed * spacing * GRIPPER_SCALE, axis=0)
    times = spacing * np.arange(1, n + 1) + (0.0, -spacing, 0.03)[rng.integers(3)]
    names = list(NAMES)
    if fault == "nan":
        pos[rng.integers(n), rng.integers(J)] = bad_value
    elif fault == "unknown":
        names[rng.integers(J)] = "bogus_joint"
    elif fault == "mimic":
        names[-1] = "gripper_finger_joint_mirror"
    elif fault == "nan_time":
        times[-1] = bad_value
    perm = rng.permutation(J) if rng.integers(2) else np.arange(J)
    names = [names[i] for i in perm]
    pos = pos[:, perm]
    if fault == "missing":
        k = int(rng.integers(J))
        names.pop(k)
        pos = np.delete(pos, k, axis=1)
    stamp = {"zero": 0.0, "now": now, "old": now - 0.05, "stale": now - 2.0, "future": now + 0.2, "far": now + 5.0}[
        stamp_kind
    ]
    vel = rng.uniform(-3, 3, pos.shape) if rng.integers(2) else None
    return Trajectory(stamp, tuple(names), times, pos, vel)


def _start_q(rng: np.random.Generator, edges: bool) -> np.ndarray:
    """Measured start inside the URDF limits, sometimes inside the margin band or at a limit."""
    lim = ROBOT.limits(NAMES)
    u = rng.uniform(0, 1, J)
    if edges:
        u = np.where(u < 0.5, u * 0.02, 1 - (1 - u) * 0.02)
    return lim["lower"] + u * (lim["upper"] - lim["lower"])


def run_sequence(data, config: SafetyConfig, scaling: float, deadman: bool, magnitudes, peaks=None,
                 outputs: list | None = None) -> Counter:  # fmt: skip
    checker = SafetyChecker(ROBOT, config)
    checker.speed_scaling = scaling
    sup = SafetySupervisor(checker, SupervisorConfig(command_timeout=0.2, deadman=deadman))
    lim = checker.limits
    peaks = {} if peaks is None else peaks
    now = 1000.0
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    q = _start_q(rng, rng.integers(4) == 0)
    v = rng.uniform(-3, 3, J) * (0.0, 0.01, 1.0)[rng.integers(3)]
    sup.update_joint_state(NAMES, q, v, now)
    sup.set_deadman(True, now)
    assert sup.arm(now).ok
    last = None
    bounds = None
    for spec in data.draw(st.lists(command_specs, min_size=1, max_size=8)):
        now += (0.001, 0.005, 0.01, 0.03, 0.1, 0.25)[rng.integers(6)]
        if last is not None:  # the arm follows the last output, with a little tracking error
            q = sample_path(last, now)[0] + rng.uniform(-0.01, 0.01, J)
            q = np.clip(q, lim.hard_lower, lim.hard_upper)
        if rng.integers(20) > 0:  # sometimes joint states go missing
            sup.update_joint_state(NAMES, q, None, now)
        if deadman:
            sup.set_deadman(rng.integers(10) > 0, now)
        replies = [sup.tick(now)]
        if sup.state is SafetyState.FAULT and rng.integers(5) and sup.reset(now).ok:
            replies += [None, sup.arm(now)]  # None: the session restarts here, from the measured state
        replies.append(sup.command(make_command(spec, now, q, magnitudes), now))
        for reply in replies:
            if reply is None:
                last = None
                continue
            for out in reply.outputs:
                if out.kind != "hold" and last is not None:
                    # continuity: a new path starts where the previous one is now, as the controller executes it
                    ref_q, ref_v, ref_a = sample_path(last, now)
                    assert np.allclose(out.start_position, ref_q, atol=1e-9)
                    # 1e-6 rad/s: at an exact braking boundary rounding may clip a velocity of ~1e-8
                    assert np.allclose(out.start_velocity, ref_v, atol=1e-6)
                    if np.array_equal(out.start_velocity, ref_v):
                        assert np.allclose(out.start_acceleration, ref_a, atol=1e-6)
                # a path that continues the previous one stays in the bounds that chain began with (each
                # output begins with a stretch of the previous one, planned inside those)
                if out.kind == "hold" or last is None or last.kind == "hold":
                    bounds = widened(out, lim)
                # jerk may yield only where a position bound binds (the checker says so), in this output or
                # in the stretch of the previous one it begins with
                yielded = [o.reason for o in (out, last) if o is not None and "jerk limit yielded" in o.reason]
                ratios = assert_output_safe(out, lim, jerk=not yielded, bounds=bounds)
                peaks.update({k: max(peaks.get(k, 0.0), v) for k, v in ratios.items()})
                if outputs is not None:
                    outputs.append(out)
                last = out
        if sup.state is SafetyState.DISARMED:
            last = None
    return sup.counts


@pytest.mark.slow
@pytest.mark.timeout(300)
@SETTINGS
@given(st.data())
def test_default_limits_any_command_sequence(data):
    run_sequence(data, SafetyConfig(), 1.0, False, (0.3, 1.5, 3.0, 100.0))


@pytest.mark.slow
@pytest.mark.timeout(300)
@SETTINGS
@given(st.data())
def test_small_motions_mostly_pass_and_stay_inside_limits(data):
    run_sequence(data, SafetyConfig(), 1.0, False, (0.05, 0.3, 1.0))


@pytest.mark.slow
@pytest.mark.timeout(300)
@SETTINGS
@given(st.data(), st.floats(0.0, 1.0))
def test_speed_scaling_and_scaled_limits(data, scaling):
    cfg = SafetyConfig(velocity_scale=0.5, acceleration_scale=0.5, position_margin=0.2, velocity_reject_ratio=1.2)
    run_sequence(data, cfg, scaling, False, (0.2, 1.0, 5.0))


@pytest.mark.slow
@pytest.mark.timeout(300)
@SETTINGS
@given(st.data())
def test_deadman_and_timeouts(data):
    run_sequence(data, SafetyConfig(min_point_spacing=0.002, stop_step=0.02), 1.0, True, (0.3, 1.5, 100.0))


class _Replay:
    """Stands in for hypothesis' ``data``: returns the draws of a case it printed, in order."""

    def __init__(self, *draws) -> None:
        self._draws = list(draws)

    def draw(self, strategy):
        return self._draws.pop(0)


def test_deadman_case_a_stop_at_rest_still_accelerating_keeps_the_jerk_limit():
    """The case test_deadman_and_timeouts found (its printout: seed 31763, four commands), on every run.

    A command output brakes joint1 to rest just past its soft limit, its last segment at +1.92 rad/s^2.
    The command timeout's handover stretch ends on that last knot. Its end state was the path evaluated
    at a time rounding put a hair before the knot: -1.7e-14 rad/s, so a stop was planned where the output
    already stops; from rest (clipped to 0 at the bound) but accelerating, that stop was a hold 2 ms
    (min_point_spacing) later: the step to 0 over 2 ms, 8x the jerk limit, no bound yielding. Now the
    stretch ends on the knot as sent (no further output: the old one is the stop), and a stop from rest
    while accelerating holds one braking step (test_safety_checks). The search generates this case when
    this file runs alone, not in the whole suite (module docstring), so it is pinned here."""
    specs = [(70, "none", "zero", math.nan), (71, "none", "zero", math.nan), (2, "none", "zero", math.nan),
             (0, "none", "zero", math.nan)]  # fmt: skip
    cfg = SafetyConfig(min_point_spacing=0.002, stop_step=0.02)
    outputs: list = []
    run_sequence(_Replay(31763, specs), cfg, 1.0, True, (0.3, 1.5, 100.0), outputs=outputs)
    assert [o.kind for o in outputs] == ["command", "command", "hold"]  # the timeout needed no stop output
    braked = outputs[1].trajectory  # still the sequence of the case: it ends at rest, joint1 accelerating
    assert np.all(braked.velocities[-1] == 0.0) and braked.velocities[-2, 0] < -0.01


def test_default_limits_case_a_command_at_the_end_of_the_last_output_keeps_the_jerk_limit():
    """A case test_default_limits_any_command_sequence found (seed 1, four commands), on every run.

    A command arrives just as the previous output ends (at rest, its last 50 ms segment still at up to
    3.4 rad/s^2). The reference, sampled a rounding error before that end, handed this acceleration to
    the new output, whose 20 ms stretch at rest then judged the step to 0: 1.4x the jerk limit. Now a
    time within path.END_TOL of the end samples the path at rest, as the handover counts it ended."""
    specs = [(0, "nan", "zero", math.nan), (101930, "none", "old", math.nan), (0, "none", "old", math.nan),
             (0, "none", "zero", math.nan)]  # fmt: skip
    outputs: list = []
    run_sequence(_Replay(1, specs), SafetyConfig(), 1.0, False, (0.3, 1.5, 3.0, 100.0), outputs=outputs)
    assert [o.kind for o in outputs] == ["hold", "command", "command"]
    late = outputs[2]  # still the sequence of the case: it starts where the previous output ends
    assert np.all(np.abs(late.start_velocity) < 1e-9) and np.all(late.start_acceleration == 0.0)


@pytest.mark.slow
def test_generator_reaches_every_verdict():
    """Guard against a generator that never reaches a branch (the properties above would be vacuous there)."""
    total: Counter = Counter()

    @settings(max_examples=300, derandomize=True, deadline=None, database=None)
    @given(st.data())
    def run(data):
        total.update(run_sequence(data, SafetyConfig(), 1.0, False, (0.3, 1.5, 3.0, 100.0)))

    @settings(max_examples=100, derandomize=True, deadline=None, database=None)
    @given(st.data())
    def run_small(data):
        total.update(run_sequence(data, SafetyConfig(), 1.0, False, (0.05, 0.3, 1.0)))

    run()
    run_small()
    print(dict(total))
    for key in ("accepted", "clamped", "dropped", "rejected", "command", "hold", "stop"):
        assert total[key] >= 10, (key, dict(total))
