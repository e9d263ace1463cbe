"""What a running graph predicted, paired with what then happened: for judging the world model from outside.

A benchmark watching the graph over DDS sees each prediction's frames (read back from
``/wam/predicted_frames``: ``wam_ros.visualization.filmstrip.predicted_from_strip``), the camera frames,
and when the arm was executing chunks. ``PredictionLog`` pairs every predicted frame with the real frame
of its time (the same ``PredictionMatcher`` as wam_node's surprise monitor) and with the frame it was
predicted from (for the "nothing moves" baseline), and hands out only the pairs of an episode: predicted
from an observation taken after the episode's scene was reset, for a time before the episode ended
(success, disarm or fault). A prediction whose time falls after the end (the arm held, or the next
scene) says nothing about the world model. The episode's first chunk is usually observed just before the
arm is armed and executed once it is, as late as any chunk is (the inference latency), so it counts.
ROS-free: the caller feeds it stamps in seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from wam_ros.monitoring.prediction_matching import FramePair, PredictionMatcher


class PredictionLog:
    """Predictions and camera frames in (any order the topics deliver them), judged pairs out."""

    def __init__(self, tolerance: float, history: float = 4.0, max_history: int = 128) -> None:
        if not history > 0 or max_history < 1:
            raise ValueError(f"PredictionLog: bad settings history={history}, max_history={max_history}")
        # the matcher's history covers a prediction that arrives after its time (seconds of inference latency)
        # and holds the frame each prediction was made from
        self.matcher = PredictionMatcher(tolerance, history=history, max_history=max_history)
        self._pairs: list[FramePair] = []
        self._windows: list[list[float]] = []  # [start, end] of each episode; end inf while it runs
        self._last_prediction = -np.inf
        self.newest = -np.inf  # newest camera stamp: the graph's clock as far as this log knows
        self.prediction_stamps: list[float] = []  # observation stamps of the distinct predictions logged
        self.no_observed = 0  # pairs dropped: the frame they were predicted from had not arrived here

    # ------------------------------------------------------------------ inputs
    def add_prediction(self, obs_stamp: float, offsets: Sequence[float], frames: Mapping[str, np.ndarray]) -> bool:
        """A prediction's frames (camera -> (K, h, w, 3) for ``obs_stamp + offsets[k]``); False, and ignored,
        when it is no newer than the last one (the display republishes a prediction as its real frames come)."""
        if obs_stamp <= self._last_prediction:
            return False
        self._last_prediction = float(obs_stamp)
        self.prediction_stamps.append(float(obs_stamp))
        observed = {cam: f[1] for cam in frames if (f := self.matcher.frame_at(cam, obs_stamp)) is not None}
        self.matcher.add(obs_stamp, offsets, frames, observed)  # pairs whose time has passed: with the next frame
        return True

    def add_frame(self, camera: str, stamp: float, frame: np.ndarray) -> None:
        """A camera frame arrived."""
        self.newest = max(self.newest, float(stamp))
        self._collect(self.matcher.observe(camera, stamp, frame))

    def started(self, stamp: float) -> None:
        """An episode started at ``stamp`` (its scene was reset): its window opens, one still open closes."""
        self.stopped(stamp)
        self._windows.append([float(stamp), np.inf])

    def stopped(self, stamp: float) -> None:
        """The episode ended at ``stamp`` (success, disarm, fault): the open window closes. A stamp before the
        open window's start (the last episode's success, said again) changes nothing."""
        if self._windows and not np.isfinite(self._windows[-1][1]) and stamp >= self._windows[-1][0]:
            self._windows[-1][1] = float(stamp)

    # ------------------------------------------------------------------ outputs
    def pairs(self) -> list[FramePair]:
        """The pairs of the episodes: observation at or after an episode's start, time at or before its end
        (an episode still running counts)."""
        return [p for p in self._pairs
                if any(start <= p.obs_stamp and p.target <= end for start, end in self._windows)]

    @property
    def windows(self) -> list[tuple[float, float]]:
        """The (start, end) stamps of the episodes."""
        return [(s, e) for s, e in self._windows]

    def stats(self) -> dict[str, int]:
        """Counts, for the report: predictions, pairs, pairs kept, and the matcher's."""
        return {"predictions": len(self.prediction_stamps), "pairs": len(self._pairs),
                "pairs_in_episodes": len(self.pairs()), "no_observed_frame": self.no_observed, **self.matcher.stats()}

    # ------------------------------------------------------------------ internals
    def _collect(self, pairs: list[FramePair]) -> None:
        for p in pairs:
            if p.observed is None:
                self.no_observed += 1
            else:
                self._pairs.append(p)
