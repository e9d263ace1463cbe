"""Feature statistics as LeRobot 0.6 writes them: min/max/mean/std/count and q01 q10 q50 q90 q99.

What LeRobot does (``lerobot/datasets/compute_stats.py``), and so what this module does:

* per episode, per feature, over axis 0 (a vector feature gets one value per dimension, a
  scalar feature shape ``(1,)``, a camera one value per channel, shape ``(3, 1, 1)``, in [0, 1]);
* quantiles from a histogram of ``QUANTILE_BINS`` equal bins spanning ``[min - 1e-10, max + 1e-10]``
  per dimension, read off the cumulative counts with linear interpolation inside the bin
  (LeRobot's ``RunningQuantileStats``); with fewer than 2 samples every quantile is the mean;
* camera frames are first reduced like LeRobot's ``auto_downsample_height_width`` (every
  ``int(long side / 150)``-th pixel when the long side is >= 300 px) and pooled per channel;
* dataset statistics aggregate the episodes': min of mins, max of maxes, count-weighted mean,
  pooled variance (parallel algorithm) and **count-weighted mean of each quantile**.

Camera statistics use every recorded frame (what LeRobot's streaming encoder does; its
default path samples up to ``max(100, n**0.75)`` frames), and they are exact: a frame adds
its per-channel counts of the 256 pixel values, so an episode's histogram costs 3 x 256
integers of memory whatever its length. ``count`` is the number of frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
QUANTILE_KEYS = tuple(f"q{round(q * 100):02d}" for q in QUANTILES)  # q01 q10 q50 q90 q99
STAT_NAMES = ("min", "max", "mean", "std", "count", *QUANTILE_KEYS)
QUANTILE_BINS = 5000  # LeRobot's RunningQuantileStats default
_EDGE_PAD = 1e-10  # LeRobot pads the histogram range by this much on each side
_DOWNSAMPLE_TARGET, _DOWNSAMPLE_THRESHOLD = 150, 300  # LeRobot's auto_downsample_height_width


def _edges(lo: float, hi: float) -> np.ndarray:
    return np.linspace(lo - _EDGE_PAD, hi + _EDGE_PAD, QUANTILE_BINS + 1)


def _quantile(hist: np.ndarray, edges: np.ndarray, target: float) -> float:
    """The value below which ``target`` samples lie, interpolated inside its bin (LeRobot's reading)."""
    cumsum = np.cumsum(hist)
    idx = int(np.searchsorted(cumsum, target))
    if idx == 0:
        return float(edges[0])
    if idx >= len(cumsum):
        return float(edges[-1])
    before = cumsum[idx - 1]
    in_bin = cumsum[idx] - before
    if in_bin == 0:
        return float(edges[idx])
    return float(edges[idx] + (target - before) / in_bin * (edges[idx + 1] - edges[idx]))


def _quantiles_of_histograms(hists: Sequence[np.ndarray], edges: Sequence[np.ndarray], n: int) -> dict[str, np.ndarray]:
    return {
        key: np.array([_quantile(h, e, q * n) for h, e in zip(hists, edges, strict=True)])
        for key, q in zip(QUANTILE_KEYS, QUANTILES, strict=True)
    }


def feature_stats(values: np.ndarray) -> dict[str, np.ndarray]:
    """Statistics of one numeric feature over an episode: ``values`` is (N,) or (N, D)."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    n = v.shape[0]
    if n == 0:
        raise ValueError("no samples for statistics")
    lo, hi, mean = v.min(axis=0), v.max(axis=0), v.mean(axis=0)
    out = {"min": lo, "max": hi, "mean": mean, "std": v.std(axis=0), "count": np.array([n])}
    if n < 2:
        out.update({k: mean.copy() for k in QUANTILE_KEYS})
        return out
    edges = [_edges(lo[d], hi[d]) for d in range(v.shape[1])]
    hists = [np.histogram(v[:, d], bins=edges[d])[0] for d in range(v.shape[1])]
    out.update(_quantiles_of_histograms(hists, edges, n))
    return out


def downsample_for_stats(rgb: np.ndarray) -> np.ndarray:
    """The pixels LeRobot takes for image statistics: every f-th row and column of large frames."""
    h, w = rgb.shape[:2]
    if max(h, w) < _DOWNSAMPLE_THRESHOLD:
        return rgb
    f = int(w / _DOWNSAMPLE_TARGET) if w > h else int(h / _DOWNSAMPLE_TARGET)
    return rgb[::f, ::f]


class ImageStats:
    """Exact per-channel statistics of an episode's RGB frames, from per-value pixel counts."""

    _OFFSETS = np.arange(3, dtype=np.intp) * 256

    def __init__(self) -> None:
        self.frames = 0
        self.counts = np.zeros((3, 256), dtype=np.int64)

    def add(self, rgb: np.ndarray) -> None:
        px = downsample_for_stats(rgb).reshape(-1, 3)
        self.counts += np.bincount((px + self._OFFSETS).ravel(), minlength=768).reshape(3, 256)
        self.frames += 1

    def result(self) -> dict[str, np.ndarray]:
        if self.frames == 0:
            raise ValueError("no frames for image statistics")
        values = np.arange(256, dtype=np.float64)
        n = int(self.counts[0].sum())
        lo = np.array([values[c > 0].min() for c in self.counts])
        hi = np.array([values[c > 0].max() for c in self.counts])
        mean = self.counts @ values / n
        std = np.sqrt(np.array([c @ (values - m) ** 2 for c, m in zip(self.counts, mean, strict=True)]) / n)
        out = {"min": lo, "max": hi, "mean": mean, "std": std}
        if n < 2:
            out.update({k: mean.copy() for k in QUANTILE_KEYS})
        else:
            edges = [_edges(lo[c], hi[c]) for c in range(3)]
            hists = [np.histogram(values, bins=e, weights=c)[0] for c, e in zip(self.counts, edges, strict=True)]
            out.update(_quantiles_of_histograms(hists, edges, n))
        stats = {k: (v / 255.0).reshape(3, 1, 1) for k, v in out.items()}
        stats["count"] = np.array([self.frames])
        return {k: stats[k] for k in STAT_NAMES}


def aggregate_stats(per_episode: Sequence[dict[str, dict[str, np.ndarray]]]) -> dict[str, dict[str, np.ndarray]]:
    """Dataset statistics from episode statistics, as LeRobot's ``aggregate_stats`` combines them.

    A quantile is aggregated only when every episode has it (episodes written before quantiles
    existed leave the dataset without them, as in LeRobot).
    """
    out: dict[str, dict[str, np.ndarray]] = {}
    keys = list(dict.fromkeys(k for s in per_episode for k in s))
    for key in keys:
        items = [s[key] for s in per_episode if key in s]
        counts = np.array([float(np.asarray(i["count"]).reshape(-1)[0]) for i in items])
        total = counts.sum()
        w = (counts / total).reshape((-1,) + (1,) * np.asarray(items[0]["mean"]).ndim)

        def stacked(stat: str, items: list = items) -> np.ndarray:
            return np.stack([np.asarray(i[stat], dtype=float) for i in items])

        means = stacked("mean")
        mean = (w * means).sum(axis=0)
        var = (w * (stacked("std") ** 2 + (means - mean) ** 2)).sum(axis=0)
        agg = {
            "min": stacked("min").min(axis=0),
            "max": stacked("max").max(axis=0),
            "mean": mean,
            "std": np.sqrt(var),
            "count": np.array([int(total)]),
        }
        for q in QUANTILE_KEYS:
            if all(q in i for i in items):
                agg[q] = (w * stacked(q)).sum(axis=0)
        out[key] = agg
    return out


def stats_to_json(stats: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, list]]:
    return {k: {s: np.asarray(v).tolist() for s, v in d.items()} for k, d in stats.items()}


def episode_stats_columns(stats: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    """Flattened ``stats/<feature>/<stat>`` columns of the episodes parquet (LeRobot's flatten_dict)."""
    return {f"stats/{key}/{stat}": np.asarray(v).tolist() for key, d in stats.items() for stat, v in d.items()}


def stats_from_episode_row(row: dict[str, Any]) -> dict[str, dict[str, np.ndarray]]:
    """Per-episode stats back from the flattened ``stats/<feature>/<stat>`` columns."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for col, value in row.items():
        if col.startswith("stats/") and value is not None and col.count("/") == 2:
            _, key, stat = col.split("/")
            out.setdefault(key, {})[stat] = np.asarray(value, dtype=float)
    return out
