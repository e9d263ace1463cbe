"""Pair each predicted future frame with the real frame that later arrives for its time.

A WAM predicts frames at ``obs_stamp + offset``; the camera delivers frames at its own
rate. ``PredictionMatcher`` keeps the pending predicted frames and, as real frames
arrive, hands out ``FramePair``s (predicted, real) for whoever compares them: the
surprise monitor, the side-by-side display.

The real frame chosen for a target time is the one closest to it within ``tolerance``.
A target is resolved as soon as no later frame can be closer: when a frame arrives at or
after the target, or within half the camera's (measured) frame period before it. The
arriving frame is then normally the match; if a frame was dropped, the closer earlier
frame from a short history is used instead (``real_stamp`` says which). Predictions that
arrive after their target time (slow inference) are matched against that history too,
and handed out with the camera's next frame. Memory is bounded: pending predictions
older than ``horizon`` are dropped, and at most ``max_pending`` predicted frames and
``max_history`` real frames per camera are kept. A jump back in time (a simulator
reset) forgets everything.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

#: A camera stamp this far [s] behind the newest one is a clock jump (simulator reset), not a late frame.
TIME_JUMP = 1.0


@dataclass(frozen=True)
class FramePair:
    """A predicted frame and the real frame that arrived for its time."""

    camera: str
    obs_stamp: float  # stamp of the observation the prediction was made from
    offset: float  # seconds after obs_stamp the predicted frame is for
    predicted: np.ndarray  # (H, W, 3) uint8 predicted frame
    real: np.ndarray  # (H, W, 3) uint8 real frame that arrived for obs_stamp + offset (original size)
    real_stamp: float
    #: the frame the prediction was made from (the observation at obs_stamp, at the predicted frame's size), when
    #: the caller gave it: what "nothing changed" looks like, so a change predicted but not seen can be told
    observed: np.ndarray | None = None

    @property
    def target(self) -> float:
        """The time the predicted frame is for."""
        return self.obs_stamp + self.offset


@dataclass
class _Pending:
    camera: str
    obs_stamp: float
    offset: float
    predicted: np.ndarray
    observed: np.ndarray | None = None

    @property
    def target(self) -> float:
        return self.obs_stamp + self.offset


def _at_size(image: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``image`` area-resized to ``like``'s height and width (a copy either way: the caller's buffer may be reused)."""
    h, w = like.shape[:2]
    if image.shape[:2] == (h, w):
        return np.array(image, copy=True)
    return cv2.resize(np.asarray(image), (w, h), interpolation=cv2.INTER_AREA)


class PredictionMatcher:
    """Pending predicted frames in, (predicted, real) pairs out, as real frames arrive."""

    def __init__(
        self, tolerance: float, horizon: float = 10.0, history: float = 1.0, max_history: int = 64,
        max_pending: int = 512,
    ) -> None:
        if not tolerance >= 0 or not horizon > 0 or not history >= 0 or max_history < 1 or max_pending < 1:
            raise ValueError(f"PredictionMatcher: bad settings tolerance={tolerance}, horizon={horizon}, "
                             f"history={history}, max_history={max_history}, max_pending={max_pending}")
        self.tolerance = float(tolerance)
        self.horizon = float(horizon)
        self.history = float(history)
        self.max_pending = int(max_pending)
        self._max_history = int(max_history)
        self._pending: dict[str, list[_Pending]] = {}
        self._frames: dict[str, deque[tuple[float, np.ndarray]]] = {}
        self._ready: dict[str, list[FramePair]] = {}
        self._newest = -np.inf  # newest stamp seen (prediction or frame): the clock for expiry
        self._since = -np.inf  # the episode's start (``clear``): earlier observations' predictions are refused
        self.matched = 0  # pairs handed out
        self.unmatched = 0  # targets with no real frame within tolerance
        self.expired = 0  # predictions dropped unresolved (older than horizon, or over max_pending)

    # ------------------------------------------------------------------ inputs
    def add(self, obs_stamp: float, offsets: Sequence[float], frames: Mapping[str, np.ndarray],
            observed: Mapping[str, np.ndarray] | None = None) -> None:  # fmt: skip
        """Remember the predicted frames ``frames[camera][k]`` for ``obs_stamp + offsets[k]``; ``observed[camera]``
        (any size) is the frame they were predicted from, kept at the predicted size and handed out with them."""
        offsets = [float(o) for o in offsets]
        if obs_stamp < self._since:  # predicted from the world before the reset
            return
        for cam, stack in frames.items():
            if len(stack) != len(offsets):
                raise ValueError(f"predicted frames for '{cam}': {len(stack)} frames for {len(offsets)} offsets")
            pend = self._pending.setdefault(cam, [])
            seen = None if observed is None or cam not in observed else _at_size(observed[cam], stack[0])
            for k, off in enumerate(offsets):
                pend.append(_Pending(cam, float(obs_stamp), off, np.asarray(stack[k]), seen))
            self._resolve(cam)  # targets already passed (slow inference): matched from the history
        self._newest = max(self._newest, float(obs_stamp))
        self._expire()

    def observe(self, camera: str, stamp: float, frame: np.ndarray) -> list[FramePair]:
        """A real frame arrived: the pairs it (or, after a drop, a closer recent frame) resolves."""
        stamp = float(stamp)
        hist = self._frames.setdefault(camera, deque(maxlen=self._max_history))
        if hist and stamp < hist[-1][0] - TIME_JUMP:
            self.clear()
            hist = self._frames.setdefault(camera, deque(maxlen=self._max_history))
        if hist and stamp <= hist[-1][0]:
            return self._ready.pop(camera, [])  # repeated or out-of-order frame: nothing new to resolve
        hist.append((stamp, frame))
        while len(hist) > 1 and hist[0][0] < stamp - self.history:
            hist.popleft()
        self._newest = max(self._newest, stamp)
        self._expire()
        self._resolve(camera)
        return self._ready.pop(camera, [])

    # ------------------------------------------------------------------ state
    def pending(self, camera: str | None = None) -> int:
        """Predicted frames still waiting for their real frame (of ``camera``, or all)."""
        if camera is not None:
            return len(self._pending.get(camera, []))
        return sum(len(p) for p in self._pending.values())

    def wants(self, camera: str, stamp: float, margin: float) -> bool:
        """Whether a frame of ``camera`` at ``stamp`` may be paired: a pending target lies within ``margin``
        (a caller that renders or decodes frames only for the monitor can skip the others)."""
        return any(abs(p.target - stamp) <= margin for p in self._pending.get(camera, []))

    def frame_at(self, camera: str, stamp: float) -> tuple[float, np.ndarray] | None:
        """(stamp, frame) of the recent real frame of ``camera`` closest to ``stamp``, or None when none is within
        ``tolerance`` (the history keeps ``history`` seconds)."""
        hist = self._frames.get(camera)
        if not hist:
            return None
        found = min(hist, key=lambda sf: abs(sf[0] - stamp))
        return found if abs(found[0] - stamp) <= self.tolerance else None

    def stats(self) -> dict[str, int]:
        """Counts for diagnostics."""
        return {"matched": self.matched, "unmatched": self.unmatched, "expired": self.expired,
                "pending": self.pending()}

    def clear(self, since: float | None = None) -> None:
        """Forget everything pending and seen (a new episode, a jump in time). ``since``: the new episode's start;
        predictions made from observations before it, still being computed, are refused when they come."""
        self._pending.clear()
        self._frames.clear()
        self._ready.clear()
        self._newest = -np.inf
        self._since = -np.inf if since is None else float(since)

    # ------------------------------------------------------------------ internals
    def _period(self, camera: str) -> float:
        """The camera's frame period (the shortest recent stamp step: dropped or skipped frames only make
        steps longer), 0 while unknown."""
        hist = self._frames.get(camera)
        if not hist or len(hist) < 2:
            return 0.0
        stamps = np.fromiter((s for s, _ in hist), float, len(hist))
        return float(np.diff(stamps).min())

    def _resolve(self, camera: str) -> None:
        hist = self._frames.get(camera)
        pend = self._pending.get(camera)
        if not hist or not pend:
            return
        latest = hist[-1][0]
        half = 0.5 * self._period(camera)
        keep: list[_Pending] = []
        for p in pend:
            if latest < p.target - half:  # a later frame may still come closer
                keep.append(p)
                continue
            found = self.frame_at(camera, p.target)
            if found is None:
                self.unmatched += 1
                continue
            real_stamp, real = found
            self._ready.setdefault(camera, []).append(
                FramePair(camera, p.obs_stamp, p.offset, p.predicted, real, real_stamp, p.observed))
            self.matched += 1
        self._pending[camera] = keep

    def _expire(self) -> None:
        cutoff = self._newest - self.horizon
        for cam, pend in self._pending.items():
            keep = [p for p in pend if p.obs_stamp >= cutoff]
            if len(keep) > self.max_pending:  # the oldest go first
                keep = keep[len(keep) - self.max_pending:]
            self.expired += len(pend) - len(keep)
            self._pending[cam] = keep
