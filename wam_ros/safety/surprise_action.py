"""What the safety bridge does about the WAM's surprise alarm (``surprise_action``), ROS-free.

wam_node's surprise monitor says how far reality departs from the frames the model
predicted, and whether its alarm is on (``wam_ros.monitoring.surprise``). The bridge acts
on that alarm by ``action``:

* ``none``: nothing (monitor only) — surprise input, present or not, changes nothing;
* ``slow``: every command's speed scaled by ``slow_factor`` while the alarm is on;
* ``hold``: a controlled stop and hold while the alarm is on, commands held back with the
  reason; when it clears, the commander may resume (its first command must start near the
  measured position, as after any hold).

An alarm is acted on only while fresh: a surprise message older than ``timeout`` (steady
clock of arrival) counts as no alarm, so a monitor that stopped (or never started) neither
moves nor blocks anything; diagnostics say it is stale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from wam_ros.safety.supervisor import Reply, SafetySupervisor

ACTIONS = ("none", "slow", "hold")
#: Speed factor of ``slow`` while the alarm is on.
SLOW_FACTOR = 0.3
#: [s] a surprise message older than this counts as no alarm.
TIMEOUT = 2.0


@dataclass
class SurpriseGate:
    action: str = ACTIONS[0]
    slow_factor: float = SLOW_FACTOR
    timeout: float = TIMEOUT
    score: float = math.nan
    threshold: float = math.nan
    alarm: bool = False
    received: float = -math.inf  # steady time of the last surprise message

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"surprise_action '{self.action}' must be one of {list(ACTIONS)}")
        if not 0.0 < self.slow_factor <= 1.0:
            raise ValueError(f"surprise_slow_factor {self.slow_factor} must be within (0, 1]")

    def update(self, score: float, threshold: float, alarm: bool, steady: float) -> None:
        """One surprise message (non-finite scores: warming up, never an alarm by themselves)."""
        self.score, self.threshold, self.alarm, self.received = float(score), float(threshold), bool(alarm), steady

    def fresh(self, steady: float) -> bool:
        return steady - self.received <= self.timeout

    def active(self, steady: float) -> bool:
        """The alarm is on and fresh."""
        return self.alarm and self.fresh(steady)

    def reason(self) -> str:
        return (f"surprise alarm: reality departs from the WAM's predicted frames (score {self.score:.1f}, "
                f"threshold {self.threshold:.1f})")

    def apply(self, sup: SafetySupervisor, now: float, steady: float) -> Reply | None:
        """Bring the supervisor's surprise hold / slow-down in line with the alarm and ``action``;
        the supervisor's reply when something changed, else None."""
        on = self.active(steady) and self.action != "none"
        want_hold = self.reason() if on and self.action == "hold" else ""
        if bool(want_hold) != bool(sup.surprise_hold):
            return sup.set_surprise_hold(want_hold, now, steady)
        factor = self.slow_factor if on and self.action == "slow" else 1.0
        if factor != sup.surprise_factor:
            why = self.reason() if factor < 1.0 else "surprise alarm cleared"
            return sup.set_surprise_slow(factor, why, now, steady)
        return None

    def warning(self, steady: float) -> str:
        """What diagnostics should warn about ("" when nothing): an alarm acted on, or input not there."""
        if self.action == "none":
            return ""
        if not math.isfinite(self.received):
            return f"surprise_action {self.action}: no surprise input yet (not acted on)"
        if not self.fresh(steady):
            return (f"surprise_action {self.action}: surprise input stale "
                    f"({steady - self.received:.1f}s > {self.timeout}s; not acted on)")
        if self.alarm:
            return f"{'holding' if self.action == 'hold' else 'slowed'}: {self.reason()}"
        return ""
