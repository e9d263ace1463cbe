"""Map a camera's own clock onto the host (node) clock, correcting drift.

Each frame gives a pair (device time d, host receive time h). h - d = offset +
transport delay, and the delay is never negative, so the *smallest* observed
offsets are the closest to the true offset (min-offset filter). The device clock
also drifts (tens of ppm), so the offset is not constant: the window is cut into
buckets, each bucket's minimum offset is taken, and a straight line through those
minima gives offset(d) = a + b (d - d0). A mapped stamp is never later than its
receive time (a frame cannot be captured after it arrived) and never goes
backwards. The device clock going backwards or jumping (device reset, reconnect,
recording restarting) restarts the estimate.
"""

from __future__ import annotations

from collections import deque

import numpy as np


class ClockSync:
    def __init__(self, window: float = 10.0, buckets: int = 8, max_jump: float = 2.0) -> None:
        """``window``: seconds of device time to fit over; ``max_jump``: a gap larger than
        this between consecutive device stamps restarts the estimate."""
        if window <= 0 or buckets < 1 or max_jump <= 0:
            raise ValueError("ClockSync: window and max_jump must be > 0 and buckets >= 1")
        self.window = window
        self.buckets = buckets
        self.max_jump = max_jump
        self._d: deque[float] = deque()
        self._o: deque[float] = deque()
        self._last_out: float | None = None
        self.resets = 0

    def reset(self) -> None:
        self._d.clear()
        self._o.clear()
        self._last_out = None

    def map(self, device_time: float, host_time: float) -> float:
        """Record the pair and return ``device_time`` on the host clock."""
        if self._d and not 0 <= device_time - self._d[-1] <= self.max_jump:
            self.resets += 1
            self._d.clear()  # keep _last_out: output stays monotonic across a device clock reset
            self._o.clear()
        self._d.append(device_time)
        self._o.append(host_time - device_time)
        while self._d[-1] - self._d[0] > self.window:
            self._d.popleft()
            self._o.popleft()
        out = device_time + self.offset(device_time)
        out = min(out, host_time)
        if self._last_out is not None and out < self._last_out:
            out = min(self._last_out, host_time)
        self._last_out = out
        return out

    def offset(self, device_time: float) -> float:
        """Current estimate of host - device at ``device_time`` (needs one sample)."""
        if not self._d:
            raise ValueError("ClockSync.offset: no samples yet")
        d = np.fromiter(self._d, float, len(self._d))
        o = np.fromiter(self._o, float, len(self._o))
        span = d[-1] - d[0]
        if span < 1.0 or self.buckets < 2:
            return float(o.min())
        idx = np.minimum(((d - d[0]) / span * self.buckets).astype(int), self.buckets - 1)
        bd, bo = [], []
        for b in range(self.buckets):
            sel = idx == b
            if sel.any():
                k = int(np.argmin(np.where(sel, o, np.inf)))
                bd.append(d[k])
                bo.append(o[k])
        if len(bd) < 2:
            return float(o.min())
        bd_a, bo_a = np.asarray(bd) - d[0], np.asarray(bo)
        slope, intercept = np.polyfit(bd_a, bo_a, 1)
        return float(intercept + slope * (device_time - d[0]))

    @property
    def drift_ppm(self) -> float:
        """Estimated drift of the device clock relative to the host, in ppm (0 until fitted)."""
        if len(self._d) < 2:
            return 0.0
        return (self.offset(self._d[-1]) - self.offset(self._d[0])) / max(self._d[-1] - self._d[0], 1e-9) * 1e6
