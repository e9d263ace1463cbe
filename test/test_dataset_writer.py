"""LeRobotDataset v3 writer/reader: round trip, metadata consistency, bad input refused."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from wam_ros.dataset import DatasetError, DatasetSpec, LeRobotDatasetReader, LeRobotDatasetWriter
from wam_ros.dataset.stats import aggregate_stats, feature_stats

JOINTS = tuple(f"j{i}" for i in range(7))
CAMS = {"scene": (48, 64), "wrist": (32, 32)}


def _image(cam: str, i: int) -> np.ndarray:
    """A frame whose mean brightness encodes (camera, frame index), so decoded order can be checked."""
    h, w = CAMS[cam]
    base = 30 if cam == "scene" else 130
    return np.full((h, w, 3), base + 7 * (i % 15), np.uint8)


def _record(writer: LeRobotDatasetWriter, task: str, n: int, seed: int, t0: float = 10.0) -> dict:
    rng = np.random.default_rng(seed)
    states, actions, stamps = rng.normal(size=(n, 7)), rng.normal(size=(n, 7)), t0 + np.arange(n) / writer.spec.fps
    writer.start_episode(task)
    for i in range(n):
        writer.add_frame(states[i], actions[i], {c: _image(c, i) for c in CAMS}, stamps[i])
    row = writer.save_episode()
    return {"states": states, "actions": actions, "stamps": stamps, "row": row}


def test_round_trip_frames_timestamps_actions_and_metadata(tmp_path):
    spec = DatasetSpec(15, JOINTS, CAMS)
    w = LeRobotDatasetWriter(tmp_path / "ds", spec)
    sent = [_record(w, "reach the red cube", 12, 0), _record(w, "reach the blue cube", 9, 1),
            _record(w, "reach the red cube", 7, 2)]
    r = LeRobotDatasetReader(tmp_path / "ds")
    r.validate(decode_videos=True)
    assert r.num_episodes == 3 and r.num_frames == 28
    assert r.tasks == ["reach the red cube", "reach the blue cube"]
    info = json.loads((tmp_path / "ds/meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["fps"] == 15 and info["total_tasks"] == 2
    assert info["features"]["observation.state"]["names"] == list(JOINTS)
    assert info["features"]["observation.images.scene"]["info"]["video.codec"] in ("h264", "av1", "mpeg4")
    for i, s in enumerate(sent):
        d = r.episode_data(i)
        np.testing.assert_allclose(d["observation.state"], s["states"].astype(np.float32))
        np.testing.assert_allclose(d["action"], s["actions"].astype(np.float32))
        np.testing.assert_allclose(d["stamp"], s["stamps"])
        np.testing.assert_allclose(d["timestamp"], np.arange(len(s["states"])) / 15, atol=1e-6)
        assert d["task_index"][0] == r.tasks.index(r.episode_task(i))
        for cam in CAMS:
            frames, times = r.episode_frames(i, cam)
            assert frames.shape == (len(s["states"]), *CAMS[cam], 3)
            np.testing.assert_allclose(times, np.arange(len(s["states"])) / 15, atol=1e-3)
            expected = np.array([_image(cam, k).mean() for k in range(len(frames))])
            np.testing.assert_allclose(frames.reshape(len(frames), -1).mean(axis=1), expected, atol=4)
    # the episodes of a camera share one file, laid end to end
    ep = r.episodes
    assert ep[1]["videos/observation.images.scene/from_timestamp"] == pytest.approx(12 / 15)
    assert ep[2]["dataset_from_index"] == 21 and ep[2]["dataset_to_index"] == 28
    assert len(list((tmp_path / "ds/videos/observation.images.scene").rglob("*.mp4"))) == 1
    # global stats are the pooled per-episode stats
    stats = r.stats()
    all_actions = np.concatenate([s["actions"] for s in sent]).astype(np.float32)
    np.testing.assert_allclose(stats["action"]["mean"], all_actions.mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(stats["action"]["std"], all_actions.std(axis=0), atol=1e-5)
    assert stats["action"]["count"] == [28]
    assert np.array(stats["observation.images.wrist"]["mean"]).shape == (3, 1, 1)
    # tasks.parquet carries pandas index metadata (LeRobot reads it with pd.read_parquet)
    assert b"pandas" in pq.read_schema(tmp_path / "ds/meta/tasks.parquet").metadata
    leftovers = [p for p in (tmp_path / "ds").rglob("*") if ".tmp" in p.name or p.name == ".commit.json"]
    assert not leftovers and not any((tmp_path / "ds/.staging").iterdir())


def test_reopen_appends_and_refuses_another_spec(tmp_path):
    spec = DatasetSpec(10, JOINTS, CAMS)
    w = LeRobotDatasetWriter(tmp_path / "ds", spec)
    _record(w, "a", 5, 0)
    w.close()
    w2 = LeRobotDatasetWriter(tmp_path / "ds", spec)
    assert w2.num_episodes == 1
    _record(w2, "b", 6, 1)
    r = LeRobotDatasetReader(tmp_path / "ds")
    r.validate(decode_videos=True)
    assert [e["length"] for e in r.episodes] == [5, 6]
    with pytest.raises(DatasetError, match="another process"):  # w2 still holds the directory
        LeRobotDatasetWriter(tmp_path / "ds", spec)
    w2.close()
    with pytest.raises(DatasetError, match="fps=10"):
        LeRobotDatasetWriter(tmp_path / "ds", DatasetSpec(30, JOINTS, CAMS))


def test_file_rollover_keeps_dataset_valid(tmp_path):
    """Tiny size limits force a new data and video file per episode (the chunk/file layout)."""
    w = LeRobotDatasetWriter(tmp_path / "ds", DatasetSpec(10, JOINTS, CAMS), data_files_size_in_mb=1e-6,
                             video_files_size_in_mb=1e-6)
    for k in range(3):
        _record(w, "a", 4 + k, k)
    r = LeRobotDatasetReader(tmp_path / "ds")
    r.validate(decode_videos=True)
    assert [e["data/file_index"] for e in r.episodes] == [0, 1, 2]
    assert [e["videos/observation.images.scene/file_index"] for e in r.episodes] == [0, 1, 2]
    assert len(list((tmp_path / "ds/data").rglob("*.parquet"))) == 3


def test_bad_frames_are_refused_and_the_episode_goes_on(tmp_path):
    w = LeRobotDatasetWriter(tmp_path / "ds", DatasetSpec(10, JOINTS, CAMS))
    imgs = {c: _image(c, 0) for c in CAMS}
    with pytest.raises(DatasetError, match="no episode"):
        w.add_frame(np.zeros(7), np.zeros(7), imgs, 0.0)
    w.start_episode("t")
    with pytest.raises(DatasetError, match="action has 6 values"):
        w.add_frame(np.zeros(7), np.zeros(6), imgs, 0.0)
    with pytest.raises(DatasetError, match="non-finite"):
        w.add_frame(np.full(7, np.nan), np.zeros(7), imgs, 0.0)
    with pytest.raises(DatasetError, match="camera 'wrist'"):
        w.add_frame(np.zeros(7), np.zeros(7), {**imgs, "wrist": np.zeros((10, 10, 3), np.uint8)}, 0.0)
    with pytest.raises(DatasetError, match="expected"):
        w.add_frame(np.zeros(7), np.zeros(7), {"scene": imgs["scene"]}, 0.0)
    w.add_frame(np.zeros(7), np.ones(7), imgs, 0.0)
    w.save_episode()
    r = LeRobotDatasetReader(tmp_path / "ds")
    r.validate(decode_videos=True)
    assert r.num_frames == 1


def test_discard_and_empty_save(tmp_path):
    w = LeRobotDatasetWriter(tmp_path / "ds", DatasetSpec(10, JOINTS, CAMS))
    w.start_episode("t")
    with pytest.raises(DatasetError, match="no frames"):
        w.save_episode()
    w.add_frame(np.zeros(7), np.zeros(7), {c: _image(c, 0) for c in CAMS}, 0.0)
    w.discard_episode()
    assert not w.recording and not any((tmp_path / "ds/.staging").iterdir())
    r = LeRobotDatasetReader(tmp_path / "ds")
    r.validate()
    assert r.num_episodes == 0


def test_spec_refuses_odd_video_size():
    with pytest.raises(DatasetError, match="even"):
        DatasetSpec(10, JOINTS, {"scene": (47, 64)})


def test_aggregate_stats_pools_episodes():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(5, 3)), rng.normal(2.0, 3.0, size=(11, 3))
    pooled = aggregate_stats([{"x": feature_stats(a)}, {"x": feature_stats(b)}])["x"]
    both = np.concatenate([a, b])
    np.testing.assert_allclose(pooled["mean"], both.mean(axis=0))
    np.testing.assert_allclose(pooled["std"], both.std(axis=0))
    np.testing.assert_allclose(pooled["min"], both.min(axis=0))
    assert pooled["count"].tolist() == [16]
