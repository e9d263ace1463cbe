"""SafetySupervisor without ROS: states, latches, watchdogs, rate limit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wam_ros.robot.model import RobotModel
from wam_ros.robot.trajectory import Trajectory
from wam_ros.safety.checks import SafetyChecker
from wam_ros.safety.supervisor import SafetyState, SafetySupervisor, SupervisorConfig

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
    sup = make(joint_state_timeout=0.2)
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
    sup = active(now=10.0, joint_state_timeout=0.2)
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
    # the newest command won (its first point lies toward +0.002)
    assert r.outputs[0].trajectory.positions[-1, 0] == pytest.approx(Q[0] + 0.002, abs=1e-9)


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
    ref_q, ref_v = sup.reference(10.02)
    js(sup, 10.02)
    r = sup.command(cmd(0.002), 10.02)
    np.testing.assert_allclose(r.outputs[0].start_position, ref_q)
    np.testing.assert_allclose(r.outputs[0].start_velocity, ref_v)
    assert not first.outputs or first.outputs[0].kind == "command"
