"""The safety bridge's state machine: who may move the arm, and what happens when input fails.

DISARMED -> (arm) -> ARMED -> (first command starting near the measured position)
-> ACTIVE. FAULT latches until ``reset`` (-> DISARMED); the e-stop latches as a FAULT
and cannot be reset while the e-stop input is still asserted.

**One commander per armed session.** Every command carries its ``source`` (the node
passes the publisher's GID). The first source whose command is sent owns the session
until disarm, FAULT or reset; commands from any other source are refused before they
are checked (they cannot fault the session either), counted per source and named in
an event (issue 15, D2).

**Two clocks.** ``now`` is the node clock (ROS time, simulated under use_sim_time): the
output paths, command stamps and joint-state stamps live on it. ``steady`` is a
monotonic clock of *arrival*: every watchdog measures on it, so a frozen /clock cannot
blind them (issue 15, D5). Callers with one clock may omit ``steady`` (it is then
``now``). Watchdogs:

- joint states older (by arrival) than ``joint_state_hold_timeout`` while ACTIVE ->
  controlled stop, ARMED; commands are held back until they are fresh again, then the
  session's commander may resume (its first command must start near the measured
  position, the path ramps up within the limits). Older than ``joint_state_timeout`` ->
  FAULT + hold (issue 15, D6: transient staleness under load no longer latches);
- joint states stamped more than ``max_joint_state_skew`` from the node clock are
  refused with that reason (a clock or time-base mismatch): they count as missing;
- no command for ``command_timeout`` while ACTIVE -> controlled stop, back to ARMED
  (the next command must again start within ``max_start_deviation``);
- deadman (optional) released or silent for ``deadman_timeout`` -> controlled stop.

Every method takes ``now`` and returns a ``Reply`` whose ``outputs`` the node sends to
the controller; transitions, clamps and rejections are queued as ``Event`` values for
/diagnostics and the log. No ROS types here.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from wam_ros.robot.trajectory import Trajectory
from wam_ros.safety.checks import CheckResult, SafetyChecker, Verdict
from wam_ros.safety.path import END_TOL, sample

#: [s] the first output of a session holds the measured state this long before it moves (see _handover).
FIRST_HANDOVER = 0.1


class SafetyState(StrEnum):
    DISARMED = "DISARMED"
    ARMED = "ARMED"
    ACTIVE = "ACTIVE"
    FAULT = "FAULT"


@dataclass(frozen=True)
class SupervisorConfig:
    command_timeout: float = 0.3  # [s] ACTIVE without a command -> controlled stop
    # joint states older than this (steady clock of arrival) -> controlled stop, commands held until fresh
    joint_state_hold_timeout: float = 0.25
    joint_state_timeout: float = 1.0  # [s] older -> FAULT (a long outage); arming needs < hold timeout
    max_joint_state_skew: float = 0.5  # [s] joint states stamped further from the node clock are refused
    max_start_deviation: float = 0.1  # [rad|m] first command's first point vs measured position
    max_output_rate: float = 100.0  # [Hz] commands faster than this are queued (newest wins)
    # [s] each output follows the previous one this long before it changes anything, so a controller
    # that receives it up to this late takes it over without a step (delivery delay; docs)
    handover_time: float = 0.02
    deadman: bool = False
    deadman_timeout: float = 0.3  # [s] deadman heartbeat must be newer than this
    # ARMED -> ACTIVE only on delivery_confirmed() (action output: the controller accepted a goal);
    # False: on the first command sent (topic outputs cannot know)
    confirm_delivery: bool = False

    def validate(self) -> SupervisorConfig:
        for name in (
            "command_timeout",
            "joint_state_hold_timeout",
            "joint_state_timeout",
            "max_joint_state_skew",
            "max_start_deviation",
            "max_output_rate",
            "deadman_timeout",
            "handover_time",
        ):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"supervisor setting {name} = {v!r} must be positive and finite")
        if self.joint_state_hold_timeout >= self.joint_state_timeout:
            raise ValueError(
                f"joint_state_hold_timeout ({self.joint_state_hold_timeout}) must be shorter than "
                f"joint_state_timeout ({self.joint_state_timeout}): a short outage holds, only a long one faults"
            )
        return self


@dataclass(frozen=True)
class CommandSource:
    """Who sent a command: ``id`` is its identity (the publisher GID), ``name`` only for messages."""

    id: str
    name: str = field(default="", compare=False)

    def __str__(self) -> str:
        return f"{self.name} (publisher {self.id})" if self.name else f"publisher {self.id}"


#: The source of commands that arrive without one (callers that cannot tell publishers apart).
ANONYMOUS = CommandSource("anonymous", "an unidentified sender")


@dataclass(frozen=True)
class Output:
    """A trajectory for the controller (controller joint order; ``stamp`` = send time, times relative).

    ``trajectory`` carries positions and the path's velocities; with the start state it
    defines the C1 path the controller executes (wam_ros.safety.path).
    """

    kind: str  # "command" | "stop" | "hold"
    trajectory: Trajectory
    reason: str
    start_position: np.ndarray  # the path's first segment starts here (for JTC: the current reference)
    start_velocity: np.ndarray
    start_acceleration: np.ndarray | None = None


@dataclass(frozen=True)
class Event:
    level: str  # "info" | "warn" | "error"
    message: str
    time: float
    repeating: bool = False  # per-command clamps/drops/bad joint states: may arrive at the command rate
    key: str = ""  # repeating events with one key are throttled together (default: one key for all)


@dataclass(frozen=True)
class Reply:
    ok: bool
    message: str
    outputs: tuple[Output, ...] = ()


@dataclass
class _Measured:
    position: np.ndarray | None = None
    velocity: np.ndarray | None = None
    steady: float = -math.inf  # arrival, steady clock


@dataclass
class _Reference:
    """The last output as a C1 path from its start point (wam_ros.safety.path)."""

    stamp: float
    times: np.ndarray  # (N+1,) from 0
    positions: np.ndarray  # (N+1, J) start point first
    velocities: np.ndarray  # (N+1, J)

    @property
    def end(self) -> float:
        return self.stamp + float(self.times[-1])

    def sample(self, now: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return sample(self.times, self.positions, self.velocities, now - self.stamp)


@dataclass
class SafetySupervisor:
    checker: SafetyChecker
    config: SupervisorConfig = field(default_factory=SupervisorConfig)

    def __post_init__(self) -> None:
        self.config.validate()
        self.state = SafetyState.DISARMED
        self.fault_reason = ""
        self.counts: Counter[str] = Counter()
        self.owner: CommandSource | None = None  # this armed session's commander
        self.refused_sources: Counter[CommandSource] = Counter()  # other commanders refused this session
        self.last_joint_state_refusal = ""
        self._refused_since_accepted = False  # the last refusal came after the last usable joint state
        self._events: list[Event] = []
        self._measured = _Measured()
        self._ref: _Reference | None = None
        self._committed = -math.inf  # node time until which the last output copies its predecessor
        self._steady = -math.inf  # steady time of the input being handled
        self._last_command = -math.inf  # steady
        self._last_send = -math.inf  # steady
        self._pending: tuple[Trajectory, CommandSource] | None = None
        self._sent_since_armed = False
        self._stale_hold = False  # a stale-state hold is in force (commands held back until fresh)
        self._surprise_hold = ""  # why a surprise hold is in force ("": none): commands held back until it clears
        self._user_scaling = self.checker.speed_scaling  # speed_scaling as set; times the surprise factor
        self._surprise_factor = 1.0
        self._estop_latched = False
        self._estop_input = False
        self._deadman = (False, -math.inf)
        self._names = self.checker.joint_names

    # ------------------------------------------------------------------ state
    @property
    def label(self) -> str:
        """The state as published on /wam/safety_state: DISARMED / ARMED / ACTIVE / FAULT(<reason>)."""
        return f"FAULT({self.fault_reason})" if self.state is SafetyState.FAULT else self.state.value

    @property
    def holding_for_joint_states(self) -> bool:
        """A stale-state hold is in force: commands wait for fresh joint states."""
        return self._stale_hold

    def drain_events(self) -> list[Event]:
        out, self._events = self._events, []
        return out

    def measured_position(self) -> np.ndarray | None:
        return None if self._measured.position is None else self._measured.position.copy()

    def joint_state_age(self, steady: float) -> float:
        """Seconds (steady clock) since the last usable joint state arrived (inf: none yet)."""
        return steady - self._measured.steady

    def joint_states_fresh(self, now: float, steady: float | None = None) -> bool:
        """Fresh enough to move on: younger than ``joint_state_hold_timeout``."""
        t = now if steady is None else steady
        return self._measured.position is not None and self.joint_state_age(t) <= self.config.joint_state_hold_timeout

    def reference(self, now: float) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(position, velocity, acceleration) the controller follows now: the last output, else the
        measured state (at rest as far as acceleration goes)."""
        if self._ref is not None:
            return self._ref.sample(now)
        if self._measured.position is None:
            return None
        n = len(self._names)
        v = self._measured.velocity if self._measured.velocity is not None else np.zeros(n)
        return self._measured.position.copy(), v.copy(), np.zeros(n)

    def output_end(self) -> float | None:
        """When the last output reaches rest (None when nothing was sent since arming)."""
        return None if self._ref is None else self._ref.end

    # ------------------------------------------------------------------ inputs
    def update_joint_state(
        self,
        names: list[str] | tuple[str, ...],
        positions: np.ndarray,
        velocities: np.ndarray | None,
        now: float,
        steady: float | None = None,
        stamp: float | None = None,
    ) -> None:
        """Store the measured state (arrived at ``steady``, stamped ``stamp`` on the sender's clock).

        A message missing controller joints, with NaN positions or stamped more than
        ``max_joint_state_skew`` from the node clock is refused (it goes stale) and the
        reason kept for the messages that follow (arming refused, stale, FAULT).
        """
        self._at(now, steady)
        if stamp is not None and not abs(now - stamp) <= self.config.max_joint_state_skew:
            off = now - stamp
            when = "before" if off > 0 else "after"
            self._refuse_joint_state(
                f"joint_states stamped {abs(off):.4g}s {when} the node clock (max_joint_state_skew "
                f"{self.config.max_joint_state_skew}s): another clock or time base? (use_sim_time, /clock)",
                now,
            )
            return
        idx = {n: i for i, n in enumerate(names)}
        missing = [n for n in self._names if n not in idx]
        if missing or len(positions) != len(names):
            self._refuse_joint_state(f"joint_states ignored: missing joint(s) {missing} or ragged arrays", now)
            return
        order = [idx[n] for n in self._names]
        q = np.asarray(positions, dtype=float)[order]
        if not np.all(np.isfinite(q)):
            self._refuse_joint_state("joint_states ignored: non-finite position", now)
            return
        v = None
        if velocities is not None and len(velocities) == len(names):
            v = np.asarray(velocities, dtype=float)[order]
            v = np.where(np.isfinite(v), v, 0.0)
        self._measured = _Measured(q, v, self._steady)
        self._refused_since_accepted = False

    def set_deadman(self, pressed: bool, now: float, steady: float | None = None) -> None:
        self._at(now, steady)
        self._deadman = (bool(pressed), self._steady)

    def deadman_held(self, now: float, steady: float | None = None) -> bool:
        t = now if steady is None else steady
        pressed, since = self._deadman
        return (not self.config.deadman) or (pressed and t - since <= self.config.deadman_timeout)

    def set_estop_input(self, active: bool, now: float, steady: float | None = None) -> Reply:
        """The /wam/estop topic: True triggers (and keeps) the e-stop; False only allows a reset."""
        self._at(now, steady)
        self._estop_input = bool(active)
        if active and not (self._estop_latched and self.state is SafetyState.FAULT):
            return self.estop(now, "e-stop topic")
        return Reply(True, "e-stop input " + ("asserted" if active else "released"))

    def set_speed_scaling(self, value: float, now: float, steady: float | None = None) -> Reply:
        self._at(now, steady)
        self.checker.speed_scaling = value * self._surprise_factor
        self._user_scaling = value
        self._event("info", f"speed_scaling = {value:.3f}", now)
        if value == 0.0 and self.state is SafetyState.ACTIVE:
            return self._controlled_stop(now, "speed_scaling set to 0", SafetyState.ARMED)
        return Reply(True, f"speed_scaling = {value:.3f}")

    # ------------------------------------------------------------------ surprise (the WAM's prediction vs reality)
    @property
    def surprise_hold(self) -> str:
        """Why a surprise hold is in force ("" when none)."""
        return self._surprise_hold

    @property
    def surprise_factor(self) -> float:
        """The surprise slow-down on top of speed_scaling (1: none)."""
        return self._surprise_factor

    def set_surprise_slow(self, factor: float, reason: str, now: float, steady: float | None = None) -> Reply:
        """Scale every command's speed by ``factor`` (1: no slow-down) on top of speed_scaling, while
        the surprise alarm asks for it; ``reason`` names why, for the event."""
        self._at(now, steady)
        if not 0.0 < factor <= 1.0:
            raise ValueError(f"surprise slow factor {factor} must be within (0, 1]")
        if factor != self._surprise_factor:
            self._surprise_factor = factor
            self.checker.speed_scaling = self._user_scaling * factor
            self._event("warn" if factor < 1.0 else "info",
                        f"{reason}: speed x{factor:.2f}" if factor < 1.0 else f"{reason}: full speed again", now)
        return Reply(True, f"speed_scaling = {self.checker.speed_scaling:.3f}")

    def set_surprise_hold(self, reason: str, now: float, steady: float | None = None) -> Reply:
        """``reason`` non-empty: controlled stop and hold, commands held back until it is cleared with "";
        then the session's commander may resume (its first command must start near the measured position)."""
        self._at(now, steady)
        before, self._surprise_hold = self._surprise_hold, reason
        if reason and not before:
            if self.state is SafetyState.ACTIVE:
                return self._controlled_stop(now, f"holding: {reason}", SafetyState.ARMED)
            self._event("warn", f"surprise hold: {reason}", now)
        elif before and not reason:
            self._event("info", "surprise alarm cleared: commands accepted (the first must start near the "
                                "measured position)", now)  # fmt: skip
        return Reply(True, f"holding: {reason}" if reason else "no surprise hold")

    # ------------------------------------------------------------------ services
    def arm(self, now: float, steady: float | None = None) -> Reply:
        self._at(now, steady)
        if self.state is SafetyState.FAULT:
            return Reply(False, f"cannot arm in {self.label}: call reset first")
        if self.state in (SafetyState.ARMED, SafetyState.ACTIVE):
            return Reply(True, f"already {self.state.value}")
        if not self.joint_states_fresh(now, self._steady):
            limit = self.config.joint_state_hold_timeout
            why = f"{self._joint_state_problem()} (need < joint_state_hold_timeout {limit}s)"
            self._event("warn", f"arming refused: {why}", now)
            return Reply(False, f"arming refused: {why}")
        self._ref = None
        self._pending = None
        self._new_session()
        self.refused_sources.clear()
        self._transition(SafetyState.ARMED, "armed by request", now)
        return Reply(True, "ARMED")

    def disarm(self, now: float, steady: float | None = None) -> Reply:
        self._at(now, steady)
        if self.state is SafetyState.FAULT:
            return Reply(False, f"in {self.label}: call reset (disarm does not clear a fault)")
        if self.state is SafetyState.DISARMED:
            return Reply(True, "already DISARMED")
        reply = self._controlled_stop(now, "disarmed by request", SafetyState.DISARMED)
        self._new_session()
        return reply

    def reset(self, now: float, steady: float | None = None) -> Reply:
        self._at(now, steady)
        if self.state is not SafetyState.FAULT:
            return Reply(True, f"nothing to reset ({self.state.value})")
        if self._estop_input:
            return Reply(False, "e-stop input is still asserted: release it first")
        self._estop_latched = False
        self._ref = None
        self._pending = None
        self._new_session()
        self._transition(SafetyState.DISARMED, f"reset from FAULT({self.fault_reason})", now)
        self.fault_reason = ""
        return Reply(True, "DISARMED (re-arm to move)")

    def estop(self, now: float, reason: str = "e-stop service", steady: float | None = None) -> Reply:
        """Stop and latch. ``ok`` says whether the stop is in force (it always is once this returns);
        the message says what happened."""
        self._at(now, steady)
        before = self.label
        self._estop_latched = True
        reply = self._fault(now, f"e-stop: {reason}")
        held = "hold sent at the measured position" if reply.outputs else "no joint_states yet: nothing to hold"
        return Reply(True, f"e-stop in force: {held}; FAULT latched until reset (was {before})", reply.outputs)

    def fault(self, reason: str, now: float, steady: float | None = None) -> Reply:
        """A failure the node saw (an output failure: goal rejected/aborted, controller gone; a
        callback that raised): FAULT + hold. Already in FAULT: nothing changes (the first reason stays)."""
        self._at(now, steady)
        if self.state is SafetyState.FAULT:
            return Reply(False, f"already {self.label}")
        return self._fault(now, reason)

    def delivery_confirmed(self, now: float, steady: float | None = None) -> Reply:
        """The controller accepted a command sent in this ARMED phase (config.confirm_delivery): ACTIVE."""
        self._at(now, steady)
        if self.state is SafetyState.ARMED and self._sent_since_armed:
            self._transition(SafetyState.ACTIVE, "first command accepted by the controller", now)
            return Reply(True, "ACTIVE")
        return Reply(True, self.label)

    # ------------------------------------------------------------------ commands and time
    def command(
        self, traj: Trajectory, now: float, source: CommandSource | None = None, steady: float | None = None
    ) -> Reply:
        """A command from /wam/command: checked, then sent (or queued by the rate limit)."""
        self._at(now, steady)
        source = source or ANONYMOUS
        if self.state is SafetyState.FAULT:
            return self._drop(f"command ignored in {self.label}", now, quiet=True)
        if self.state is SafetyState.DISARMED:
            return self._drop("command ignored: DISARMED (call ~/arm)", now, quiet=True)
        foreign = self._refuse_foreign(source, now)
        if foreign is not None:
            return foreign
        stale = self._watch_joint_states(now)
        if stale is not None:
            return stale
        if not self.deadman_held(now, self._steady):
            return self._drop("command ignored: deadman not held", now)
        if self._surprise_hold:
            return self._drop(f"command held back: {self._surprise_hold}", now)
        if self._steady - self._last_send < 1.0 / self.config.max_output_rate:
            res = self._check(traj, now)[0]
            if res.fault:
                return self._refuse_or_fault(res, now)
            self._pending = (traj, source)  # newest wins; re-checked against the reference when sent
            return Reply(True, "queued by the output rate limit")
        return self._send_command(traj, source, now)

    def malformed(
        self, reason: str, now: float, source: CommandSource | None = None, steady: float | None = None
    ) -> Reply:
        """A command that could not even be converted (ragged arrays, too many points): FAULT when
        armed, unless it comes from another commander (then it is refused as such)."""
        self._at(now, steady)
        if self.state in (SafetyState.ARMED, SafetyState.ACTIVE):
            foreign = self._refuse_foreign(source or ANONYMOUS, now)
            if foreign is not None:
                return foreign
            self.counts[Verdict.REJECTED.value] += 1
            return self._fault(now, reason)
        return self._drop(reason, now)

    def tick(self, now: float, steady: float | None = None) -> Reply:
        """Watchdogs and the rate-limited queue; call at the output rate on a steady timer."""
        self._at(now, steady)
        if self.state not in (SafetyState.ARMED, SafetyState.ACTIVE):
            return Reply(True, self.label)
        stale = self._watch_joint_states(now)
        if stale is not None:
            return stale
        if self.state is SafetyState.ACTIVE:
            if not self.deadman_held(now, self._steady):
                return self._controlled_stop(now, "deadman released", SafetyState.ARMED)
            age = self._steady - self._last_command
            if age > self.config.command_timeout:
                return self._controlled_stop(now, f"no command for {age:.3f}s (timeout)", SafetyState.ARMED)
        if self._pending is not None and self._steady - self._last_send >= 1.0 / self.config.max_output_rate:
            (traj, source), self._pending = self._pending, None
            return self._send_command(traj, source, now)
        return Reply(True, self.label)

    # ------------------------------------------------------------------ internals
    def _at(self, now: float, steady: float | None) -> None:
        self._steady = now if steady is None else steady

    def _new_session(self) -> None:
        """The armed session ends (disarm, FAULT, reset): no commander, no hold (refusals stay on
        record until the next arm)."""
        self.owner = None
        self._stale_hold = False

    def _refuse_foreign(self, source: CommandSource, now: float) -> Reply | None:
        """None if ``source`` may command this session; else the refusal (counted, named)."""
        if self.owner is None or source == self.owner:
            return None
        first = source not in self.refused_sources
        n = self.refused_sources.pop(source, 0)  # re-keyed: the latest name the node found for it is kept
        self.refused_sources[source] = n + 1
        self.counts["refused_other_commander"] += 1
        reason = (
            f"command from {source} refused: this armed session's commander is {self.owner} "
            "(one commander per session; disarm and arm to change it)"
        )
        # the first refusal of each source is reported at once; the rest are throttled per source
        self._event("warn", reason, now, repeating=not first, key=f"foreign {source.id}")
        return Reply(False, reason)

    def _handover(self, now: float) -> tuple[_Reference, tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
        """The path a new output starts with: the previous output over [now, now + handover_time].

        Returns that stretch (knots relative to ``now``, ending at ``handover_time``) and the
        states (q, v, a) at its start and end. A controller that receives the new output
        up to ``handover_time`` late is still on this stretch, so it takes the output over
        exactly where the bridge planned it (a later arrival: the difference is second
        order in the delay, docs). Without a previous output: the measured state.
        """
        h = self.config.handover_time
        start = self.reference(now)
        assert start is not None
        if self._ref is None:
            # the first output of a session starts at rest at the measured position (a controller that
            # was given nothing holds its own reference there, up to its tracking error); a longer first
            # stretch keeps its correction of that difference gentle (6 e / T^2: 0.06 rad/s^2 for 0.1 mrad)
            h = max(h, FIRST_HANDOVER)
            q, z = start[0], np.zeros_like(start[0])
            rest = (q, z, z)
            return _Reference(now, np.array([0.0, h]), np.vstack([q, q]), np.vstack([z, z])), rest, rest
        # never cut into the stretch the last output began with (the controller may still be taking it
        # over), and end on one of the old path's knots, so no segment of it is cut short
        h = max(h, self._committed - now)
        knots = self._ref.stamp + self._ref.times
        later = np.flatnonzero(knots >= now + h - END_TOL)
        if len(later):
            k = int(later[0])
        elif knots[-1] > now + END_TOL:  # it comes to rest sooner: the stretch ends there, at rest
            k = len(knots) - 1
        else:
            k = -1  # it is at rest already
        if k >= 0:
            # that knot's state as sent, not the path re-evaluated at now + h, which rounding may put a
            # hair before the knot: on the last one that left -1.7e-14 rad/s, and a stop of an output
            # that already ends at rest there (test_deadman_and_timeouts)
            h = float(knots[k] - now)
            end = (self._ref.positions[k].copy(), self._ref.velocities[k].copy())
        else:
            end = self._ref.sample(now + h)
        inside = (knots > now + END_TOL) & (knots < now + h - END_TOL)
        times = np.concatenate([[0.0], knots[inside] - now, [h]])
        pos = np.vstack([start[0][None, :], self._ref.positions[inside], end[0][None, :]])
        vel = np.vstack([start[1][None, :], self._ref.velocities[inside], end[1][None, :]])
        # the acceleration the stretch ends with (at a knot of the old path, sample() gives the next one's)
        end = (end[0], end[1], (vel[-1] - vel[-2]) / (times[-1] - times[-2]))
        return _Reference(now, times, pos, vel), start, end

    def _check(self, traj: Trajectory, now: float) -> tuple[CheckResult, _Reference, tuple[np.ndarray, ...]]:
        """The command checked from where the handover stretch ends (``now + handover_time``)."""
        stretch, start, end = self._handover(now)
        assert self._measured.position is not None
        h = float(stretch.times[-1])
        res = self.checker.check(traj, now + h, self._measured.position, end[0], end[1], end[2], handover_from=now)
        return res, stretch, start

    def _after(self, kind: str, stretch: _Reference, start: tuple[np.ndarray, ...], traj: Trajectory, reason: str,
               now: float) -> Output:  # fmt: skip
        """Emit ``traj`` (planned from the end of ``stretch``) preceded by ``stretch``."""
        h = float(stretch.times[-1])
        assert traj.velocities is not None
        joined = Trajectory(
            now, self._names, np.concatenate([stretch.times[1:], h + traj.times]),
            np.vstack([stretch.positions[1:], traj.positions]), np.vstack([stretch.velocities[1:], traj.velocities]),
        )  # fmt: skip
        out = self._emit(kind, joined, start[0], start[1], reason, now, start[2])
        self._committed = now + h
        return out

    def _send_command(self, traj: Trajectory, source: CommandSource, now: float) -> Reply:
        res, stretch, start = self._check(traj, now)
        self.counts[res.verdict.value] += 1
        if res.fault:
            return self._refuse_or_fault(res, now)
        if not res.sendable:
            return self._drop("command dropped: " + "; ".join(res.reasons), now)
        assert res.trajectory is not None and res.first_requested is not None and res.start_position is not None
        if self.state is SafetyState.ARMED:
            dev = np.abs(res.first_requested - self._measured.position)
            if np.max(dev) > self.config.max_start_deviation:
                c = int(np.argmax(dev))
                return self._drop(
                    f"first command refused: starts {dev[c]:.3f} from the measured position of {self._names[c]} "
                    f"(max_start_deviation {self.config.max_start_deviation})",
                    now,
                )
            if self.owner is None:
                self.owner = source
                self._event("info", f"commander of this session: {self.owner}", now)
            self._sent_since_armed = True
            if not self.config.confirm_delivery:
                self._transition(SafetyState.ACTIVE, "first command accepted", now)
        if res.verdict is Verdict.CLAMPED:
            self._event("warn", "command clamped: " + "; ".join(res.reasons), now, True, key="clamped")
        self._last_command = self._steady
        out = self._after("command", stretch, start, res.trajectory, "; ".join(res.reasons), now)
        return Reply(True, res.verdict.value, (out,))

    def _refuse_or_fault(self, res: CheckResult, now: float) -> Reply:
        """FAULT + hold on a rejected command; but a command that only starts out of the arm's reach, while
        ARMED (nothing sent this session, or holding after stale joint states), is refused like any first
        command that does not start at the arm: nothing moved, and the commander re-plans from the measured
        state (a smoother whose reference ran on while the bridge held must not latch a FAULT nobody caused)."""
        if res.beyond_reach and self.state is SafetyState.ARMED:
            return self._drop(f"first command refused: {res.reasons[0]}", now)
        return self._fault(now, res.reasons[0])

    def _emit(
        self,
        kind: str,
        traj: Trajectory,
        start_q: np.ndarray,
        start_v: np.ndarray | None,
        reason: str,
        now: float,
        start_a: np.ndarray | None = None,
    ) -> Output:
        v = np.zeros_like(start_q) if start_v is None else start_v
        a = np.zeros_like(start_q) if start_a is None else start_a
        knots_v = traj.velocities if traj.velocities is not None else np.zeros_like(traj.positions)
        self._committed = -math.inf  # a hold or a stop: _after sets it for outputs that begin with a stretch
        self._ref = _Reference(
            traj.stamp,
            np.concatenate([[0.0], traj.times]),
            np.vstack([start_q[None, :], traj.positions]),
            np.vstack([v[None, :], knots_v]),
        )
        self._last_send = self._steady
        self.counts[kind] += 1
        return Output(kind, traj, reason, start_q.copy(), v.copy(), a.copy())

    def _hold(self, now: float, reason: str) -> tuple[Output, ...]:
        q = self._measured.position
        if q is None:
            return ()
        traj = self.checker.hold(q, now)
        return (self._emit("hold", traj, traj.positions[0], None, reason, now),)

    def _controlled_stop(self, now: float, reason: str, to: SafetyState) -> Reply:
        self._pending = None
        outputs: tuple[Output, ...] = ()
        if self.reference(now) is not None:
            stretch, start, end = self._handover(now)
            if np.all(np.abs(stretch.velocities) < 1e-9):
                outputs = self._hold(now, reason)
            else:
                # else the last output comes to rest within the stretch: it is the stop already
                if np.any(end[1]):
                    traj, note = self.checker.stop(end[0], end[1], now + float(stretch.times[-1]), end[2])
                    outputs = (self._after("stop", stretch, start, traj, f"{reason}; {note}" if note else reason,
                                           now),)  # fmt: skip
        self._transition(to, reason, now, level="warn")
        return Reply(True, reason, outputs)

    def _fault(self, now: float, reason: str) -> Reply:
        self._pending = None
        outputs = self._hold(now, reason)
        self._transition(SafetyState.FAULT, reason, now, level="error")
        self._new_session()
        return Reply(False, f"FAULT: {reason}", outputs)

    def _joint_state_problem(self) -> str:
        """Why the joint states are not usable, for messages."""
        if self._measured.position is None:
            why = "no joint_states received"
        else:
            why = f"joint_states stale ({self.joint_state_age(self._steady):.3f}s old)"
        if self._refused_since_accepted:
            why += f"; since then refused: {self.last_joint_state_refusal}"
        return why

    def _watch_joint_states(self, now: float) -> Reply | None:
        """None while joint states are fresh; else the hold (short outage) or FAULT (long)."""
        cfg = self.config
        age = self.joint_state_age(self._steady)
        if self._measured.position is not None and age <= cfg.joint_state_hold_timeout:
            if self._stale_hold:
                self._stale_hold = False
                self._event("info", "joint_states fresh again: commands accepted (the first must start near the "
                                    "measured position)", now, True, key="joint_states fresh")  # fmt: skip
            return None
        why = self._joint_state_problem()
        if self._measured.position is None or age > cfg.joint_state_timeout:
            return self._fault(now, f"{why}, over joint_state_timeout {cfg.joint_state_timeout}s")
        if self.state is SafetyState.ACTIVE:
            self._stale_hold = True
            return self._controlled_stop(
                now, f"holding: {why}, over joint_state_hold_timeout {cfg.joint_state_hold_timeout}s; resumes when "
                f"they return, FAULT after joint_state_timeout {cfg.joint_state_timeout}s", SafetyState.ARMED,
            )  # fmt: skip
        self._stale_hold = True
        reason = f"command held back: {why}, over joint_state_hold_timeout {cfg.joint_state_hold_timeout}s"
        self._event("warn", reason, now, True, key="joint_states stale")
        return Reply(False, reason)

    def _refuse_joint_state(self, reason: str, now: float) -> None:
        self.last_joint_state_refusal = reason
        self._refused_since_accepted = True
        self.counts["joint_states_refused"] += 1
        self._event("warn", reason, now, True, key="joint_states")

    def _drop(self, reason: str, now: float, quiet: bool = False) -> Reply:
        if not quiet:
            self._event("warn", reason, now, True)
        self.counts["ignored" if quiet else "dropped_by_supervisor"] += 1
        return Reply(False, reason)

    def _transition(self, to: SafetyState, reason: str, now: float, level: str = "info") -> None:
        before = self.label
        self.state = to
        if to is SafetyState.ARMED:
            self._sent_since_armed = False
        if to is SafetyState.FAULT:
            self.fault_reason = reason
        self._event(level, f"{before} -> {self.label}: {reason}", now)

    def _event(self, level: str, message: str, now: float, repeating: bool = False, key: str = "") -> None:
        self._events.append(Event(level, message, now, repeating, key))
