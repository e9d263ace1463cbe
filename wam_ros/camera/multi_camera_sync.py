"""Assemble multi-camera observations by approximate timestamp matching.

The inference node adds every frame it receives (``add``) and asks for the newest
usable set when it needs an observation (``latest``). A set holds one frame per
camera, all stamps within ``slop`` of each other and none older than ``max_age``.

Why it is built this way:
- "Newest set" = the set whose OLDEST frame is newest, because the oldest frame
  bounds how stale the observation is. Every valid set has an oldest frame (the
  pivot) with all others in [pivot, pivot + slop], so trying each buffered frame
  as pivot and taking the newest frame per camera in that window is exhaustive.
- Sets only move forward: once a set is handed out, older frames are discarded,
  and the same set is never returned twice (unless ``allow_repeat``), so a policy
  never acts twice on one observation by accident.
- Counts: ``matched`` sets handed out; ``dropped`` frames discarded without ever
  being handed out (superseded, evicted from a full buffer, or stale — ``stale``
  counts the last kind separately); ``late`` frames that arrived older than a set
  already handed out for their camera (too late to ever be used).
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class SyncedFrames:
    stamp: float  # the oldest frame stamp of the set
    frames: dict[str, np.ndarray]
    stamps: dict[str, float]


class _Entry:
    __slots__ = ("frame", "stamp", "used")

    def __init__(self, stamp: float, frame: np.ndarray) -> None:
        self.stamp = stamp
        self.frame = frame
        self.used = False


class CameraSynchronizer:
    def __init__(self, cameras: Sequence[str], slop: float, max_age: float, buffer_size: int = 30) -> None:
        cams = list(cameras)
        if not cams or len(set(cams)) != len(cams):
            raise ValueError(f"CameraSynchronizer: cameras must be a non-empty list of unique names, got {cams}")
        if not (slop >= 0 and math.isfinite(slop)):
            raise ValueError(f"CameraSynchronizer: slop = {slop!r} must be a finite number >= 0")
        if not (max_age > 0 and math.isfinite(max_age)):
            raise ValueError(f"CameraSynchronizer: max_age = {max_age!r} must be a finite number > 0")
        if buffer_size < 1:
            raise ValueError(f"CameraSynchronizer: buffer_size = {buffer_size} must be >= 1")
        self.cameras = cams
        self.slop = float(slop)
        self.max_age = float(max_age)
        self.buffer_size = buffer_size
        self._buf: dict[str, list[_Entry]] = {c: [] for c in cams}
        self._stamps: dict[str, list[float]] = {c: [] for c in cams}  # parallel sorted keys for bisect
        self._delivered: dict[str, float] | None = None
        self._lock = threading.Lock()
        self._matched = self._dropped = self._late = self._stale = 0

    def add(self, camera: str, stamp: float, frame: np.ndarray) -> None:
        """Buffer one frame; a frame older than the last set handed out is counted late and ignored."""
        if camera not in self._buf:
            raise ValueError(f"CameraSynchronizer.add: unknown camera '{camera}' (known: {self.cameras})")
        stamp = float(stamp)
        if not math.isfinite(stamp):
            raise ValueError(f"CameraSynchronizer.add: camera '{camera}' stamp {stamp!r} is not finite")
        with self._lock:
            if self._delivered is not None and stamp <= self._delivered[camera]:
                self._late += 1
                return
            keys, buf = self._stamps[camera], self._buf[camera]
            i = bisect.bisect_right(keys, stamp)
            keys.insert(i, stamp)
            buf.insert(i, _Entry(stamp, frame))
            while len(buf) > self.buffer_size:
                self._discard(camera, 0)

    def latest(self, now: float, allow_repeat: bool = False) -> SyncedFrames | None:
        """The newest matching set not older than ``max_age`` at ``now``, or None."""
        with self._lock:
            self._expire(now)
            best = self._best(allow_repeat)
            if best is None:
                return None
            repeat = self._delivered is not None and all(
                best[c].stamp == self._delivered[c] for c in self.cameras
            )
            if not repeat:
                self._matched += 1
                for c in self.cameras:
                    while self._buf[c][0] is not best[c]:
                        self._discard(c, 0)
                    best[c].used = True
                self._delivered = {c: best[c].stamp for c in self.cameras}
            return SyncedFrames(
                stamp=min(e.stamp for e in best.values()),
                frames={c: e.frame for c, e in best.items()},
                stamps={c: e.stamp for c, e in best.items()},
            )

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "matched": self._matched,
                "dropped": self._dropped,
                "late": self._late,
                "stale": self._stale,
                "buffered": sum(len(b) for b in self._buf.values()),
            }

    # -- internals (lock held) --

    def _discard(self, camera: str, index: int) -> bool:
        entry = self._buf[camera].pop(index)
        self._stamps[camera].pop(index)
        if not entry.used:
            self._dropped += 1
        return not entry.used

    def _expire(self, now: float) -> None:
        oldest = now - self.max_age
        for c in self.cameras:
            while self._buf[c] and self._buf[c][0].stamp < oldest:
                if self._discard(c, 0):
                    self._stale += 1

    def _best(self, allow_repeat: bool) -> dict[str, _Entry] | None:
        pivots = sorted(((e.stamp, c) for c in self.cameras for e in self._buf[c]), reverse=True)
        for t, _ in pivots:
            chosen: dict[str, _Entry] = {}
            for c in self.cameras:
                keys = self._stamps[c]
                hi = bisect.bisect_right(keys, t + self.slop) - 1  # newest frame within the window
                if hi < 0 or keys[hi] < t:
                    break
                chosen[c] = self._buf[c][hi]
            else:
                if allow_repeat or self._delivered is None or any(
                    chosen[c].stamp != self._delivered[c] for c in self.cameras
                ):
                    return chosen
        return None
