"""The named steps of ``LeRobotDatasetWriter._prepare_commit``, each on its own.

Why: a commit is the one place a bug silently corrupts a dataset, and the end-to-end tests
(test_dataset_writer / _crash / _lerobot_layout / _stats) only see the sum of the steps. These pin
what each step writes (only temp files, all listed for clean-up), what it returns and what it
leaves alone (the committed files and the writer's own state).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from wam_ros.dataset import DatasetSpec, LeRobotDatasetReader, LeRobotDatasetWriter
from wam_ros.dataset.lerobot_v3 import (
    ACTION_KEY,
    DATA_PATH,
    EPISODES_PATH,
    INFO_PATH,
    STATE_KEY,
    STATS_PATH,
    TASKS_PATH,
    data_schema,
    video_key,
)
from wam_ros.dataset.writer import (
    TMP_MARK,
    EpisodeFrames,
    FileAddress,
    PreparedCommit,
    _Episode,
    tasks_with,
)

FPS = 10
JOINTS = tuple(f"j{i}" for i in range(7))
CAMS = {"scene": (16, 16), "wrist": (16, 16)}


def _spec() -> DatasetSpec:
    return DatasetSpec(FPS, JOINTS, CAMS)


def _stage(w: LeRobotDatasetWriter, task: str, n: int, seed: int = 0) -> _Episode:
    """Record ``n`` frames and close the videos as ``save_episode`` does before it prepares the commit."""
    rng = np.random.default_rng(seed)
    w.start_episode(task)
    for i in range(n):
        images = {c: np.full((*hw, 3), 20 * i % 250, np.uint8) for c, hw in CAMS.items()}
        w.add_frame(rng.normal(size=7), rng.normal(size=7), images, 100.0 + i / FPS)
    ep = w._episode
    assert ep is not None
    for cam, enc in ep.encoders.items():
        enc.close()
        w._close_synced(ep.files[cam])
    return ep


def _save(w: LeRobotDatasetWriter, task: str, n: int, seed: int = 0) -> dict:
    w.start_episode(task)
    rng = np.random.default_rng(seed)
    for i in range(n):
        w.add_frame(
            rng.normal(size=7),
            rng.normal(size=7),
            {c: np.zeros((*hw, 3), np.uint8) for c, hw in CAMS.items()},
            float(i),
        )
    return w.save_episode()


def _committed(root: Path) -> dict[str, bytes]:
    """Every committed file's bytes (staging, temp files and the lock excluded)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and TMP_MARK not in p.name and ".staging" not in p.parts and p.name != ".writer.lock"
    }


@pytest.fixture
def writer(tmp_path):
    w = LeRobotDatasetWriter(tmp_path / "ds", _spec())
    yield w
    w.close()


# ---------------------------------------------------------------------------- tasks_with
def test_tasks_with_appends_a_new_task_to_a_copy():
    mine = ["reach", "push"]
    tasks, index = tasks_with(mine, "lift")
    assert (tasks, index) == (["reach", "push", "lift"], 2)
    assert mine == ["reach", "push"]


def test_tasks_with_reuses_a_known_task():
    mine = ["reach", "push"]
    tasks, index = tasks_with(mine, "push")
    assert (tasks, index) == (["reach", "push"], 1)
    assert tasks is not mine


# ---------------------------------------------------------------------------- EpisodeFrames
def test_episode_frames_columns_and_table(tmp_path):
    ep = _Episode("t", tmp_path)
    ep.states = [np.full(7, i, np.float32) for i in range(4)]
    ep.actions = [np.full(7, -i, np.float32) for i in range(4)]
    ep.stamps = [50.0, 50.1, 50.2, 50.3]
    frames = EpisodeFrames.of(ep, episode_index=3, start=20, task_index=1, fps=FPS)
    assert frames.length == 4
    assert frames.timestamps.dtype == np.float32 and frames.stamps.dtype == np.float64
    np.testing.assert_allclose(frames.timestamps, np.arange(4) / FPS)
    table = frames.table(data_schema(_spec()))
    assert table.schema == data_schema(_spec())
    cols = table.to_pydict()
    assert cols["index"] == [20, 21, 22, 23]
    assert cols["episode_index"] == [3] * 4 and cols["task_index"] == [1] * 4
    assert cols["frame_index"] == [0, 1, 2, 3] and cols["stamp"] == ep.stamps
    assert cols[ACTION_KEY][2] == [-2.0] * 7


def test_episode_frames_numeric_covers_every_non_video_feature(tmp_path):
    ep = _Episode("t", tmp_path)
    ep.states, ep.actions, ep.stamps = [np.zeros(7, np.float32)] * 2, [np.ones(7, np.float32)] * 2, [0.0, 0.1]
    numeric = EpisodeFrames.of(ep, 0, 5, 0, FPS).numeric()
    videos = {video_key(c) for c in CAMS}
    assert set(numeric) == set(_spec().features()) - videos
    assert numeric["index"].tolist() == [5, 6]


# ---------------------------------------------------------------------------- _append_address
def _data_path(c: int, f: int) -> str:
    return DATA_PATH.format(chunk_index=c, file_index=f)


def test_first_episode_starts_at_chunk_0_file_0(writer):
    at = writer._append_address(_data_path, None, "data_files_size_in_mb")
    assert at == FileAddress(0, 0, _data_path(0, 0), rolled=False)


def test_a_file_below_its_limit_is_appended_to(writer):
    _save(writer, "t", 3)
    at = writer._append_address(_data_path, (0, 0), "data_files_size_in_mb")
    assert at == FileAddress(0, 0, _data_path(0, 0), rolled=False)


def test_a_full_file_rolls_to_the_next_and_then_the_next_chunk(tmp_path):
    w = LeRobotDatasetWriter(tmp_path / "ds", _spec(), data_files_size_in_mb=1e-6)
    _save(w, "t", 3)
    assert w._append_address(_data_path, (0, 0), "data_files_size_in_mb") == FileAddress(
        0, 1, _data_path(0, 1), rolled=True
    )
    w.info["chunks_size"] = 1  # every file fills its chunk
    assert w._append_address(_data_path, (0, 0), "data_files_size_in_mb") == FileAddress(
        1, 0, _data_path(1, 0), rolled=True
    )
    w.close()


# ---------------------------------------------------------------------------- _stage_data_file
def test_data_file_is_staged_as_a_listed_temp_holding_old_and_new_rows(writer):
    _save(writer, "t", 3)
    before = _committed(writer.root)
    ep = _stage(writer, "t", 4)
    frames = EpisodeFrames.of(ep, 1, 3, 0, FPS)
    written: list[Path] = []
    placed = writer._stage_data_file(frames, writer.episodes[-1], written)
    tmp, final = placed.rename
    assert final == _data_path(0, 0) and TMP_MARK in tmp and written == [writer.root / tmp]
    assert placed.columns == {"data/chunk_index": 0, "data/file_index": 0}
    assert pq.read_table(writer.root / tmp).column("index").to_pylist() == list(range(7))
    assert _committed(writer.root) == before


# ---------------------------------------------------------------------------- _stage_video
def test_first_video_of_a_file_is_moved_not_copied(writer):
    ep = _stage(writer, "t", 5)
    written: list[Path] = []
    placed = writer._stage_video(ep, "scene", None, written)
    key = video_key("scene")
    assert placed.rename == (
        str((ep.staging / "scene.mp4").relative_to(writer.root)),
        f"videos/{key}/chunk-000/file-000.mp4",
    )
    assert written == []
    assert placed.columns == {
        f"videos/{key}/chunk_index": 0,
        f"videos/{key}/file_index": 0,
        f"videos/{key}/from_timestamp": 0.0,
        f"videos/{key}/to_timestamp": 5 / FPS,
    }


def test_later_video_is_remuxed_onto_the_current_file_as_a_listed_temp(writer):
    _save(writer, "t", 3)
    before = _committed(writer.root)
    ep = _stage(writer, "t", 4)
    written: list[Path] = []
    placed = writer._stage_video(ep, "wrist", writer.episodes[-1], written)
    key = video_key("wrist")
    tmp, final = placed.rename
    assert final == f"videos/{key}/chunk-000/file-000.mp4" and written == [writer.root / tmp]
    assert placed.columns[f"videos/{key}/from_timestamp"] == pytest.approx(3 / FPS)
    assert placed.columns[f"videos/{key}/to_timestamp"] == pytest.approx(7 / FPS)
    assert _committed(writer.root) == before


def test_a_full_video_file_starts_the_next_one_at_time_zero(tmp_path):
    w = LeRobotDatasetWriter(tmp_path / "ds", _spec(), video_files_size_in_mb=1e-6)
    _save(w, "t", 3)
    ep = _stage(w, "t", 2)
    written: list[Path] = []
    placed = w._stage_video(ep, "scene", w.episodes[-1], written)
    key = video_key("scene")
    assert placed.rename[1] == f"videos/{key}/chunk-000/file-001.mp4" and written == []
    assert placed.columns[f"videos/{key}/file_index"] == 1
    assert placed.columns[f"videos/{key}/from_timestamp"] == 0.0
    w.close()


# ---------------------------------------------------------------------------- stats and info
def test_episode_stats_columns_are_taken_over_the_episode(writer):
    ep = _stage(writer, "t", 6)
    frames = EpisodeFrames.of(ep, 0, 0, 0, FPS)
    cols = writer._episode_stats_columns(ep, frames)
    np.testing.assert_allclose(cols[f"stats/{ACTION_KEY}/mean"], frames.actions.mean(axis=0), atol=1e-6)
    assert cols[f"stats/{STATE_KEY}/count"] == [6]
    assert f"stats/{video_key('scene')}/mean" in cols


def test_info_after_is_a_copy_with_the_new_totals(writer):
    before = json.loads(json.dumps(writer.info))
    info = writer._info_after(3, 40, 2)
    assert (info["total_episodes"], info["total_frames"], info["total_tasks"]) == (3, 40, 2)
    assert info["splits"] == {"train": "0:3"}
    assert writer.info == before


# ---------------------------------------------------------------------------- _stage_metadata
@pytest.mark.parametrize("task, new_task", [("t", False), ("another", True)])
def test_metadata_is_staged_with_info_last_and_tasks_only_when_new(writer, task, new_task):
    first = _save(writer, "t", 3)
    before = _committed(writer.root)
    tasks, _ = tasks_with(writer.tasks, task)
    row = dict(first, episode_index=1)
    info = writer._info_after(2, 6, len(tasks))
    written: list[Path] = []
    renames = writer._stage_metadata([*writer.episodes, row], tasks, info, written)
    finals = [final for _, final in renames]
    episodes = EPISODES_PATH.format(chunk_index=0, file_index=0)
    assert finals == [episodes, *([TASKS_PATH] if new_task else []), STATS_PATH, INFO_PATH]
    assert written == [writer.root / tmp for tmp, _ in renames]
    assert all(TMP_MARK in tmp for tmp, _ in renames)
    assert json.loads((writer.root / renames[-1][0]).read_text())["total_episodes"] == 2
    assert len(pq.read_table(writer.root / renames[0][0])) == 2
    assert _committed(writer.root) == before


# ---------------------------------------------------------------------------- _prepare_commit
def test_prepare_commit_returns_the_renames_and_the_state_after_them(writer):
    _save(writer, "t", 3)
    before = _committed(writer.root)
    episodes, info, tasks = list(writer.episodes), dict(writer.info), list(writer.tasks)
    ep = _stage(writer, "new task", 4)
    written: list[Path] = []
    commit = writer._prepare_commit(ep, written)
    assert isinstance(commit, PreparedCommit)
    finals = [final for _, final in commit.renames]
    vids = [f"videos/{video_key(c)}/chunk-000/file-000.mp4" for c in CAMS]
    assert finals[:3] == [*vids, _data_path(0, 0)] and finals[-1] == INFO_PATH and TASKS_PATH in finals
    assert commit.row["episode_index"] == 1 and commit.row["length"] == 4
    assert (commit.row["dataset_from_index"], commit.row["dataset_to_index"]) == (3, 7)
    assert commit.tasks == ["t", "new task"] and commit.info["total_frames"] == 7
    # nothing committed and the writer's state untouched until the journal is applied
    assert _committed(writer.root) == before
    assert (writer.episodes, writer.info, writer.tasks) == (episodes, info, tasks)
    # abandoning a prepared commit (what save_episode does on OSError) leaves the dataset as it was
    for p in written:
        p.unlink()
    writer.discard_episode()
    r = LeRobotDatasetReader(writer.root)
    r.validate(decode_videos=True)
    assert [e["length"] for e in r.episodes] == [3]
