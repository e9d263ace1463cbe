"""Did the controller get the command? Delivery tracking for FollowJointTrajectory goals.

A goal sent to an action server is not a command the arm follows until the server
has *accepted* it, and it can end in ways a topic publisher never hears of: rejected,
aborted (path or goal tolerance violated), canceled by someone else, or never
answered because the server is gone (a killed process stays "available" in the ROS
graph until its DDS lease runs out, ~20 s). ``GoalDelivery`` is told what the node
sent and what the action client heard, checks deadlines derived from each goal's own
duration, and turns all of it into ``Report`` values saying what happened, whether
the bridge must FAULT, and whether a stop/hold was lost. No ROS types here: the node
feeds it goal status and result codes as integers (the values below are those of
action_msgs/GoalStatus and control_msgs/FollowJointTrajectory.Result).

Rules (docs/safety_bridge.md, "Action output: delivery"):

- every goal must be answered (accepted or rejected) within ``response_timeout``;
- the newest accepted goal must show life, a feedback message or its result, at least
  every ``feedback_timeout`` (joint_trajectory_controller sends feedback at its
  action_monitor_rate, 20 Hz by default); 0 disables this for servers without feedback;
- the newest accepted goal must have its result within its duration + ``result_timeout``;
- a goal superseded by a newer one of ours ends CANCELED (JTC preempts it) and that is
  expected; the newest goal ending CANCELED without our cancel request means something
  else took the controller (another client's goal, controller deactivated): FAULT;
- REJECTED, ABORTED (any goal of ours), no answer, no result, no feedback, server gone
  and "not sent" FAULT. The caller does not fault twice: in FAULT a failure of the hold
  itself is reported as "hold not delivered".
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from wam_ros.safety.supervisor import Reply, SafetyState, SafetySupervisor

# action_msgs/msg/GoalStatus
STATUS_UNKNOWN = 0
STATUS_ACCEPTED = 1
STATUS_EXECUTING = 2
STATUS_CANCELING = 3
STATUS_SUCCEEDED = 4
STATUS_CANCELED = 5
STATUS_ABORTED = 6

# control_msgs/action/FollowJointTrajectory Result.error_code
ERROR_CODES = {
    0: "SUCCESSFUL",
    -1: "INVALID_GOAL",
    -2: "INVALID_JOINTS",
    -3: "OLD_HEADER_TIMESTAMP",
    -4: "PATH_TOLERANCE_VIOLATED",
    -5: "GOAL_TOLERANCE_VIOLATED",
}

STOP_KINDS = ("stop", "hold")  # outputs that bring the arm to rest: losing one is reported as such


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    SUCCEEDED = "succeeded"
    ABORTED = "aborted"
    CANCELED = "canceled"
    NO_ANSWER = "no answer"  # neither accepted nor rejected within response_timeout
    NO_FEEDBACK = "no feedback"  # accepted, unfinished, silent for feedback_timeout
    NO_RESULT = "no result"  # accepted, no result by its end + result_timeout
    SERVER_GONE = "server gone"  # the graph lost the server while the goal was in flight
    NOT_SENT = "not sent"  # no server when it was to be sent


@dataclass(frozen=True)
class DeliveryConfig:
    response_timeout: float = 0.5  # [s] goal sent -> accepted/rejected
    feedback_timeout: float = 0.5  # [s] newest accepted goal silent this long -> FAULT (0: not checked)
    result_timeout: float = 2.0  # [s] after the goal's own duration, its result must be in

    def validate(self) -> DeliveryConfig:
        for name in ("response_timeout", "result_timeout"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"delivery setting {name} = {v!r} must be positive and finite")
        if not (math.isfinite(self.feedback_timeout) and self.feedback_timeout >= 0):
            raise ValueError(f"delivery setting feedback_timeout = {self.feedback_timeout!r} must be >= 0 (0: off)")
        return self

    def bound(self, duration: float) -> float:
        """Longest time a dead server goes unnoticed for a goal of ``duration`` s (docs: the bound)."""
        silent = self.feedback_timeout if self.feedback_timeout > 0 else math.inf
        return max(self.response_timeout, min(silent, duration + self.result_timeout))


@dataclass(frozen=True)
class Report:
    """What happened to one goal, and what it means for the bridge."""

    goal: int
    kind: str  # the supervisor's output kind: "command" | "stop" | "hold"
    outcome: Outcome
    message: str
    fault: bool  # the bridge must FAULT (when it is not already)
    newest: bool  # no goal was sent after this one
    was_accepted: bool  # the controller took this goal (at some point)
    confirms_command: bool = False  # a command goal accepted with no stop/hold sent after it: ARMED -> ACTIVE
    cancel: bool = False  # accepted after a cancel was requested for it: cancel it now
    error_code: int | None = None
    error_string: str = ""

    @property
    def undelivered(self) -> bool:
        """Never accepted: rejected, unanswered, not sent, or the server went away first."""
        return not self.was_accepted

    @property
    def stop_lost(self) -> bool:
        """A stop or hold that the controller did not get: the arm may still follow an older goal."""
        return self.kind in STOP_KINDS and self.undelivered


@dataclass
class _Goal:
    key: int
    kind: str
    duration: float
    sent: float
    accepted: float | None = None
    last_sign: float = -math.inf  # acceptance or last feedback
    cancel_requested: bool = False
    superseded_at: float | None = None


class GoalDelivery:
    """Tracks the goals sent to one action server (``target`` names it in messages).

    Call ``sent`` for each goal, ``response`` / ``feedback`` / ``result`` as the action
    client hears them, ``check`` periodically (deadlines) and ``server_lost`` when the
    graph no longer shows the server. All times are one monotonic clock in seconds.
    """

    def __init__(self, target: str, config: DeliveryConfig | None = None) -> None:
        self.target = target
        self.config = (config or DeliveryConfig()).validate()
        self.counts: Counter[str] = Counter()
        self.last_failure = ""
        self._goals: dict[int, _Goal] = {}
        self._next = 1
        self._newest = 0
        self._last_stop = 0  # key of the newest stop/hold goal sent

    # ------------------------------------------------------------------ queries
    @property
    def in_flight(self) -> int:
        """Goals sent and not finished (pending an answer, or accepted without a result)."""
        return len(self._goals)

    def tracks(self, key: int) -> bool:
        """Whether goal ``key`` is still watched (not finished, given up on or forgotten)."""
        return key in self._goals

    def running(self) -> list[int]:
        """Accepted goals without a result (what a cancel must reach)."""
        return [g.key for g in self._goals.values() if g.accepted is not None]

    # ------------------------------------------------------------------ what the node did
    def sent(self, kind: str, duration: float, now: float) -> int:
        """A goal of ``duration`` s (its last point's time_from_start) was sent; returns its key."""
        key, self._next = self._next, self._next + 1
        for g in self._goals.values():
            if g.superseded_at is None:
                g.superseded_at = now
        self._goals[key] = _Goal(key, kind, max(float(duration), 0.0), now)
        self._newest = key
        if kind in STOP_KINDS:
            self._last_stop = key
        self.counts["sent"] += 1
        return key

    def not_sent(self, kind: str, why: str, now: float, key: int | None = None) -> Report:
        """The goal could not be sent at all (no server, or sending failed: ``key`` from ``sent``)."""
        if key is None:
            key, self._next = self._next, self._next + 1
        else:
            self._goals.pop(key, None)
        return self._report(
            _Goal(key, kind, 0.0, now), Outcome.NOT_SENT, f"{kind} not sent to {self.target}: {why}", fault=True,
            newest=True,
        )  # fmt: skip

    def cancel_all(self) -> list[int]:
        """Request that every goal of ours stop: returns the accepted ones to cancel now.

        Goals still waiting for their answer are cancelled when accepted (``Report.cancel``).
        Their CANCELED results are then expected, not a fault.
        """
        for g in self._goals.values():
            g.cancel_requested = True
        return self.running()

    def clear(self) -> None:
        """Forget every goal (the action client is being destroyed)."""
        self._goals.clear()

    # ------------------------------------------------------------------ what the client heard
    def response(self, key: int, accepted: bool, now: float) -> Report | None:
        """The server answered the goal request (None: a goal already given up on)."""
        g = self._goals.get(key)
        if g is None:
            return None
        if not accepted:
            del self._goals[key]
            return self._report(
                g, Outcome.REJECTED,
                f"{g.kind} goal rejected by {self.target} (the action protocol gives no reason: see the controller's "
                "log, e.g. joint names, time_from_start, non-zero final velocity, controller inactive)",
                fault=True,
            )  # fmt: skip
        g.accepted = g.last_sign = now
        confirms = g.kind == "command" and key > self._last_stop
        return self._report(g, Outcome.ACCEPTED, f"{g.kind} goal accepted by {self.target}", fault=False,
                            confirms=confirms, cancel=g.cancel_requested)  # fmt: skip

    def feedback(self, key: int, now: float) -> None:
        g = self._goals.get(key)
        if g is not None:
            g.last_sign = now

    def result(self, key: int, status: int, error_code: int, error_string: str, now: float) -> Report | None:
        """The goal finished with ``status`` (GoalStatus) and the server's error_code/error_string."""
        g = self._goals.pop(key, None)
        if g is None:
            return None
        code = f"{ERROR_CODES.get(error_code, 'error_code')} ({error_code})"
        why = f"{code}: {error_string}" if error_string else code
        if status == STATUS_SUCCEEDED:
            return self._report(g, Outcome.SUCCEEDED, f"{g.kind} goal succeeded", False, error_code, error_string)
        if status == STATUS_ABORTED:
            return self._report(g, Outcome.ABORTED, f"{self.target} aborted the {g.kind} goal: {why}", True,
                                error_code, error_string)  # fmt: skip
        if status == STATUS_CANCELED:
            expected = g.cancel_requested or g.superseded_at is not None
            msg = f"{g.kind} goal canceled" + (
                "" if expected else f" by {self.target}, not by this bridge (another client or a controller switch?)"
            )
            return self._report(g, Outcome.CANCELED, f"{msg}: {why}", not expected, error_code, error_string)
        return self._report(g, Outcome.ABORTED, f"{self.target} ended the {g.kind} goal with status {status}: {why}",
                            True, error_code, error_string)  # fmt: skip

    def server_lost(self, now: float) -> list[Report]:
        """The graph shows no server: every goal in flight is lost."""
        out = [self._report(g, Outcome.SERVER_GONE, f"{self.target} gone with the {g.kind} goal in flight", True)
               for g in self._goals.values()]  # fmt: skip
        self._goals.clear()
        return out

    # ------------------------------------------------------------------ deadlines
    def check(self, now: float) -> list[Report]:
        """Deadline reports (each goal reported once, then forgotten)."""
        c = self.config
        out: list[Report] = []
        for g in list(self._goals.values()):
            report = None
            if g.accepted is None:
                if now - g.sent > c.response_timeout:
                    report = self._report(
                        g, Outcome.NO_ANSWER,
                        f"no answer from {self.target} to a {g.kind} goal within {c.response_timeout:.3g}s "
                        "(response_timeout): server gone or overloaded",
                        True,
                    )  # fmt: skip
            elif g.superseded_at is not None:
                # a superseded goal's result (CANCELED by the preemption) is only read for an ABORTED;
                # the newest goal's deadlines watch the server
                if now - g.superseded_at > c.response_timeout + c.result_timeout:
                    del self._goals[g.key]
            elif c.feedback_timeout > 0 and now - g.last_sign > c.feedback_timeout:
                report = self._report(
                    g, Outcome.NO_FEEDBACK,
                    f"{self.target} silent for {now - g.last_sign:.3f}s during a {g.kind} goal (feedback_timeout "
                    f"{c.feedback_timeout:.3g}s): server gone?",
                    True,
                )  # fmt: skip
            elif now - g.accepted > g.duration + c.result_timeout:
                report = self._report(
                    g, Outcome.NO_RESULT,
                    f"no result from {self.target} {now - g.accepted - g.duration:.3f}s after the end of a "
                    f"{g.duration:.3f}s {g.kind} goal (result_timeout {c.result_timeout:.3g}s): server gone?",
                    True,
                )  # fmt: skip
            if report is not None:
                self._goals.pop(g.key, None)
                out.append(report)
        return out

    # ------------------------------------------------------------------ internals
    def _report(self, g: _Goal, outcome: Outcome, message: str, fault: bool, error_code: int | None = None,
                error_string: str = "", confirms: bool = False, cancel: bool = False,
                newest: bool | None = None) -> Report:  # fmt: skip
        self.counts[outcome.value] += 1
        if fault:
            self.last_failure = message
        return Report(
            goal=g.key,
            kind=g.kind,
            outcome=outcome,
            message=message,
            fault=fault,
            newest=g.key == self._newest if newest is None else newest,
            was_accepted=g.accepted is not None,
            confirms_command=confirms,
            cancel=cancel,
            error_code=error_code,
            error_string=error_string,
        )


def supervise(sup: SafetySupervisor, report: Report, now: float) -> Reply | None:
    """What ``report`` means for the supervisor; returns the Reply the node applies (None: no change).

    An accepted command goal confirms delivery (ARMED -> ACTIVE with ``confirm_delivery``);
    a failure FAULTs (which sends the hold) unless the bridge is in FAULT already, where
    the node reports a lost hold instead (``Report.stop_lost``).
    """
    if report.confirms_command:
        return sup.delivery_confirmed(now)
    if report.fault and sup.state is not SafetyState.FAULT:
        return sup.fault(report.message, now)
    return None
