"""Quantile statistics as LeRobot 0.6 writes them (q01 q10 q50 q90 q99 beside min/max/mean/std/count):
per episode in the episodes parquet, aggregated per dataset in meta/stats.json.

Without them LeRobot's QUANTILES normalisation (Pi-0.5's default) refuses the dataset:
``ValueError: QUANTILES normalization mode requires q01 and q99 stats``.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from wam_ros.dataset import DatasetSpec, LeRobotDatasetReader, LeRobotDatasetWriter
from wam_ros.dataset.stats import (
    QUANTILE_BINS,
    QUANTILE_KEYS,
    QUANTILES,
    ImageStats,
    aggregate_stats,
    downsample_for_stats,
    feature_stats,
)

JOINTS = ("j1", "j2", "j3")
CAMS = {"scene": (24, 32)}


def _write(root, lengths, seed=0):
    rng = np.random.default_rng(seed)
    w = LeRobotDatasetWriter(root, DatasetSpec(10, JOINTS, CAMS))
    sent = []
    for e, n in enumerate(lengths):
        states, actions = rng.normal(size=(n, 3)), rng.normal(e, 1 + e, size=(n, 3))
        frames = rng.integers(0, 256, (n, *CAMS["scene"], 3), dtype=np.uint8)
        w.start_episode("reach the red cube")
        for i in range(n):
            w.add_frame(states[i], actions[i], {"scene": frames[i]}, 100.0 + e + i / 10)
        w.save_episode()
        sent.append({"state": states.astype(np.float32), "action": actions.astype(np.float32), "frames": frames})
    w.close()
    return sent


def _lerobot_quantile_check(stats: dict) -> None:
    """What LeRobot's QUANTILES normaliser demands of meta/stats.json before it will train."""
    for key in ("observation.state", "action"):
        if "q01" not in stats[key] or "q99" not in stats[key]:
            raise ValueError("QUANTILES normalization mode requires q01 and q99 stats")


def test_stats_json_and_episode_rows_carry_lerobot_quantiles(tmp_path):
    _write(tmp_path / "ds", [12, 7])
    stats = json.loads((tmp_path / "ds/meta/stats.json").read_text())
    _lerobot_quantile_check(stats)
    shapes = {"observation.state": (3,), "action": (3,), "observation.images.scene": (3, 1, 1), "stamp": (1,),
              "timestamp": (1,), "frame_index": (1,), "episode_index": (1,), "index": (1,), "task_index": (1,)}
    assert set(stats) == set(shapes)
    for key, shape in shapes.items():
        assert list(stats[key]) == ["min", "max", "mean", "std", "count", *QUANTILE_KEYS], key
        for stat in ("min", "max", "mean", "std", *QUANTILE_KEYS):
            assert np.shape(stats[key][stat]) == shape, (key, stat)
        assert stats[key]["count"] == [19]
    ep = pq.read_table(tmp_path / "ds/meta/episodes/chunk-000/file-000.parquet").to_pylist()
    for row in ep:
        for key in shapes:
            for q in QUANTILE_KEYS:
                assert np.shape(row[f"stats/{key}/{q}"]) == shapes[key]
    # the reader hands the same file back
    assert LeRobotDatasetReader(tmp_path / "ds").stats()["action"]["q99"] == stats["action"]["q99"]


def test_quantiles_follow_lerobots_histogram_reading():
    """5000 bins over [min - 1e-10, max + 1e-10], the first bin whose cumulative count reaches q * N, linear
    inside it: within one bin of the inverted-CDF quantile, and exactly the documented rule on 0..99."""
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.normal(size=(400, 2)), rng.exponential(3.0, size=(400, 2))])
    s = feature_stats(x)
    width = (x.max(axis=0) - x.min(axis=0)) / QUANTILE_BINS
    for key, q in zip(QUANTILE_KEYS, QUANTILES, strict=True):
        exact = np.quantile(x, q, axis=0, method="inverted_cdf")
        assert np.all(np.abs(s[key] - exact) <= 1.0001 * width + 1e-9), (key, s[key], exact)
    # 0..99: q50's target is 50 samples, reached in the bin of 49, which holds one: its upper edge
    s = feature_stats(np.arange(100.0))
    edges = np.linspace(-1e-10, 99 + 1e-10, QUANTILE_BINS + 1)
    bin49 = np.searchsorted(edges, 49.0, side="right") - 1
    assert s["q50"][0] == pytest.approx(edges[bin49 + 1], abs=1e-12)
    assert s["min"][0] == 0 and s["max"][0] == 99 and s["count"].tolist() == [100]


def test_one_sample_quantiles_are_the_mean():
    s = feature_stats(np.array([[1.0, -2.0]]))
    for q in QUANTILE_KEYS:
        np.testing.assert_array_equal(s[q], [1.0, -2.0])


def test_image_stats_are_exact_over_lerobots_downsampled_pixels():
    rng = np.random.default_rng(2)
    frames = rng.integers(0, 256, (5, 240, 320, 3), dtype=np.uint8)
    frames[..., 2] //= 4
    st = ImageStats()
    for f in frames:
        st.add(f)
    s = st.result()
    px = np.concatenate([downsample_for_stats(f).reshape(-1, 3) for f in frames]).astype(np.float64)
    assert downsample_for_stats(frames[0]).shape == (120, 160, 3)  # 320 px wide: every 2nd pixel, like LeRobot
    np.testing.assert_allclose(s["mean"].ravel(), px.mean(axis=0) / 255, rtol=1e-12)
    np.testing.assert_allclose(s["std"].ravel(), px.std(axis=0) / 255, rtol=1e-12)
    np.testing.assert_array_equal(s["min"].ravel(), px.min(axis=0) / 255)
    np.testing.assert_array_equal(s["max"].ravel(), px.max(axis=0) / 255)
    width = (px.max(axis=0) - px.min(axis=0)) / QUANTILE_BINS / 255
    for key, q in zip(QUANTILE_KEYS, QUANTILES, strict=True):
        exact = np.quantile(px, q, axis=0, method="inverted_cdf") / 255
        assert np.all(np.abs(s[key].ravel() - exact) <= 1.0001 * width + 1e-9), key
    assert s["count"].tolist() == [5] and all(v.shape == (3, 1, 1) for k, v in s.items() if k != "count")


def test_dataset_quantiles_are_count_weighted_means_of_episode_quantiles(tmp_path):
    sent = _write(tmp_path / "ds", [20, 5, 9], seed=7)
    r = LeRobotDatasetReader(tmp_path / "ds")
    stats = r.stats()
    lengths = np.array([len(s["action"]) for s in sent], dtype=float)
    for key in ("action", "observation.state"):
        per_ep = [np.array(e[f"stats/{key}/q90"]) for e in r.episodes]
        np.testing.assert_allclose(stats[key]["q90"], (lengths[:, None] * per_ep).sum(axis=0) / lengths.sum())
        allv = np.concatenate([s["action" if key == "action" else "state"] for s in sent])
        np.testing.assert_allclose(stats[key]["mean"], allv.mean(axis=0), atol=1e-6)
        np.testing.assert_allclose(stats[key]["std"], allv.std(axis=0), atol=1e-6)
        np.testing.assert_allclose(stats[key]["max"], allv.max(axis=0), atol=1e-6)
    # and each episode's own quantiles are its data's
    ep1 = r.episode_data(1)["action"]
    np.testing.assert_allclose(r.episodes[1]["stats/action/q50"], feature_stats(ep1)["q50"])


def test_aggregation_keeps_a_quantile_only_when_every_episode_has_it():
    rng = np.random.default_rng(0)
    a, b = feature_stats(rng.normal(size=(8, 2))), feature_stats(rng.normal(size=(4, 2)))
    old = {k: v for k, v in b.items() if not k.startswith("q")}
    assert "q01" in aggregate_stats([{"x": a}, {"x": b}])["x"]
    assert "q01" not in aggregate_stats([{"x": a}, {"x": old}])["x"]


def test_appending_to_a_dataset_written_before_quantiles_keeps_the_new_columns(tmp_path):
    """Episode rows are one table: a row without quantile columns (an older dataset) must not make the writer
    drop the new episode's quantiles (pyarrow's from_pylist takes the columns of the first row only)."""
    _write(tmp_path / "ds", [6])
    path = tmp_path / "ds/meta/episodes/chunk-000/file-000.parquet"
    t = pq.read_table(path)
    pq.write_table(t.select([c for c in t.column_names if c.rsplit("/", 1)[-1] not in QUANTILE_KEYS]), path)
    w = LeRobotDatasetWriter(tmp_path / "ds", DatasetSpec(10, JOINTS, CAMS))
    w.start_episode("reach the red cube")
    for i in range(4):
        w.add_frame(np.zeros(3), np.ones(3), {"scene": np.zeros((24, 32, 3), np.uint8)}, float(i))
    w.save_episode()
    w.close()
    rows = pq.read_table(path).to_pylist()
    assert rows[0]["stats/action/q01"] is None and rows[1]["stats/action/q01"] == pytest.approx([1.0] * 3)
    stats = json.loads((tmp_path / "ds/meta/stats.json").read_text())
    assert "q01" not in stats["action"] and stats["action"]["count"] == [10]  # as LeRobot aggregates it
