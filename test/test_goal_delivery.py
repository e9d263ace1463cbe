"""GoalDelivery without ROS: every outcome of a FollowJointTrajectory goal, and what the bridge does.

Issue 20's failures, at the core level (the node-level versions run where control_msgs is
installed, test_safety_bridge_lifecycle.py): ACTIVE on commands that never reached the
controller (server missing, start-up race), rejected goals that never FAULT, aborted goals
that go unnoticed, a server killed mid-goal that is noticed only after the 20 s DDS lease,
an e-stop that never cancels the running goal, and a hold that is lost silently.
``supervise`` is the same function the node applies to each report.
"""

from __future__ import annotations

import numpy as np
import pytest

from wam_ros.robot.model import RobotModel
from wam_ros.robot.trajectory import Trajectory
from wam_ros.safety.checks import SafetyChecker
from wam_ros.safety.goal_delivery import (
    STATUS_ABORTED,
    STATUS_CANCELED,
    STATUS_SUCCEEDED,
    DeliveryConfig,
    GoalDelivery,
    Outcome,
    supervise,
)
from wam_ros.safety.supervisor import SafetyState, SafetySupervisor, SupervisorConfig

ROBOT = RobotModel.load()
NAMES = ROBOT.actuated_joints
Q = np.array([0.1, -0.3, 0.5, 0.0, 0.2, -0.1, 0.02])
TARGET = "/arm_controller/follow_joint_trajectory"
DDS_LEASE = 20.0  # s: how long a SIGKILLed server stays in the graph (issue 20: 20.6 s)


def delivery(**cfg) -> GoalDelivery:
    return GoalDelivery(TARGET, DeliveryConfig(**cfg))


class ActionPath:
    """The node's action output without ROS: supervisor outputs -> goals -> reports -> supervisor."""

    def __init__(self, **cfg) -> None:
        self.sup = SafetySupervisor(SafetyChecker(ROBOT), SupervisorConfig(confirm_delivery=True))
        self.d = delivery(**cfg)
        self.goals: list[tuple[int, str]] = []  # (key, kind) in send order
        self.lost: list[str] = []  # "hold not delivered" reports
        self.canceled: list[int] = []

    def js(self, now: float) -> None:
        self.sup.update_joint_state(list(NAMES), Q, None, now)

    def apply(self, reply, now: float) -> None:
        if self.sup.state is SafetyState.FAULT:
            self.canceled += self.d.cancel_all()
        for out in reply.outputs:
            self.goals.append((self.d.sent(out.kind, float(out.trajectory.times[-1]), now), out.kind))

    def handle(self, report, now: float) -> None:
        if report is None:
            return
        if report.stop_lost and self.sup.state is SafetyState.FAULT:
            self.lost.append(report.message)
        if report.cancel:
            self.canceled.append(report.goal)
        reply = supervise(self.sup, report, now)
        if reply is not None:
            self.apply(reply, now)

    def arm_and_command(self, now: float = 10.0) -> int:
        self.js(now)
        assert self.sup.arm(now).ok
        self.apply(self.sup.command(Trajectory(0.0, NAMES, [0.05], Q[None, :]), now), now)
        key, kind = self.goals[-1]
        assert kind == "command"
        return key


# ---------------------------------------------------------------------- ARMED -> ACTIVE only when accepted
def test_armed_becomes_active_only_when_the_controller_accepts_a_command_goal():
    p = ActionPath()
    key = p.arm_and_command(10.0)
    assert p.sup.state is SafetyState.ARMED, "ACTIVE before the controller said it took the command"
    p.handle(p.d.response(key, True, 10.01), 10.01)
    assert p.sup.state is SafetyState.ACTIVE


def test_missing_server_faults_instead_of_going_active():
    """Issue 20: server missing -> 'not available: command not sent' 25x/s while ACTIVE."""
    p = ActionPath()
    p.js(10.0)
    p.sup.arm(10.0)
    reply = p.sup.command(Trajectory(0.0, NAMES, [0.05], Q[None, :]), 10.0)
    assert reply.outputs and p.sup.state is SafetyState.ARMED
    report = p.d.not_sent("command", "no action server", 10.0)
    assert report.fault and report.undelivered and "not sent" in report.message
    p.handle(report, 10.0)
    assert p.sup.state is SafetyState.FAULT and TARGET in p.sup.fault_reason


def test_startup_race_commands_unanswered_never_go_active_and_fault_at_the_response_deadline():
    p = ActionPath(response_timeout=0.5)
    key = p.arm_and_command(10.0)
    assert p.d.check(10.4) == []
    assert p.sup.state is SafetyState.ARMED
    (report,) = p.d.check(10.51)
    assert report.goal == key and report.outcome is Outcome.NO_ANSWER and report.fault
    p.handle(report, 10.51)
    assert p.sup.state is SafetyState.FAULT and "no answer" in p.sup.fault_reason


def test_an_accepted_command_followed_by_a_stop_does_not_confirm():
    """A late acceptance of a command sent before a controlled stop must not bring back ACTIVE."""
    d = delivery()
    cmd = d.sent("command", 0.05, 1.0)
    d.sent("stop", 0.2, 1.01)
    report = d.response(cmd, True, 1.02)
    assert report.outcome is Outcome.ACCEPTED and not report.confirms_command and not report.newest


def test_delivery_confirmed_needs_a_command_sent_since_arming():
    sup = SafetySupervisor(SafetyChecker(ROBOT), SupervisorConfig(confirm_delivery=True))
    sup.update_joint_state(list(NAMES), Q, None, 1.0)
    sup.arm(1.0)
    sup.delivery_confirmed(1.0)
    assert sup.state is SafetyState.ARMED


# ---------------------------------------------------------------------- rejected / aborted / succeeded / canceled
def test_rejected_goal_faults_at_once_with_the_target_named():
    p = ActionPath()
    key = p.arm_and_command()
    report = p.d.response(key, False, 10.01)
    assert report.outcome is Outcome.REJECTED and report.fault and report.undelivered
    p.handle(report, 10.01)
    assert p.sup.state is SafetyState.FAULT and "rejected" in p.sup.fault_reason and TARGET in p.sup.fault_reason
    assert p.goals[-1][1] == "hold", "the fault sends the hold"


def test_aborted_goal_faults_with_the_controllers_error_code_and_string():
    """Issue 20: PATH_TOLERANCE_VIOLATED went unnoticed (results were never read)."""
    p = ActionPath()
    key = p.arm_and_command()
    p.handle(p.d.response(key, True, 10.01), 10.01)
    report = p.d.result(key, STATUS_ABORTED, -4, "Aborted due to path tolerance violation", 10.03)
    assert report.outcome is Outcome.ABORTED and report.fault
    assert report.error_code == -4 and report.error_string == "Aborted due to path tolerance violation"
    p.handle(report, 10.03)
    assert p.sup.state is SafetyState.FAULT
    assert "PATH_TOLERANCE_VIOLATED (-4): Aborted due to path tolerance violation" in p.sup.fault_reason


def test_an_aborted_superseded_goal_still_faults():
    d = delivery()
    a = d.sent("command", 0.05, 1.0)
    d.response(a, True, 1.001)
    b = d.sent("command", 0.05, 1.02)
    d.response(b, True, 1.021)
    report = d.result(a, STATUS_ABORTED, -5, "goal tolerance", 1.03)
    assert report.fault and not report.newest and "GOAL_TOLERANCE_VIOLATED (-5)" in report.message


def test_succeeded_goal_is_fine_and_unknown_codes_are_shown_by_number():
    d = delivery()
    k = d.sent("hold", 0.01, 1.0)
    d.response(k, True, 1.001)
    report = d.result(k, STATUS_SUCCEEDED, 0, "", 1.02)
    assert report.outcome is Outcome.SUCCEEDED and not report.fault and d.in_flight == 0
    k = d.sent("command", 0.05, 2.0)
    d.response(k, True, 2.001)
    assert "error_code (-42)" in d.result(k, STATUS_ABORTED, -42, "", 2.01).message


def test_preempted_goal_is_expected_but_newest_canceled_by_someone_else_faults():
    d = delivery()
    a = d.sent("command", 0.05, 1.0)
    d.response(a, True, 1.001)
    b = d.sent("command", 0.05, 1.02)  # JTC preempts a: CANCELED, INVALID_GOAL, "Current goal cancelled ..."
    preempted = d.result(a, STATUS_CANCELED, -1, "Current goal cancelled due to new incoming action.", 1.021)
    assert preempted.outcome is Outcome.CANCELED and not preempted.fault
    d.response(b, True, 1.022)
    other = d.result(b, STATUS_CANCELED, -1, "Current goal cancelled during deactivate transition.", 1.03)
    assert other.fault and "not by this bridge" in other.message and "deactivate" in other.message


def test_results_for_forgotten_goals_are_ignored():
    d = delivery()
    assert d.response(99, True, 1.0) is None and d.result(99, STATUS_ABORTED, -4, "", 1.0) is None


# ---------------------------------------------------------------------- server killed mid-goal: within the bound
def test_killed_server_mid_goal_faults_within_feedback_timeout_not_the_dds_lease():
    """Issue 20: nothing for 20.6 s after SIGKILL of the server."""
    p = ActionPath(feedback_timeout=0.5)
    key = p.arm_and_command(10.0)
    p.handle(p.d.response(key, True, 10.01), 10.01)
    for t in (10.06, 10.11, 10.16):
        p.d.feedback(key, t)
        assert p.d.check(t) == []
    # killed at 10.16: no feedback, no result, still "available" in the graph
    assert p.d.check(10.6) == []
    (report,) = p.d.check(10.67)
    assert report.outcome is Outcome.NO_FEEDBACK and report.fault
    p.handle(report, 10.67)
    assert p.sup.state is SafetyState.FAULT and "silent" in p.sup.fault_reason
    assert 10.67 - 10.16 < DDS_LEASE


def test_without_feedback_the_result_deadline_follows_the_goals_own_duration():
    d = delivery(feedback_timeout=0.0, result_timeout=0.5)
    k = d.sent("command", 5.0, 0.0)  # a 5 s goal: no fault while it may still be running
    d.response(k, True, 0.01)
    assert d.check(5.0) == []
    assert d.check(5.5) == []
    (report,) = d.check(5.52)
    assert report.outcome is Outcome.NO_RESULT and report.fault and "5.000s command goal" in report.message


def test_goals_sent_into_a_dead_server_fault_at_the_response_deadline():
    d = delivery(response_timeout=0.3)
    d.sent("command", 0.05, 0.0)
    d.sent("command", 0.05, 0.04)
    assert d.check(0.3) == []
    reports = d.check(0.32)
    assert [r.outcome for r in reports] == [Outcome.NO_ANSWER] and reports[0].fault
    assert [r.outcome for r in d.check(0.35)] == [Outcome.NO_ANSWER]
    assert d.in_flight == 0


def test_server_gone_from_the_graph_reports_every_goal_in_flight():
    d = delivery()
    a = d.sent("command", 0.05, 0.0)
    d.response(a, True, 0.01)
    d.sent("hold", 0.01, 0.02)
    reports = d.server_lost(0.03)
    assert [r.outcome for r in reports] == [Outcome.SERVER_GONE] * 2 and all(r.fault for r in reports)
    assert [r.undelivered for r in reports] == [False, True]
    assert reports[1].stop_lost and d.in_flight == 0


@pytest.mark.parametrize("duration", [0.01, 0.05, 1.0, 30.0])
def test_the_documented_bound_is_far_below_the_dds_lease(duration):
    cfg = DeliveryConfig()
    assert cfg.bound(duration) <= 0.5 < DDS_LEASE
    assert DeliveryConfig(feedback_timeout=0.0).bound(0.05) == pytest.approx(2.05)


def test_superseded_goals_are_forgotten_and_the_newest_is_watched():
    d = delivery(response_timeout=0.5, result_timeout=1.0, feedback_timeout=0.5)
    keys = []
    for i in range(50):  # 25 Hz commands, each accepted, none of the preempted results arrives
        k = d.sent("command", 0.05, i * 0.04)
        d.response(k, True, i * 0.04 + 0.002)
        d.feedback(k, i * 0.04 + 0.02)
        keys.append(k)
        assert d.check(i * 0.04 + 0.03) == []
    assert d.in_flight < 50, "superseded goals must not pile up"
    assert d.running()[-1] == keys[-1]


# ---------------------------------------------------------------------- e-stop / FAULT: cancel and hold
def test_estop_cancels_the_running_goal_and_a_pending_one_when_it_is_accepted():
    """Issue 20: the e-stop relied on the hold preempting the running goal."""
    p = ActionPath()
    running = p.arm_and_command(10.0)
    p.handle(p.d.response(running, True, 10.01), 10.01)
    p.apply(p.sup.command(Trajectory(0.0, NAMES, [0.05], Q[None, :]), 10.02), 10.02)
    pending = p.goals[-1][0]
    p.apply(p.sup.estop(10.03), 10.03)
    assert p.sup.state is SafetyState.FAULT
    assert p.canceled == [running], "the running goal is cancelled"
    assert p.goals[-1][1] == "hold", "and the hold goes out after the cancel"
    late = p.d.response(pending, True, 10.04)
    assert late.cancel and not late.confirms_command
    p.handle(late, 10.04)
    assert p.canceled == [running, pending]
    canceled = p.d.result(running, STATUS_CANCELED, 0, "", 10.05)
    assert not canceled.fault, "a goal we cancelled ending CANCELED is expected"


def test_a_hold_that_cannot_be_delivered_in_fault_is_reported_not_faulted_again():
    """Issue 20: after the server died an e-stop faulted, but its hold could not be sent, silently."""
    p = ActionPath()
    p.arm_and_command(10.0)
    p.apply(p.sup.estop(10.1), 10.1)
    assert p.goals[-1][1] == "hold"
    reason = p.sup.fault_reason
    for report in p.d.check(10.7):  # the command and the hold: both unanswered
        p.handle(report, 10.7)
    assert p.sup.fault_reason == reason, "the first reason stays"
    assert len(p.lost) == 1 and "hold goal" in p.lost[0]
    nosend = p.d.not_sent("hold", "no action server", 10.8)
    assert nosend.stop_lost and nosend.fault


def test_config_is_validated():
    with pytest.raises(ValueError, match="response_timeout"):
        DeliveryConfig(response_timeout=0.0).validate()
    with pytest.raises(ValueError, match="feedback_timeout"):
        DeliveryConfig(feedback_timeout=-1.0).validate()
