"""Surprise: how far reality departs from what the WAM predicted, in units of its usual error.

Each ``FramePair`` (a predicted frame, the real frame that arrived for its time and, when known, the
frame the prediction was made from) is compared at the predicted frame's size, after a small Gaussian
blur (``sigma`` px, so a blurry model's soft edges and a pixel of misplacement are not errors). With
``p`` the prediction, ``r`` reality and ``o`` the observed frame (colours 0-1), the predicted change
``dp = p - o`` and the real change ``dr = r - o``, the squared error splits into two halves:

    (p - r)^2 = (dr^2 - dp.dr) + (dp^2 - dp.dr) = unexpected + missed

* **unexpected change**: reality changed where (or more than) the model predicted no change. A cube
  moved or removed, a camera occluded, a wrist that sags under a payload.
* **missed change**: the change the model predicted did not happen. A blocked arm and a frozen
  camera are *absences*: reality stays what it was. Near zero for a normal chunk (the predicted
  change happened) and for an arm at rest (nothing predicted, nothing happened).

Each is averaged over a ``grid`` x ``grid`` block layout and its largest block is the feature: a small
change (a 3-pixel cube) is not averaged away by the rest of the frame. Without the observed frame only
the squared error is known; it then stands for the first feature and the second is NaN.

A **frozen camera** is told apart by a fact, not by a degree, and frame by frame rather than pair by pair:
its picture stays identical while the arm moves (``wam_ros.monitoring.frozen_camera``; ``SurpriseMonitor.frame``).
It scores ``FROZEN_SCORE``, above any threshold.

Both features are normalised per camera and predicted offset by the model's usual value there (a running mean
and mean absolute deviation, learned from the first ``warmup`` pairs or calibrated on normal
episodes, then followed slowly on unalarmed pairs only, so a disturbance is not learned away). A
pair's score is the sum of the positive z-scores, a batch's the largest pair score; ``SurpriseAlarm``
turns scores into an alarm with a threshold and hysteresis. Measured, with what was tried before
(block means of the plain error, a per-scene error map), in docs/wam.md and docs/wam_history.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from wam_ros.monitoring.frozen_camera import FrozenCameraCheck
from wam_ros.monitoring.prediction_matching import FramePair

#: Features of a pair, in this order: the real change nobody predicted, the predicted change that did not happen.
FEATURES = ("unexpected", "missed")
#: Block layout (grid x grid) whose largest block gives a feature.
GRID = 8
#: Gaussian blur before comparing [px of the predicted frame]: a pixel or two of misplacement is no surprise.
SIGMA = 1.5
#: Pairs per (camera, offset) learned before scores are reported.
WARMUP = 20
#: Rate at which the statistics follow unalarmed pairs after the warm-up.
RATE = 0.02
#: Floor of a feature's usual deviation [mean squared colour difference, 0-1 units], so a camera the model
#: always gets right (deviation ~0) does not turn rendering noise into huge scores.
MIN_SCALE = 2e-5
#: Default alarm threshold and clear level (scores: sums of z-scores) and the consecutive scores to switch.
#: Chosen on the calibration episodes alone: just above their largest batch score (bench/bench_surprise.py prints
#: it: 6.78 with the bundled checkpoint); docs/wam.md has the held-out table.
THRESHOLD = 7.0
CLEAR = 4.0
ON_COUNT = 1
OFF_COUNT = 3
#: Score of a frozen camera: beyond any threshold's range (wam_node's surprise_threshold tops at 1000).
FROZEN_SCORE = 1e4


def _blurred(image: np.ndarray, size: tuple[int, int], sigma: float) -> np.ndarray:
    """``image`` at ``size`` (h, w; area-resized if needed), colours 0-1, blurred."""
    h, w = size
    if image.shape[:2] != (h, w):
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    x = image.astype(np.float32) / 255.0
    return cv2.GaussianBlur(x, (0, 0), sigma) if sigma > 0 else x


def feature_maps(pair: FramePair, sigma: float = SIGMA) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-pixel (unexpected, missed) change maps of ``pair`` (module docstring) at the predicted frame's size;
    without the observed frame (squared error, None). Real and observed frames may have any size."""
    size = pair.predicted.shape[:2]
    p, r = _blurred(pair.predicted, size, sigma), _blurred(pair.real, size, sigma)
    if pair.observed is None:
        return ((p - r) ** 2).mean(axis=2), None
    o = _blurred(pair.observed, size, sigma)
    dp, dr = p - o, r - o
    cross = (dp * dr).mean(axis=2)
    return (dr * dr).mean(axis=2) - cross, (dp * dp).mean(axis=2) - cross


def block_maps(pair: FramePair, sigma: float = SIGMA, grid: int = GRID) -> list[np.ndarray]:
    """``feature_maps`` averaged over a (grid, grid) block layout: [unexpected, missed], or [error] alone."""
    return [cv2.resize(m, (grid, grid), interpolation=cv2.INTER_AREA) for m in feature_maps(pair, sigma)
            if m is not None]  # fmt: skip


def features(maps: list[np.ndarray]) -> np.ndarray:
    """(unexpected, missed) of ``block_maps``' output: each map's largest block; missed NaN when absent."""
    return np.array([maps[0].max(), maps[1].max() if len(maps) > 1 else np.nan])


def pair_features(pair: FramePair, sigma: float = SIGMA, grid: int = GRID) -> np.ndarray:
    """(unexpected, missed) of ``pair`` (module docstring); missed is NaN without the observed frame."""
    return features(block_maps(pair, sigma, grid))


@dataclass
class ErrorStats:
    """Running mean and mean absolute deviation of a pair's features, for one camera and offset."""

    mean: np.ndarray
    scale: np.ndarray
    count: int = 0

    def update(self, x: np.ndarray, rate: float) -> None:
        """Learn from one feature vector: a plain average during the warm-up (rate 0), else an EMA. NaN features
        (no observed frame) leave their statistics as they are."""
        self.count += 1
        a = 1.0 / self.count if rate <= 0 else rate
        ok = np.isfinite(x)
        self.mean[ok] += a * (x[ok] - self.mean[ok])
        self.scale[ok] += a * (np.abs(x[ok] - self.mean[ok]) - self.scale[ok])

    def z(self, x: np.ndarray, min_scale: float) -> np.ndarray:
        """z-scores (1.4826 x mean absolute deviation, floored); NaN where the feature is."""
        return (x - self.mean) / np.maximum(1.4826 * self.scale, min_scale)


@dataclass(frozen=True)
class PairScore:
    """One pair's surprise; ``score`` is NaN while its (camera, offset) is still warming up."""

    camera: str
    offset: float
    stamp: float  # the real frame's stamp
    score: float
    unexpected: float  # z-score of the real change nobody predicted
    missed: float  # z-score of the predicted change that did not happen (NaN without the observed frame)
    block: tuple[int, int]  # (row, col) of the image block of the larger of the two (grid x grid layout)
    #: a frozen camera (score FROZEN_SCORE): its picture has not changed for ``offset`` s although the arm moved
    frozen: bool = False


@dataclass
class SurpriseScorer:
    """Scores pairs against the usual features of their (camera, offset), learning them as it goes."""

    sigma: float = SIGMA
    grid: int = GRID
    warmup: int = WARMUP
    rate: float = RATE
    min_scale: float = MIN_SCALE
    learn: bool = True  # False: frozen statistics (calibrated ones are only used, not followed)
    learn_below: float = CLEAR  # pairs scoring this or more are not learned from
    stats: dict[str, ErrorStats] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.sigma >= 0 or self.grid < 1 or self.warmup < 1 or not 0 < self.rate < 1 or not self.min_scale > 0:
            raise ValueError(f"SurpriseScorer: bad settings sigma={self.sigma}, grid={self.grid}, "
                             f"warmup={self.warmup}, rate={self.rate}, min_scale={self.min_scale}")

    @staticmethod
    def key(camera: str, offset: float) -> str:
        return f"{camera}@{offset:.2f}"

    def warm(self, camera: str, offset: float) -> bool:
        """The statistics of (camera, offset) are learned enough to score."""
        st = self.stats.get(self.key(camera, offset))
        return st is not None and st.count >= self.warmup

    def _stats(self, k: str) -> ErrorStats:
        st = self.stats.get(k)
        if st is None:
            st = self.stats[k] = ErrorStats(np.zeros(len(FEATURES)), np.zeros(len(FEATURES)))
        return st

    def score(self, pair: FramePair, alarmed: bool = False) -> PairScore:
        """The pair's surprise; learns from it unless it is surprising or ``alarmed`` (the alarm is on)."""
        maps = block_maps(pair, self.sigma, self.grid)
        x = features(maps)
        st = self._stats(self.key(pair.camera, pair.offset))
        if st.count < self.warmup:
            if self.learn:
                st.update(x, 0.0)
            nan = float("nan")
            return PairScore(pair.camera, pair.offset, pair.real_stamp, nan, nan, nan, (0, 0))
        z = st.z(x, self.min_scale)
        s = float(np.nansum(np.maximum(z, 0.0)))
        if self.learn and not alarmed and s < self.learn_below:
            st.update(x, self.rate)
        worst = maps[int(np.nanargmax(z))] if np.isfinite(z).any() else maps[0]  # the feature that scores most
        r, c = np.unravel_index(int(np.argmax(worst)), worst.shape)
        return PairScore(pair.camera, pair.offset, pair.real_stamp, s, float(z[0]), float(z[1]), (int(r), int(c)))

    def calibrate(self, pairs: Iterable[FramePair]) -> None:
        """Learn the usual features from pairs of normal operation (plain averages; ``warmup`` met)."""
        for p in pairs:
            self._stats(self.key(p.camera, p.offset)).update(pair_features(p, self.sigma, self.grid), 0.0)

    def save(self, path: str | Path) -> None:
        data = {k: {"mean": s.mean.tolist(), "scale": s.scale.tolist(), "count": s.count}
                for k, s in self.stats.items()}
        Path(path).write_text(json.dumps({"features": list(FEATURES), "sigma": self.sigma, "grid": self.grid,
                                          "stats": data}))

    def load(self, path: str | Path) -> None:
        """Statistics from ``save``; ValueError naming the file when it does not fit this scorer."""
        try:
            data = json.loads(Path(path).read_text())
            made = (data.get("features"), data.get("sigma"), data.get("grid"))
            if made != (list(FEATURES), self.sigma, self.grid):
                raise ValueError(f"made for features {made[0]} at sigma {made[1]}, grid {made[2]}; this scorer uses "
                                 f"{list(FEATURES)} at sigma {self.sigma}, grid {self.grid}: calibrate again "
                                 f"(bench/bench_surprise.py --save-calibration)")
            self.stats = {k: ErrorStats(np.array(v["mean"], float), np.array(v["scale"], float), int(v["count"]))
                          for k, v in data["stats"].items()}
            if any(s.mean.shape != (len(FEATURES),) or s.scale.shape != (len(FEATURES),) for s in self.stats.values()):
                raise ValueError(f"statistics must have {len(FEATURES)} features each")
        except (OSError, KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(f"surprise calibration '{path}': {exc}") from exc


@dataclass
class SurpriseAlarm:
    """Threshold + hysteresis: on after ``on_count`` scores > ``threshold`` in a row, off after ``off_count``
    scores < ``clear`` in a row. NaN scores (warming up) change nothing."""

    threshold: float = THRESHOLD
    clear: float = CLEAR
    on_count: int = ON_COUNT
    off_count: int = OFF_COUNT
    active: bool = False
    _above: int = 0
    _below: int = 0

    def __post_init__(self) -> None:
        if not self.clear <= self.threshold or self.on_count < 1 or self.off_count < 1:
            raise ValueError(f"SurpriseAlarm: need clear <= threshold and counts >= 1, got clear={self.clear}, "
                             f"threshold={self.threshold}, on_count={self.on_count}, off_count={self.off_count}")

    def update(self, score: float) -> bool:
        """Feed one score; returns whether the alarm is on."""
        if not np.isfinite(score):
            return self.active
        self._above = self._above + 1 if score > self.threshold else 0
        self._below = self._below + 1 if score < self.clear else 0
        if not self.active and self._above >= self.on_count:
            self.active = True
        elif self.active and self._below >= self.off_count:
            self.active = False
        return self.active

    def reset(self) -> None:
        self.active, self._above, self._below = False, 0, 0


@dataclass
class SurpriseMonitor:
    """Scorer + alarm for a stream of matched batches: ``update(pairs)`` -> (batch score, alarm, pair scores);
    every camera frame goes through ``frame`` first (the frozen-camera check)."""

    scorer: SurpriseScorer = field(default_factory=SurpriseScorer)
    alarm: SurpriseAlarm = field(default_factory=SurpriseAlarm)
    frozen: FrozenCameraCheck = field(default_factory=FrozenCameraCheck)
    last: list[PairScore] = field(default_factory=list)

    def frame(self, camera: str, stamp: float, image: np.ndarray, joints: Sequence[float] | None) -> PairScore | None:
        """A camera frame and the arm's joints when it was taken: the frozen camera's score, to pass to ``update``
        with the batch, or None."""
        if not self.frozen.update(camera, stamp, image, joints):
            return None
        nan = float("nan")
        return PairScore(camera, self.frozen.unchanged_for(camera, stamp), float(stamp), FROZEN_SCORE, nan, nan,
                         (0, 0), True)

    def update(self, pairs: list[FramePair], extra: Sequence[PairScore] = ()) -> tuple[float, bool, list[PairScore]]:
        """Score ``pairs`` (plus ``frame``'s scores in ``extra``) as one batch and feed the alarm."""
        scores = [self.scorer.score(p, alarmed=self.alarm.active) for p in pairs] + list(extra)
        finite = [s.score for s in scores if np.isfinite(s.score)]
        batch = max(finite) if finite else float("nan")
        self.last = scores
        return batch, self.alarm.update(batch), scores
