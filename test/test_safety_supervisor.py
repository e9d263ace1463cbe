"""SafetySupervisor without ROS: states, latches, watchdogs, rate limit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from safety_invariants import assert_output_safe

from wam_ros.robot.model import RobotModel
from wam_ros.robot.trajectory import Trajectory
from wam_ros.safety.checks import SafetyChecker, SafetyConfig
from wam_ros.safety.supervisor import CommandSource, SafetyState, SafetySupervisor, SupervisorConfig

ROBOT = RobotModel.load()
NAMES = ROBOT.actuated_joints
Q = np.array([0.1, -0.3, 0.5, 0.0, 0.2, -0.1, 0.02])
JS_NAMES = [*NAMES, "gripper_finger_joint_mirror"]


def make(**cfg) -> SafetySupervisor:
    return SafetySupervisor(SafetyChecker(ROBOT), SupervisorConfig(**cfg))


def js(sup: SafetySupervisor, now: float, q=Q) -> None:
    sup.update_joint_state(JS_NAMES, np.append(q, q[-1]), None, now)


def cmd(offset: float = 0.0, q=Q) -> Trajectory:
    return Trajectory(0.0, NAMES, [0.05], (q + offset)[None, :])


def active(now: float = 10.0, **cfg) -> SafetySupervisor:
    sup = make(**cfg)
    js(sup, now)
    assert sup.arm(now).ok
    reply = sup.command(cmd(), now)
    assert reply.ok and reply.outputs and sup.state is SafetyState.ACTIVE
    return sup


def test_arming_needs_fresh_joint_states():
    sup = make(joint_state_hold_timeout=0.2, joint_state_timeout=0.5)
    r = sup.arm(1.0)
    assert not r.ok and "no joint_states" in r.message and sup.state is SafetyState.DISARMED
    js(sup, 1.0)
    r = sup.arm(1.5)
    assert not r.ok and "0.500s old" in r.message
    js(sup, 1.6)
    assert sup.arm(1.7).ok and sup.label == "ARMED"


def test_joint_states_missing_a_joint_or_nan_are_ignored():
    sup = make()
    sup.update_joint_state(list(NAMES[:6]), Q[:6], None, 1.0)
    q = Q.copy()
    q[1] = math.nan
    sup.update_joint_state(list(NAMES), q, None, 1.0)
    assert not sup.arm(1.0).ok
    assert [e.level for e in sup.drain_events()][:2] == ["warn", "warn"]


def test_commands_are_ignored_until_armed():
    sup = make()
    js(sup, 1.0)
    r = sup.command(cmd(), 1.0)
    assert not r.ok and not r.outputs and "DISARMED" in r.message


def test_first_command_must_start_near_the_measured_position():
    sup = make(max_start_deviation=0.1)
    js(sup, 1.0)
    sup.arm(1.0)
    far = Q.copy()
    far[4] += 0.15
    r = sup.command(Trajectory(0.0, NAMES, [1.0], far[None, :]), 1.0)
    assert not r.ok and not r.outputs and "joint5" in r.message and sup.state is SafetyState.ARMED
    r = sup.command(cmd(0.001), 1.0)
    assert r.ok and r.outputs[0].kind == "command" and sup.state is SafetyState.ACTIVE


def test_command_timeout_stops_and_requires_a_new_start():
    sup = active(now=10.0, command_timeout=0.3)
    js(sup, 10.2)
    assert not sup.tick(10.2).outputs
    js(sup, 10.35)
    r = sup.tick(10.35)
    assert sup.state is SafetyState.ARMED and r.outputs and "no command" in r.message
    assert r.outputs[0].kind in ("hold", "stop")
    events = [e.message for e in sup.drain_events()]
    assert any("ACTIVE -> ARMED" in m for m in events)


def test_stale_joint_states_fault_and_hold_and_the_fault_latches():
    sup = active(now=10.0, joint_state_hold_timeout=0.1, joint_state_timeout=0.2)
    r = sup.tick(10.3)
    assert sup.state is SafetyState.FAULT and sup.label.startswith("FAULT(joint_states stale")
    assert r.outputs and r.outputs[0].kind == "hold"
    np.testing.assert_allclose(r.outputs[0].trajectory.positions[0], Q)
    js(sup, 10.4)
    assert not sup.command(cmd(), 10.4).outputs
    assert not sup.arm(10.4).ok
    assert sup.state is SafetyState.FAULT
    assert sup.reset(10.5).ok and sup.state is SafetyState.DISARMED
    assert sup.arm(10.5).ok


def test_non_finite_command_faults_with_a_hold_at_the_measured_position():
    sup = active()
    bad = Q.copy()
    bad[0] = math.inf
    r = sup.command(Trajectory(0.0, NAMES, [0.05], bad[None, :]), 10.01)
    assert not r.ok and sup.label.startswith("FAULT(non-finite")
    assert r.outputs[0].kind == "hold" and np.all(np.isfinite(r.outputs[0].trajectory.positions))
    assert any(e.level == "error" for e in sup.drain_events())


def test_estop_latches_and_reset_waits_for_the_estop_input():
    sup = active()
    r = sup.set_estop_input(True, 10.01)
    assert r.outputs and r.outputs[0].kind == "hold" and sup.label == "FAULT(e-stop: e-stop topic)"
    r = sup.reset(10.02)
    assert not r.ok and "still asserted" in r.message
    sup.set_estop_input(False, 10.03)
    assert sup.state is SafetyState.FAULT, "releasing the e-stop input must not clear the latch"
    assert sup.reset(10.04).ok and sup.state is SafetyState.DISARMED
    sup = active()
    assert sup.estop(10.01).outputs and not sup.disarm(10.02).ok


def test_deadman_gates_commands_and_release_stops():
    sup = make(deadman=True, deadman_timeout=0.2)
    js(sup, 1.0)
    sup.arm(1.0)
    r = sup.command(cmd(), 1.0)
    assert not r.ok and "deadman" in r.message
    sup.set_deadman(True, 1.0)
    assert sup.command(cmd(), 1.01).outputs and sup.state is SafetyState.ACTIVE
    js(sup, 1.1)
    sup.set_deadman(False, 1.1)
    r = sup.tick(1.1)
    assert sup.state is SafetyState.ARMED and r.outputs and "deadman" in r.message


def test_deadman_heartbeat_must_keep_coming():
    sup = make(deadman=True, deadman_timeout=0.2, command_timeout=5.0)
    js(sup, 1.0)
    sup.arm(1.0)
    sup.set_deadman(True, 1.0)
    sup.command(cmd(), 1.0)
    js(sup, 1.25)
    sup.tick(1.25)
    assert sup.state is SafetyState.ARMED


def test_output_rate_limit_queues_the_newest_command():
    sup = active(now=10.0, max_output_rate=50.0)
    r = sup.command(cmd(0.001), 10.005)
    assert r.ok and not r.outputs and "queued" in r.message
    sup.command(cmd(0.002), 10.01)
    assert not sup.tick(10.015).outputs
    r = sup.tick(10.021)
    assert len(r.outputs) == 1
    # the newest command won: the output is what sending it directly at that moment gives
    direct = active(now=10.0, max_output_rate=50.0).command(cmd(0.002), 10.021)
    np.testing.assert_allclose(r.outputs[0].trajectory.positions, direct.outputs[0].trajectory.positions)


def test_disarm_stops_and_speed_scaling_zero_stops():
    sup = active()
    r = sup.disarm(10.01)
    assert r.ok and r.outputs and sup.state is SafetyState.DISARMED
    sup = active()
    r = sup.set_speed_scaling(0.0, 10.01)
    assert r.outputs and sup.state is SafetyState.ARMED


def test_consecutive_outputs_continue_the_reference():
    sup = active(now=10.0)
    first = sup.command(cmd(0.0), 10.0)
    ref_q, ref_v, _ = sup.reference(10.02)
    js(sup, 10.02)
    r = sup.command(cmd(0.002), 10.02)
    np.testing.assert_allclose(r.outputs[0].start_position, ref_q)
    np.testing.assert_allclose(r.outputs[0].start_velocity, ref_v)
    assert not first.outputs or first.outputs[0].kind == "command"


# ---------------------------------------------------------------------------------------------- issue 15
A = CommandSource("0a0a", "/chunk_smoother_node")
B = CommandSource("0b0b", "/intruder")


def owned(now: float = 10.0, **cfg) -> SafetySupervisor:
    sup = make(**cfg)
    js(sup, now)
    assert sup.arm(now).ok
    assert sup.command(cmd(), now, A).outputs and sup.owner == A
    return sup


def test_d2_one_commander_per_session_a_second_is_refused_counted_and_named():
    sup = owned()
    sup.drain_events()
    js(sup, 10.02)
    r = sup.command(cmd(0.01), 10.02, B)
    assert not r.ok and not r.outputs, "a second commander's command must never reach the controller"
    assert str(B) in r.message and str(A) in r.message
    events = sup.drain_events()
    assert any(not e.repeating and "/intruder" in e.message and e.key == f"foreign {B.id}" for e in events)
    # its garbage cannot fault the session either, and each refusal is counted per source
    bad = Q.copy()
    bad[0] = math.nan
    assert not sup.command(Trajectory(0.0, NAMES, [0.05], bad[None, :]), 10.03, B).outputs
    assert not sup.malformed("ragged", 10.03, B).outputs
    assert sup.state is SafetyState.ACTIVE and sup.refused_sources[B] == 3
    assert [e.repeating for e in sup.drain_events()] == [True, True]  # only the first is reported at once
    assert sup.command(cmd(0.001), 10.04, A).outputs  # the owner keeps commanding
    # the session ends with disarm: then another commander may take the next one
    js(sup, 10.1)
    sup.disarm(10.1)
    assert sup.owner is None
    js(sup, 10.12)
    assert sup.arm(10.12).ok and sup.command(cmd(), 10.12, B).outputs and sup.owner == B


def test_d2_owner_survives_a_watchdog_stop_but_not_a_fault():
    sup = owned(command_timeout=0.3)
    js(sup, 10.4)
    assert sup.tick(10.4).outputs and sup.state is SafetyState.ARMED
    assert not sup.command(cmd(), 10.41, B).ok, "a controlled stop does not end the session"
    sup.estop(10.42)
    assert sup.owner is None and sup.reset(10.43).ok
    js(sup, 10.44)
    assert sup.arm(10.44).ok and sup.command(cmd(), 10.44, B).outputs


def test_d5_a_frozen_node_clock_cannot_blind_the_watchdogs():
    """use_sim_time with a stopped /clock: ``now`` stands still, the steady clock of arrival runs on."""
    sup = make(command_timeout=0.3, joint_state_hold_timeout=0.15, joint_state_timeout=1.0)  # (hold: not the default)
    sup.update_joint_state(JS_NAMES, np.append(Q, Q[-1]), None, 50.0, steady=1.0, stamp=50.0)
    assert sup.arm(50.0, steady=1.0).ok
    assert sup.command(cmd(), 50.0, A, steady=1.0).outputs and sup.state is SafetyState.ACTIVE
    assert not sup.tick(50.0, steady=1.1).outputs
    r = sup.tick(50.0, steady=1.2)  # 0.2 s of silence on the steady clock, none on the frozen one
    assert r.outputs and sup.state is SafetyState.ARMED and "joint_states stale" in r.message
    sup.tick(50.0, steady=2.05)
    assert sup.label.startswith("FAULT(joint_states stale (1.050s old)")


def test_d5_the_command_watchdog_runs_on_the_steady_clock():
    sup = make(command_timeout=0.3)
    for t in (1.0, 1.2, 1.4):
        sup.update_joint_state(JS_NAMES, np.append(Q, Q[-1]), None, 50.0, steady=t)
        if t == 1.0:
            assert sup.arm(50.0, steady=t).ok and sup.command(cmd(), 50.0, A, steady=t).outputs
    r = sup.tick(50.0, steady=1.4)
    assert sup.state is SafetyState.ARMED and "no command for 0.400s" in r.message


def test_d5_joint_states_stamped_far_from_the_node_clock_are_refused_so_arming_is_refused():
    now = 1.8e9
    sup = make()
    sup.update_joint_state(JS_NAMES, np.append(Q, Q[-1]), None, now, steady=5.0, stamp=35.2)
    r = sup.arm(now, steady=5.0)
    assert not r.ok and "stamped 1.8e+09s before the node clock" in r.message and "max_joint_state_skew" in r.message
    assert sup.counts["joint_states_refused"] == 1
    sup.update_joint_state(JS_NAMES, np.append(Q, Q[-1]), None, now, steady=5.01, stamp=now + 10.0)
    assert "after the node clock" in sup.last_joint_state_refusal
    sup.update_joint_state(JS_NAMES, np.append(Q, Q[-1]), None, now, steady=5.02, stamp=now - 0.01)
    assert sup.arm(now, steady=5.02).ok  # in the node clock's time base: accepted


def test_d6_transient_staleness_holds_and_recovers_by_itself_only_a_long_outage_faults():
    sup = owned(joint_state_hold_timeout=0.15, joint_state_timeout=1.0, command_timeout=5.0)
    ramp_cmd = Trajectory(0.0, NAMES, [0.02, 0.04], np.vstack([Q + 0.002, Q + 0.004]))
    assert sup.command(ramp_cmd, 10.02, A).outputs
    r = sup.tick(10.2)  # joint states 0.2 s old (the old 0.2 s watchdog latched FAULT here)
    assert sup.state is SafetyState.ARMED
    # a controlled stop: sent, or the last output comes to rest within handover_time already
    assert (r.outputs and r.outputs[0].kind in ("stop", "hold")) or sup.output_end() < 10.2 + 0.05
    assert "holding: joint_states stale" in r.message and sup.holding_for_joint_states
    r = sup.command(cmd(0.004), 10.25, A)
    assert not r.ok and not r.outputs and "held back" in r.message
    js(sup, 10.3, Q + 0.004)  # they return: the commander resumes, no reset, no arm
    r = sup.command(cmd(0.005, q=Q), 10.3, A)
    assert r.ok and r.outputs and sup.state is SafetyState.ACTIVE and not sup.holding_for_joint_states
    out = r.outputs[0]
    # the resumed path ramps up from the reference (at rest) within the acceleration limit
    assert np.allclose(out.start_velocity, 0.0)
    assert_output_safe(out, sup.checker.limits)
    assert sup.label == "ACTIVE"
    # a long outage latches
    sup.tick(11.31)
    assert sup.label.startswith("FAULT(joint_states stale (1.010s old), over joint_state_timeout 1.0s")


def test_d6_thresholds_are_validated():
    with pytest.raises(ValueError, match="joint_state_hold_timeout"):
        SupervisorConfig(joint_state_hold_timeout=0.5, joint_state_timeout=0.4).validate()


def test_d8_a_command_longer_than_the_cap_is_refused_naming_the_cap():
    sup = SafetySupervisor(SafetyChecker(ROBOT, SafetyConfig(max_command_points=50)))
    js(sup, 10.0)
    sup.arm(10.0)
    n = 51
    long = Trajectory(0.0, NAMES, 0.01 * np.arange(1, n + 1), np.tile(Q, (n, 1)))
    r = sup.command(long, 10.0, A)
    assert not r.ok and sup.label == "FAULT(command has 51 points, more than max_command_points = 50)"
    assert r.outputs and r.outputs[0].kind == "hold"
    assert SafetyChecker(ROBOT).too_long(10_000) == "command has 10000 points, more than max_command_points = 500"


def test_estop_answers_success_when_the_stop_is_in_force():
    sup = owned()
    r = sup.estop(10.01)
    assert r.ok and "e-stop in force" in r.message and "hold sent" in r.message and "was ACTIVE" in r.message
    assert r.outputs[0].kind == "hold" and sup.label == "FAULT(e-stop: e-stop service)"
    r = sup.estop(10.02)  # again: still in force
    assert r.ok and "was FAULT(e-stop" in r.message
    r = make().estop(1.0)  # nothing measured yet: the stop is still in force (latched), said so
    assert r.ok and "nothing to hold" in r.message


def test_points_inside_the_handover_are_dropped_silently_and_an_empty_command_is_refused_by_name():
    """Issue 17: a normal stream's first point lies inside the bridge's own handover stretch (the previous
    output covers that time): not a late command, so no "skipped ... already in the past". The campaign
    found the first version of this raising IndexError on an empty command (failed closed, wrong reason)."""
    sup = active()
    now = 10.2  # after the first output's longer start stretch, before the command timeout
    js(sup, now)
    times = np.array([0.01, 0.03, 0.05, 0.07])  # 10 ms falls inside the 20 ms handover
    stream = Trajectory(now, NAMES, times, np.tile(Q, (4, 1)))
    reply = sup.command(stream, now)
    assert reply.ok and reply.outputs
    assert not [e.message for e in sup.drain_events() if "past" in e.message]
    empty = Trajectory(now, NAMES, np.zeros(0), np.zeros((0, len(NAMES))))
    reply = sup.command(empty, now + 0.01)
    assert "point" in reply.message and "IndexError" not in reply.message


def test_a_non_finite_point_inside_the_handover_still_faults():
    """The handover trim drops points the previous output covers; it must not drop a NaN unseen (the fault
    campaign's 'command: NaN' went ACTIVE whenever the spoiled point fell inside the 20 ms stretch)."""
    sup = active()
    now = 10.2
    js(sup, now)
    q = np.tile(Q, (4, 1))
    q[0, 2] = np.nan  # the point at 10 ms: inside the handover
    reply = sup.command(Trajectory(now, NAMES, np.array([0.01, 0.03, 0.05, 0.07]), q), now)
    assert not reply.ok and sup.state is SafetyState.FAULT
    assert "non-finite" in sup.fault_reason and "joint3" in sup.fault_reason


def test_a_first_command_out_of_reach_is_refused_while_armed_and_faults_in_motion():
    """Issue 15 family, seen under load (test_smoother_faults): the bridge held on stale joint states (ARMED),
    the smoother's reference ran on, and its next command, out of reach of the arm, latched a FAULT nobody
    caused. While ARMED nothing moves: such a command is refused; the same command in motion still FAULTs."""
    far = Q.copy()
    far[0] += 0.5  # 0.5 rad from the arm at 50 ms: beyond velocity * 0.05 + max_tracking_error
    sup = make()
    js(sup, 10.0)
    assert sup.arm(10.0).ok
    reply = sup.command(cmd(q=far), 10.0)
    assert not reply.ok and not reply.outputs and sup.state is SafetyState.ARMED
    assert "first command refused: first point 0.500 from the measured position of joint1" in reply.message
    assert sup.command(cmd(), 10.1).ok and sup.state is SafetyState.ACTIVE  # starting at the arm: accepted
    sup = active()
    js(sup, 10.2)
    reply = sup.command(cmd(q=far), 10.2)
    assert sup.state is SafetyState.FAULT and "first point 0.500" in sup.fault_reason
