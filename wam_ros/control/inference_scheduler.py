"""When to start the next inference of a chunked policy (ROS-free, clock passed in).

Modes:

* ``threshold``: start when the unexecuted part of the current chunk (its last
  action time minus now) falls to ``threshold`` seconds — set it a bit above the
  inference latency and the next chunk lands before the current one runs out
  (real-time chunking's trigger).
* ``rate``: start at a fixed rate (``rate`` Hz), whatever is left of the chunk.
* ``sync``: stop-and-go — start only after the previous chunk has been executed
  completely, counting execution from the later of the observation stamp and the
  chunk's arrival (so a slow model makes the arm wait, as a naive deployment does).
  The latency benchmark compares it against the asynchronous modes.

In every mode there is at most one inference in flight, the first chunk is asked
for at once, and starts are at least ``min_interval`` apart (so a failing backend
is retried at a bounded rate, never hammered).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MODES = ("threshold", "rate", "sync")
#: Default trigger: seconds of chunk left when the next inference starts (threshold mode), the rate of
#: rate mode [Hz] and the least time between starts [s]. wam_node's trigger parameters take these.
THRESHOLD = 0.8
RATE = 2.0
MIN_INTERVAL = 0.1


@dataclass
class _Chunk:
    stamp: float  # observation time the chunk is aligned to
    duration: float  # horizon * period
    arrival: float


class InferenceScheduler:
    def __init__(
        self,
        mode: str = MODES[0],
        threshold: float = THRESHOLD,
        rate: float = RATE,
        min_interval: float = MIN_INTERVAL,
    ) -> None:
        self.configure(mode, threshold, rate, min_interval)
        self._chunk: _Chunk | None = None
        self._last_start = -math.inf
        self._busy = False

    def configure(self, mode: str, threshold: float, rate: float, min_interval: float) -> None:
        """Change the trigger (also at run time); ValueError names a bad value."""
        if mode not in MODES:
            raise ValueError(f"trigger mode '{mode}' must be one of {list(MODES)}")
        if not threshold >= 0:
            raise ValueError(f"trigger threshold must be >= 0 s, got {threshold}")
        if not rate > 0:
            raise ValueError(f"trigger rate must be > 0 Hz, got {rate}")
        if not min_interval >= 0:
            raise ValueError(f"min_interval must be >= 0 s, got {min_interval}")
        self.mode, self.threshold = mode, float(threshold)
        self.rate, self.min_interval = float(rate), float(min_interval)

    @property
    def busy(self) -> bool:
        return self._busy

    def remaining(self, now: float) -> float:
        """Seconds of the current chunk not yet executed (0 when there is none)."""
        if self._chunk is None:
            return 0.0
        return max(0.0, self._chunk.stamp + self._chunk.duration - now)

    def should_start(self, now: float) -> bool:
        if self._busy or now - self._last_start < self.min_interval:
            return False
        if self._chunk is None:
            return True
        if self.mode == "rate":
            return now - self._last_start >= 1.0 / self.rate
        if self.mode == "sync":
            c = self._chunk
            return now >= max(c.stamp, c.arrival) + c.duration
        return self.remaining(now) <= self.threshold

    def started(self, now: float) -> None:
        self._busy = True
        self._last_start = now

    def finished(self, now: float, stamp: float | None = None, duration: float | None = None) -> None:
        """The inference ended: with ``stamp``/``duration`` when a chunk was published, without on failure."""
        self._busy = False
        if stamp is not None and duration is not None:
            self._chunk = _Chunk(float(stamp), float(duration), float(now))

    def reset(self) -> None:
        """Forget the current chunk (new instruction/episode): the next tick starts at once."""
        self._chunk = None
        self._last_start = -math.inf
