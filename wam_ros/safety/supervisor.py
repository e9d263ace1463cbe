"""The safety bridge's state machine: who may move the arm, and what happens when input fails.

DISARMED -> (arm) -> ARMED -> (first command starting near the measured position)
-> ACTIVE. FAULT latches until ``reset`` (-> DISARMED); the e-stop latches as a FAULT
and cannot be reset while the e-stop input is still asserted. Watchdogs:

- no command for ``command_timeout`` while ACTIVE -> controlled stop, back to ARMED
  (the next command must again start within ``max_start_deviation``);
- joint states older than ``joint_state_timeout`` while ARMED/ACTIVE -> FAULT + hold;
- deadman (optional) released or silent for ``deadman_timeout`` -> controlled stop.

Every method takes ``now`` (node-clock seconds) and returns a ``Reply`` whose
``outputs`` the node sends to the controller; transitions, clamps and rejections
are queued as ``Event`` values for /diagnostics and the log. No ROS types here.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from wam_ros.robot.trajectory import Trajectory
from wam_ros.safety.checks import CheckResult, SafetyChecker, Verdict


class SafetyState(StrEnum):
    DISARMED = "DISARMED"
    ARMED = "ARMED"
    ACTIVE = "ACTIVE"
    FAULT = "FAULT"


@dataclass(frozen=True)
class SupervisorConfig:
    command_timeout: float = 0.3  # [s] ACTIVE without a command -> controlled stop
    joint_state_timeout: float = 0.2  # [s] older joint states -> FAULT (arming refused)
    max_start_deviation: float = 0.1  # [rad|m] first command's first point vs measured position
    max_output_rate: float = 100.0  # [Hz] commands faster than this are queued (newest wins)
    deadman: bool = False
    deadman_timeout: float = 0.3  # [s] deadman heartbeat must be newer than this
    # ARMED -> ACTIVE only on delivery_confirmed() (action output: the controller accepted a goal);
    # False: on the first command sent (topic outputs cannot know)
    confirm_delivery: bool = False

    def validate(self) -> SupervisorConfig:
        for name in (
            "command_timeout",
            "joint_state_timeout",
            "max_start_deviation",
            "max_output_rate",
            "deadman_timeout",
        ):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"supervisor setting {name} = {v!r} must be positive and finite")
        return self


@dataclass(frozen=True)
class Output:
    """A trajectory for the controller (controller joint order; ``stamp`` = send time, times relative)."""

    kind: str  # "command" | "stop" | "hold"
    trajectory: Trajectory
    reason: str
    start_position: np.ndarray  # the path's first segment starts here (for JTC: the current reference)
    start_velocity: np.ndarray


@dataclass(frozen=True)
class Event:
    level: str  # "info" | "warn" | "error"
    message: str
    time: float
    repeating: bool = False  # per-command clamps/drops/bad joint states: may arrive at the command rate


@dataclass(frozen=True)
class Reply:
    ok: bool
    message: str
    outputs: tuple[Output, ...] = ()


@dataclass
class _Measured:
    position: np.ndarray | None = None
    velocity: np.ndarray | None = None
    time: float = -math.inf


@dataclass
class _Reference:
    """The last output as a piecewise-linear path from its start point."""

    stamp: float
    times: np.ndarray  # (N+1,) from 0
    positions: np.ndarray  # (N+1, J) start point first

    @property
    def end(self) -> float:
        return self.stamp + float(self.times[-1])

    def sample(self, now: float) -> tuple[np.ndarray, np.ndarray]:
        tau = now - self.stamp
        if tau >= self.times[-1]:
            return self.positions[-1].copy(), np.zeros(self.positions.shape[1])
        k = max(int(np.searchsorted(self.times, tau, side="right")), 1)
        v = (self.positions[k] - self.positions[k - 1]) / (self.times[k] - self.times[k - 1])
        return self.positions[k - 1] + v * max(tau - self.times[k - 1], 0.0), v


@dataclass
class SafetySupervisor:
    checker: SafetyChecker
    config: SupervisorConfig = field(default_factory=SupervisorConfig)

    def __post_init__(self) -> None:
        self.config.validate()
        self.state = SafetyState.DISARMED
        self.fault_reason = ""
        self.counts: Counter[str] = Counter()
        self._events: list[Event] = []
        self._measured = _Measured()
        self._ref: _Reference | None = None
        self._last_command = -math.inf
        self._last_send = -math.inf
        self._pending: Trajectory | None = None
        self._estop_latched = False
        self._estop_input = False
        self._deadman = (False, -math.inf)
        self._armed_since = math.inf  # when the state last became ARMED
        self._names = self.checker.joint_names

    # ------------------------------------------------------------------ state
    @property
    def label(self) -> str:
        """The state as published on /wam/safety_state: DISARMED / ARMED / ACTIVE / FAULT(<reason>)."""
        return f"FAULT({self.fault_reason})" if self.state is SafetyState.FAULT else self.state.value

    def drain_events(self) -> list[Event]:
        out, self._events = self._events, []
        return out

    def measured_position(self) -> np.ndarray | None:
        return None if self._measured.position is None else self._measured.position.copy()

    def joint_states_fresh(self, now: float) -> bool:
        return self._measured.position is not None and now - self._measured.time <= self.config.joint_state_timeout

    def reference(self, now: float) -> tuple[np.ndarray, np.ndarray] | None:
        """(position, velocity) the controller is following now: the last output, else the measured state."""
        if self._ref is not None:
            return self._ref.sample(now)
        if self._measured.position is None:
            return None
        v = self._measured.velocity if self._measured.velocity is not None else np.zeros(len(self._names))
        return self._measured.position.copy(), v.copy()

    def output_end(self) -> float | None:
        """When the last output reaches rest (None when nothing was sent since arming)."""
        return None if self._ref is None else self._ref.end

    # ------------------------------------------------------------------ inputs
    def update_joint_state(
        self, names: list[str] | tuple[str, ...], positions: np.ndarray, velocities: np.ndarray | None, now: float
    ) -> None:
        """Store the measured state; a message missing controller joints or with NaN is ignored (goes stale)."""
        idx = {n: i for i, n in enumerate(names)}
        missing = [n for n in self._names if n not in idx]
        if missing or len(positions) != len(names):
            self._event("warn", f"joint_states ignored: missing joint(s) {missing} or ragged arrays", now, True)
            return
        order = [idx[n] for n in self._names]
        q = np.asarray(positions, dtype=float)[order]
        if not np.all(np.isfinite(q)):
            self._event("warn", "joint_states ignored: non-finite position", now, True)
            return
        v = None
        if velocities is not None and len(velocities) == len(names):
            v = np.asarray(velocities, dtype=float)[order]
            v = np.where(np.isfinite(v), v, 0.0)
        self._measured = _Measured(q, v, now)

    def set_deadman(self, pressed: bool, now: float) -> None:
        self._deadman = (bool(pressed), now)

    def deadman_held(self, now: float) -> bool:
        pressed, t = self._deadman
        return (not self.config.deadman) or (pressed and now - t <= self.config.deadman_timeout)

    def set_estop_input(self, active: bool, now: float) -> Reply:
        """The /wam/estop topic: True triggers (and keeps) the e-stop; False only allows a reset."""
        self._estop_input = bool(active)
        if active and not (self._estop_latched and self.state is SafetyState.FAULT):
            return self.estop(now, "e-stop topic")
        return Reply(True, "e-stop input " + ("asserted" if active else "released"))

    def set_speed_scaling(self, value: float, now: float) -> Reply:
        self.checker.speed_scaling = value
        self._event("info", f"speed_scaling = {value:.3f}", now)
        if value == 0.0 and self.state is SafetyState.ACTIVE:
            return self._controlled_stop(now, "speed_scaling set to 0", SafetyState.ARMED)
        return Reply(True, f"speed_scaling = {value:.3f}")

    # ------------------------------------------------------------------ services
    def arm(self, now: float) -> Reply:
        if self.state is SafetyState.FAULT:
            return Reply(False, f"cannot arm in {self.label}: call reset first")
        if self.state in (SafetyState.ARMED, SafetyState.ACTIVE):
            return Reply(True, f"already {self.state.value}")
        if not self.joint_states_fresh(now):
            age = now - self._measured.time
            why = "no joint_states received" if self._measured.position is None else f"joint_states {age:.3f}s old"
            self._event("warn", f"arming refused: {why}", now)
            return Reply(False, f"arming refused: {why} (limit {self.config.joint_state_timeout}s)")
        self._ref = None
        self._pending = None
        self._transition(SafetyState.ARMED, "armed by request", now)
        return Reply(True, "ARMED")

    def disarm(self, now: float) -> Reply:
        if self.state is SafetyState.FAULT:
            return Reply(False, f"in {self.label}: call reset (disarm does not clear a fault)")
        if self.state is SafetyState.DISARMED:
            return Reply(True, "already DISARMED")
        return self._controlled_stop(now, "disarmed by request", SafetyState.DISARMED)

    def reset(self, now: float) -> Reply:
        if self.state is not SafetyState.FAULT:
            return Reply(True, f"nothing to reset ({self.state.value})")
        if self._estop_input:
            return Reply(False, "e-stop input is still asserted: release it first")
        self._estop_latched = False
        self._ref = None
        self._pending = None
        self._transition(SafetyState.DISARMED, f"reset from FAULT({self.fault_reason})", now)
        self.fault_reason = ""
        return Reply(True, "DISARMED (re-arm to move)")

    def estop(self, now: float, reason: str = "e-stop service") -> Reply:
        self._estop_latched = True
        return self._fault(now, f"e-stop: {reason}")

    def fault(self, reason: str, now: float) -> Reply:
        """An output failure the node saw (goal rejected/aborted, controller gone): FAULT + hold.

        Already in FAULT: nothing changes (the first reason stays)."""
        if self.state is SafetyState.FAULT:
            return Reply(False, f"already {self.label}")
        return self._fault(now, reason)

    def delivery_confirmed(self, now: float) -> Reply:
        """The controller accepted a command sent in this ARMED phase (config.confirm_delivery): ACTIVE."""
        if self.state is SafetyState.ARMED and self._last_command >= self._armed_since:
            self._transition(SafetyState.ACTIVE, "first command accepted by the controller", now)
            return Reply(True, "ACTIVE")
        return Reply(True, self.label)

    # ------------------------------------------------------------------ commands and time
    def command(self, traj: Trajectory, now: float) -> Reply:
        """A command from /wam/command: checked, then sent (or queued by the rate limit)."""
        if self.state is SafetyState.FAULT:
            return self._drop(f"command ignored in {self.label}", now, quiet=True)
        if self.state is SafetyState.DISARMED:
            return self._drop("command ignored: DISARMED (call ~/arm)", now, quiet=True)
        stale = self._watch_joint_states(now)
        if stale is not None:
            return stale
        if not self.deadman_held(now):
            return self._drop("command ignored: deadman not held", now)
        if now - self._last_send < 1.0 / self.config.max_output_rate:
            res = self._check(traj, now)
            if res.fault:
                return self._fault(now, res.reasons[0])
            self._pending = traj  # newest wins; re-checked against the reference when sent
            return Reply(True, "queued by the output rate limit")
        return self._send_command(traj, now)

    def malformed(self, reason: str, now: float) -> Reply:
        """A command that could not even be converted (ragged arrays): FAULT when armed."""
        if self.state in (SafetyState.ARMED, SafetyState.ACTIVE):
            self.counts[Verdict.REJECTED.value] += 1
            return self._fault(now, reason)
        return self._drop(reason, now)

    def tick(self, now: float) -> Reply:
        """Watchdogs and the rate-limited queue; call at the output rate."""
        if self.state not in (SafetyState.ARMED, SafetyState.ACTIVE):
            return Reply(True, self.label)
        stale = self._watch_joint_states(now)
        if stale is not None:
            return stale
        if self.state is SafetyState.ACTIVE:
            if not self.deadman_held(now):
                return self._controlled_stop(now, "deadman released", SafetyState.ARMED)
            if now - self._last_command > self.config.command_timeout:
                age = now - self._last_command
                return self._controlled_stop(now, f"no command for {age:.3f}s (timeout)", SafetyState.ARMED)
        if self._pending is not None and now - self._last_send >= 1.0 / self.config.max_output_rate:
            traj, self._pending = self._pending, None
            return self._send_command(traj, now)
        return Reply(True, self.label)

    # ------------------------------------------------------------------ internals
    def _check(self, traj: Trajectory, now: float) -> CheckResult:
        ref = self.reference(now)
        assert ref is not None and self._measured.position is not None
        return self.checker.check(traj, now, self._measured.position, ref[0], ref[1])

    def _send_command(self, traj: Trajectory, now: float) -> Reply:
        res = self._check(traj, now)
        self.counts[res.verdict.value] += 1
        if res.fault:
            return self._fault(now, res.reasons[0])
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
            if not self.config.confirm_delivery:
                self._transition(SafetyState.ACTIVE, "first command accepted", now)
        if res.verdict is Verdict.CLAMPED:
            self._event("warn", "command clamped: " + "; ".join(res.reasons), now, True)
        self._last_command = now
        return Reply(
            True,
            res.verdict.value,
            (
                self._emit(
                    "command", res.trajectory, res.start_position, res.start_velocity, "; ".join(res.reasons), now
                ),
            ),
        )

    def _emit(
        self, kind: str, traj: Trajectory, start_q: np.ndarray, start_v: np.ndarray | None, reason: str, now: float
    ) -> Output:
        times = np.concatenate([[0.0], traj.times])
        self._ref = _Reference(traj.stamp, times, np.vstack([start_q[None, :], traj.positions]))
        self._last_send = now
        self.counts[kind] += 1
        v = np.zeros_like(start_q) if start_v is None else start_v
        return Output(kind, traj, reason, start_q.copy(), v.copy())

    def _hold(self, now: float, reason: str) -> tuple[Output, ...]:
        q = self._measured.position
        if q is None:
            return ()
        traj = self.checker.hold(q, now)
        return (self._emit("hold", traj, traj.positions[0], None, reason, now),)

    def _controlled_stop(self, now: float, reason: str, to: SafetyState) -> Reply:
        ref = self.reference(now)
        self._pending = None
        outputs: tuple[Output, ...] = ()
        if ref is not None:
            q, v = ref
            if np.all(np.abs(v) < 1e-9):
                outputs = self._hold(now, reason)
            else:
                traj = self.checker.stop(q, v, now)
                outputs = (self._emit("stop", traj, q, v, reason, now),)
        self._transition(to, reason, now, level="warn")
        return Reply(True, reason, outputs)

    def _fault(self, now: float, reason: str) -> Reply:
        self._pending = None
        outputs = self._hold(now, reason)
        self._transition(SafetyState.FAULT, reason, now, level="error")
        return Reply(False, f"FAULT: {reason}", outputs)

    def _watch_joint_states(self, now: float) -> Reply | None:
        if self.joint_states_fresh(now):
            return None
        return self._fault(now, f"joint_states stale ({now - self._measured.time:.3f}s old)")

    def _drop(self, reason: str, now: float, quiet: bool = False) -> Reply:
        if not quiet:
            self._event("warn", reason, now, True)
        self.counts["ignored" if quiet else "dropped_by_supervisor"] += 1
        return Reply(False, reason)

    def _transition(self, to: SafetyState, reason: str, now: float, level: str = "info") -> None:
        before = self.label
        self.state = to
        if to is SafetyState.ARMED:
            self._armed_since = now
        if to is SafetyState.FAULT:
            self.fault_reason = reason
        self._event(level, f"{before} -> {self.label}: {reason}", now)

    def _event(self, level: str, message: str, now: float, repeating: bool = False) -> None:
        self._events.append(Event(level, message, now, repeating))
