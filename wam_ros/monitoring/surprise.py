"""Surprise: how far reality departs from what the WAM predicted, in units of its usual error.

Each ``FramePair`` (a predicted frame and the real frame that arrived for its time) gives
an error per image block: both frames are brought to the predicted frame's size and
averaged over a ``grid`` x ``grid`` block layout, and the block error is the mean
absolute colour difference of the block means. Block means tolerate the blur of a small
world model; blocks keep a localised change (a moved cube, a hand in front of the
camera) from being averaged away by the rest of the frame.

In scene mode (``scene_rate`` > 0, what wam_node runs) the error map is first taken relative to the
scene's own: the first pair of each (camera, offset) after ``new_scene`` sets it and it follows the
scene slowly, so what the model always gets wrong in this scene (cubes it never draws, lying in other
blocks in every scene) is not a surprise, and a change within the scene is.

The error (or that residual) is normalised per camera, predicted offset and block by the model's usual
error there: a robust running mean and scale (mean absolute deviation), learned from
the first ``warmup`` pairs of each (camera, offset) and then followed slowly
(``rate``) on unalarmed pairs only, so a disturbance is not learned away. Statistics can
also be calibrated on normal episodes and saved (``save``/``load``). A pair's score is
the largest block z-score (and the whole-frame z-score, whichever is larger); a batch's
score is its largest pair score. ``SurpriseAlarm`` turns scores into an alarm with a
threshold and hysteresis (on after ``on_count`` consecutive scores above ``threshold``,
off after ``off_count`` consecutive scores below ``clear``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from wam_ros.monitoring.prediction_matching import FramePair

#: Block layout of the error map (grid x grid blocks).
GRID = 8
#: Pairs per (camera, offset) learned before scores are reported.
WARMUP = 20
#: Rate at which the statistics follow unalarmed pairs after the warm-up.
RATE = 0.02
#: Floor of the error scale [mean |colour difference| in 0-1 units], so a block the model always gets right
#: (scale ~0) does not turn pixel noise into huge scores.
MIN_SCALE = 0.01
#: Rate at which a scene's own error map follows it (scene mode, what wam_node and bench_surprise use).
SCENE_RATE = 0.3
#: Default alarm threshold and clear level (normalised scores) and the consecutive scores to switch. Chosen on
#: bench/bench_surprise.py's traces of seeds 1000-1005 with the bundled checkpoint (normal episodes score up to
#: ~15 in their first second and in some scenes throughout; a disturbance that shows scores 20-100 once, and a
#: single score suffices: the chunk after it already sees the new state); docs/wam.md has the held-out table.
THRESHOLD = 15.0
CLEAR = 10.0
ON_COUNT = 1
OFF_COUNT = 3


def block_errors(predicted: np.ndarray, real: np.ndarray, grid: int = GRID) -> np.ndarray:
    """(grid, grid) mean |colour difference| (0-1) of the block means of ``predicted`` and ``real``.

    ``real`` is resized (area averaging) to ``predicted``'s size first, whatever its size.
    """
    h, w = predicted.shape[:2]
    if real.shape[:2] != (h, w):
        real = cv2.resize(real, (w, h), interpolation=cv2.INTER_AREA)
    pm = cv2.resize(predicted.astype(np.float32), (grid, grid), interpolation=cv2.INTER_AREA)
    rm = cv2.resize(real.astype(np.float32), (grid, grid), interpolation=cv2.INTER_AREA)
    return np.abs(pm - rm).mean(axis=2) / 255.0


@dataclass
class ErrorStats:
    """Running robust mean and scale of the block errors (and their whole-frame mean) of one key."""

    mean: np.ndarray
    scale: np.ndarray
    whole_mean: float = 0.0
    whole_scale: float = 0.0
    count: int = 0

    def update(self, err: np.ndarray, rate: float) -> None:
        """Learn from one error map: a plain average during the warm-up (rate 0), else an EMA."""
        self.count += 1
        a = 1.0 / self.count if rate <= 0 else rate
        whole = float(err.mean())
        self.mean += a * (err - self.mean)
        self.scale += a * (np.abs(err - self.mean) - self.scale)
        self.whole_mean += a * (whole - self.whole_mean)
        self.whole_scale += a * (abs(whole - self.whole_mean) - self.whole_scale)

    def z(self, err: np.ndarray, min_scale: float) -> tuple[np.ndarray, float]:
        """Block z-scores and the whole-frame z-score (1.4826 MAD-style scale, floored)."""
        zb = (err - self.mean) / np.maximum(1.4826 * self.scale, min_scale)
        zw = (float(err.mean()) - self.whole_mean) / max(1.4826 * self.whole_scale, min_scale / 4)
        return zb, zw


@dataclass(frozen=True)
class PairScore:
    """One pair's surprise; ``score`` is NaN while its (camera, offset) is still warming up."""

    camera: str
    offset: float
    stamp: float  # the real frame's stamp
    score: float
    block: tuple[int, int]  # (row, col) of the most surprising block
    whole: float  # whole-frame z-score


@dataclass
class SurpriseScorer:
    """Scores pairs against the usual error of their (camera, offset), learning it as it goes."""

    grid: int = GRID
    warmup: int = WARMUP
    rate: float = RATE
    min_scale: float = MIN_SCALE
    learn: bool = True  # False: frozen statistics (calibrated ones are only used, not followed)
    learn_below: float = CLEAR  # pairs scoring this or more are not learned from
    #: > 0: scene mode — the error is first taken relative to this scene's own error map (set by the scene's
    #: first pair per camera and offset, then followed at this rate), and the statistics are those of that
    #: residual; ``new_scene`` starts over (a new episode / task). 0: errors are compared as they are.
    scene_rate: float = 0.0
    stats: dict[str, ErrorStats] = field(default_factory=dict)
    scene: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.grid < 1 or self.warmup < 1 or not 0 < self.rate < 1 or not self.min_scale > 0
                or not 0 <= self.scene_rate < 1):
            raise ValueError(f"SurpriseScorer: bad settings grid={self.grid}, warmup={self.warmup}, "
                             f"rate={self.rate}, min_scale={self.min_scale}")

    @staticmethod
    def key(camera: str, offset: float) -> str:
        return f"{camera}@{offset:.2f}"

    def warm(self, camera: str, offset: float) -> bool:
        """The statistics of (camera, offset) are learned enough to score."""
        st = self.stats.get(self.key(camera, offset))
        return st is not None and st.count >= self.warmup

    def new_scene(self) -> None:
        """Forget the scene's own error maps (scene mode): the next pair of each camera and offset sets them."""
        self.scene.clear()

    def _residual(self, k: str, err: np.ndarray) -> np.ndarray | None:
        """Scene mode: ``err`` relative to the scene's error map (None for the scene's first pair, which sets it)."""
        if self.scene_rate <= 0:
            return err
        base = self.scene.get(k)
        if base is None:
            self.scene[k] = err.copy()
            return None
        return err - base

    def score(self, pair: FramePair, alarmed: bool = False) -> PairScore:
        """The pair's surprise; learns from it unless it is surprising or ``alarmed`` (the alarm is on)."""
        raw = block_errors(pair.predicted, pair.real, self.grid)
        k = self.key(pair.camera, pair.offset)
        err = self._residual(k, raw)
        if err is None:
            return PairScore(pair.camera, pair.offset, pair.real_stamp, float("nan"), (0, 0), float("nan"))
        st = self.stats.get(k)
        if st is None:
            st = self.stats[k] = ErrorStats(np.zeros_like(err), np.zeros_like(err))
        if st.count < self.warmup:
            if self.learn:
                st.update(err, 0.0)
            return PairScore(pair.camera, pair.offset, pair.real_stamp, float("nan"), (0, 0), float("nan"))
        zb, zw = st.z(err, self.min_scale)
        r, c = np.unravel_index(int(np.argmax(zb)), zb.shape)
        s = max(float(zb[r, c]), zw)
        if self.learn and not alarmed and s < self.learn_below:
            st.update(err, self.rate)
        if self.scene_rate > 0 and not alarmed and s < self.learn_below:
            self.scene[k] += self.scene_rate * (raw - self.scene[k])
        return PairScore(pair.camera, pair.offset, pair.real_stamp, s, (int(r), int(c)), zw)

    def calibrate(self, pairs: Iterable[FramePair]) -> None:
        """Learn the usual error from pairs of normal operation (plain averages; ``warmup`` met). In scene mode
        ``pairs`` are one scene's, in time order."""
        self.new_scene()
        for p in pairs:
            raw = block_errors(p.predicted, p.real, self.grid)
            k = self.key(p.camera, p.offset)
            err = self._residual(k, raw)
            if err is None:
                continue
            st = self.stats.setdefault(k, ErrorStats(np.zeros_like(err), np.zeros_like(err)))
            st.update(err, 0.0)
            if self.scene_rate > 0:
                self.scene[k] += self.scene_rate * (raw - self.scene[k])
        self.new_scene()

    def save(self, path: str | Path) -> None:
        data = {k: {"mean": s.mean.tolist(), "scale": s.scale.tolist(), "whole_mean": s.whole_mean,
                    "whole_scale": s.whole_scale, "count": s.count} for k, s in self.stats.items()}
        Path(path).write_text(json.dumps({"grid": self.grid, "stats": data}))

    def load(self, path: str | Path) -> None:
        """Statistics from ``save``; ValueError naming the file when it does not fit this scorer."""
        try:
            data = json.loads(Path(path).read_text())
            if data["grid"] != self.grid:
                raise ValueError(f"grid {data['grid']} != {self.grid}")
            self.stats = {k: ErrorStats(np.array(v["mean"], float), np.array(v["scale"], float), v["whole_mean"],
                                        v["whole_scale"], int(v["count"])) for k, v in data["stats"].items()}
        except (OSError, KeyError, TypeError, ValueError) as exc:
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
    """Scorer + alarm for a stream of matched batches: ``update(pairs)`` -> (batch score, alarm, pair scores)."""

    scorer: SurpriseScorer = field(default_factory=SurpriseScorer)
    alarm: SurpriseAlarm = field(default_factory=SurpriseAlarm)
    last: list[PairScore] = field(default_factory=list)

    def update(self, pairs: list[FramePair]) -> tuple[float, bool, list[PairScore]]:
        scores = [self.scorer.score(p, alarmed=self.alarm.active) for p in pairs]
        finite = [s.score for s in scores if np.isfinite(s.score)]
        batch = max(finite) if finite else float("nan")
        self.last = scores
        return batch, self.alarm.update(batch), scores
