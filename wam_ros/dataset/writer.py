"""Crash-safe LeRobotDataset v3 writer: stage an episode, then commit it atomically.

Why this shape: a teleop session can die at any moment (SIGKILL, power, a full disk)
and hours of demonstrations must survive it. So

* frames of the episode being recorded go only to ``<root>/.staging/`` (video encoded
  as it arrives, numbers in memory) -- nothing LeRobot's loader reads is touched;
* ``save_episode`` writes every changed file as ``<final>.tmp-<id>`` (new data
  parquet, appended videos, episodes/tasks/stats/info metadata), fsyncs them, then
  writes a redo journal ``<root>/.commit.json`` listing the renames (itself via
  temp file + fsync + ``os.replace``), applies the renames with ``os.replace``
  (videos first, ``meta/info.json`` last) and deletes the journal;
* opening the dataset (writer or ``recover()``) rolls a leftover journal forward and
  deletes staging and temp files. Temp names never match ``*.parquet``/``*.mp4``, so
  LeRobot's globbing loader never sees them.

A SIGKILL therefore loses at most the episode in progress. Any OSError while writing
(ENOSPC above all) aborts the episode, leaves the committed dataset as it was, and
puts the writer in a failed state with a clear ``DiskFullError``/``DatasetError``.
All file creation goes through ``FileIO.open_write`` -- the seam tests use to inject
a full disk.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from wam_ros.dataset import video
from wam_ros.dataset.lerobot_v3 import (
    ACTION_KEY,
    DATA_PATH,
    EPISODES_PATH,
    INFO_PATH,
    STAMP_KEY,
    STATE_KEY,
    STATS_PATH,
    TASKS_PATH,
    VIDEO_PATH,
    DatasetError,
    DatasetSpec,
    data_schema,
    dataset_encoder,
    fixed_list_array,
    next_chunk_file,
    tasks_from_table,
    tasks_table,
    video_key,
)
from wam_ros.dataset.stats import (
    ImageStats,
    aggregate_stats,
    episode_stats_columns,
    feature_stats,
    stats_from_episode_row,
    stats_to_json,
)

log = logging.getLogger(__name__)

STAGING_DIR = ".staging"
JOURNAL = ".commit.json"
LOCK_FILE = ".writer.lock"
TMP_MARK = ".tmp-"
MB = 1024 * 1024


class DiskFullError(DatasetError):
    """The disk filled up (ENOSPC); recording stopped, committed episodes are intact."""


class FileIO:
    """How the writer creates files. Subclass to inject faults (tests) or to count bytes."""

    def open_write(self, path: Path) -> BinaryIO:
        return open(path, "wb")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def recover(root: str | Path) -> list[str]:
    """Bring ``root`` to its last committed state; returns what was done (for logs).

    Rolls an interrupted commit forward from its journal, then removes the staging
    area (the episode that was being recorded) and stray temp files.
    """
    root = Path(root)
    actions: list[str] = []
    journal = root / JOURNAL
    if journal.exists():
        try:
            renames = json.loads(journal.read_text())["renames"]
        except (ValueError, KeyError) as exc:
            raise DatasetError(f"{journal}: unreadable commit journal ({exc}); inspect by hand") from exc
        for tmp, final in renames:
            if (root / tmp).exists():
                (root / final).parent.mkdir(parents=True, exist_ok=True)
                os.replace(root / tmp, root / final)
                actions.append(f"completed interrupted commit: {final}")
        fsync_dir(root)
        journal.unlink()
    staging = root / STAGING_DIR
    if staging.exists() and any(staging.iterdir()):
        actions.append(f"discarded unsaved episode data in {staging}")
    shutil.rmtree(staging, ignore_errors=True)
    for sub in ("meta", "data", "videos"):
        for p in (root / sub).rglob(f"*{TMP_MARK}*") if (root / sub).exists() else []:
            p.unlink(missing_ok=True)
            actions.append(f"removed temp file {p.relative_to(root)}")
    (root / (JOURNAL + ".tmp")).unlink(missing_ok=True)
    return actions


def episodes_table(rows: list[dict[str, Any]]) -> pa.Table:
    """The episodes parquet: one row per episode, columns in first-seen order across all rows (rows written
    before a column existed, e.g. quantiles, hold null there; ``from_pylist`` would keep only the first row's)."""
    names = list(dict.fromkeys(k for r in rows for k in r))
    return pa.table({k: [r.get(k) for r in rows] for k in names})


class _Episode:
    def __init__(self, task: str, staging: Path) -> None:
        self.task = task
        self.staging = staging
        self.encoders: dict[str, video.VideoEncoder] = {}
        self.files: dict[str, BinaryIO] = {}
        self.image_stats: dict[str, ImageStats] = {}
        self.states: list[np.ndarray] = []
        self.actions: list[np.ndarray] = []
        self.stamps: list[float] = []

    @property
    def length(self) -> int:
        return len(self.states)


def tasks_with(tasks: Sequence[str], task: str) -> tuple[list[str], int]:
    """The task list after recording ``task`` (appended when new) and its index; a copy, because the writer's own
    list may change only once the commit is done."""
    tasks = list(tasks)
    if task not in tasks:
        tasks.append(task)
    return tasks, tasks.index(task)


@dataclass(frozen=True)
class EpisodeFrames:
    """The numeric columns of one episode, computed once: the data parquet and the per-episode stats share them."""

    episode_index: int
    start: int  # global index of the episode's first frame
    task_index: int
    states: np.ndarray
    actions: np.ndarray
    stamps: np.ndarray  # the recorder's clock (float64)
    timestamps: np.ndarray  # frame_index / fps (float32), what LeRobot seeks videos by
    frame_index: np.ndarray

    @classmethod
    def of(cls, ep: _Episode, episode_index: int, start: int, task_index: int, fps: int) -> EpisodeFrames:
        frame_index = np.arange(ep.length, dtype=np.int64)
        return cls(
            episode_index=episode_index,
            start=start,
            task_index=task_index,
            states=np.stack(ep.states),
            actions=np.stack(ep.actions),
            stamps=np.array(ep.stamps),
            timestamps=(frame_index / fps).astype(np.float32),
            frame_index=frame_index,
        )

    @property
    def length(self) -> int:
        return len(self.frame_index)

    def table(self, schema: pa.Schema) -> pa.Table:
        """The episode's rows of the data parquet, in ``schema`` (the dataset's ``data_schema``)."""
        n, start = self.length, self.start
        return pa.Table.from_arrays(
            [
                fixed_list_array(self.states, pa.float32()),
                fixed_list_array(self.actions, pa.float32()),
                pa.array(self.stamps, pa.float64()),
                pa.array(self.timestamps, pa.float32()),
                pa.array(self.frame_index),
                pa.array(np.full(n, self.episode_index, np.int64)),
                pa.array(np.arange(start, start + n, dtype=np.int64)),
                pa.array(np.full(n, self.task_index, np.int64)),
            ],
            schema=schema,
        )

    def numeric(self) -> dict[str, np.ndarray]:
        """Every non-video feature's values, by feature name (what the per-episode stats are taken over)."""
        n, start = self.length, self.start
        return {
            STATE_KEY: self.states,
            ACTION_KEY: self.actions,
            STAMP_KEY: self.stamps,
            "timestamp": self.timestamps,
            "frame_index": self.frame_index,
            "episode_index": np.full(n, self.episode_index),
            "index": np.arange(start, start + n),
            "task_index": np.full(n, self.task_index),
        }


@dataclass(frozen=True)
class FileAddress:
    """Which chunk/file an episode is appended to; ``rolled`` when the current file was full and this is the next
    one (so the episode starts the file, like the very first episode does)."""

    chunk: int
    file: int
    rel: str
    rolled: bool


@dataclass(frozen=True)
class Placement:
    """One staged file of the commit: the (temp or staged, final) rename and the episodes-row columns locating it."""

    rename: tuple[str, str]
    columns: dict[str, Any]


@dataclass(frozen=True)
class PreparedCommit:
    """A commit whose files are all written as temp files: the renames to journal, and what the writer's
    episodes/info/tasks become once they are applied (kept apart so a failed commit changes nothing)."""

    renames: list[tuple[str, str]]
    row: dict[str, Any]
    info: dict[str, Any]
    tasks: list[str]


class LeRobotDatasetWriter:
    """Append episodes to a LeRobotDataset v3 directory (created if missing)."""

    def __init__(
        self,
        root: str | Path,
        spec: DatasetSpec,
        io: FileIO | None = None,
        data_files_size_in_mb: float = 100.0,
        video_files_size_in_mb: float = 200.0,
    ) -> None:
        self.root = Path(root)
        self.spec = spec
        self.io = io or FileIO()
        self.recovery_actions: list[str] = []
        self.failed: DatasetError | None = None
        self._episode: _Episode | None = None
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = self._acquire_lock()
        self.recovery_actions = recover(self.root)
        info_path = self.root / INFO_PATH
        if info_path.exists():
            self.info = json.loads(info_path.read_text())
            self._check_compatible(self.info)
            self.tasks = tasks_from_table(pq.read_table(self.root / TASKS_PATH)) if self.info["total_tasks"] else []
            self.episodes = self._load_episode_rows()
            self.codec = self._existing_codec()
        else:
            #: the PyAV encoder in use: the spec's, or libx264 where PyAV lacks it (logged by available_encoder)
            self.codec = video.available_encoder(spec.vcodec)
            self.info = spec.empty_info(data_files_size_in_mb, video_files_size_in_mb, self.codec)
            self.tasks, self.episodes = [], []
            tmp = self._tmp_write_bytes(INFO_PATH, json.dumps(self.info, indent=4).encode())
            self._write_journal([(tmp, INFO_PATH)])
            self._apply_journal([(tmp, INFO_PATH)])

    # ------------------------------------------------------------------ public API
    @property
    def num_episodes(self) -> int:
        return len(self.episodes)

    @property
    def num_frames(self) -> int:
        return int(self.info["total_frames"])

    @property
    def recording(self) -> bool:
        return self._episode is not None

    @property
    def episode_length(self) -> int:
        return self._episode.length if self._episode else 0

    def start_episode(self, task: str) -> None:
        """Begin staging a new episode with instruction ``task``."""
        self._check_usable()
        if self._episode is not None:
            raise DatasetError("an episode is already being recorded; save or discard it first")
        if not isinstance(task, str) or not task.strip():
            raise DatasetError("task (the instruction) must be a non-empty string")
        staging = self.root / STAGING_DIR / f"episode-{uuid.uuid4().hex[:8]}"
        ep = _Episode(task, staging)
        self._episode = ep
        try:
            staging.mkdir(parents=True)
            opts = video.encoder_options(self.codec, self.spec.crf, self.spec.gop, self.spec.preset)
            for cam, (h, w) in self.spec.cameras.items():
                f = self.io.open_write(staging / f"{cam}.mp4")
                ep.files[cam] = f
                ep.encoders[cam] = video.VideoEncoder(f, w, h, self.spec.fps, self.codec, opts)
                ep.image_stats[cam] = ImageStats()
        except OSError as exc:
            raise self._fail(exc, "starting an episode") from exc

    def add_frame(self, state: np.ndarray, action: np.ndarray, images: Mapping[str, np.ndarray], stamp: float) -> None:
        """Append one frame. A malformed frame is refused (DatasetError) and the episode goes on."""
        self._check_usable()
        ep = self._episode
        if ep is None:
            raise DatasetError("no episode is being recorded; call start_episode first")
        j = len(self.spec.joint_names)
        state = np.asarray(state, dtype=np.float32).reshape(-1)
        action = np.asarray(action, dtype=np.float32).reshape(-1)
        for name, v in ((STATE_KEY, state), (ACTION_KEY, action)):
            if v.shape != (j,):
                raise DatasetError(f"{name} has {v.shape[0]} values, expected {j} ({list(self.spec.joint_names)})")
            if not np.all(np.isfinite(v)):
                raise DatasetError(f"{name} contains non-finite values: {v.tolist()}")
        if set(images) != set(self.spec.cameras):
            raise DatasetError(f"frame has cameras {sorted(images)}, expected {sorted(self.spec.cameras)}")
        for cam, img in images.items():
            h, w = self.spec.cameras[cam]
            if img.shape != (h, w, 3) or img.dtype != np.uint8:
                raise DatasetError(f"camera '{cam}': image {img.shape} {img.dtype}, expected ({h}, {w}, 3) uint8")
        if not np.isfinite(stamp):
            raise DatasetError(f"frame stamp {stamp} is not finite")
        try:
            for cam, img in images.items():
                ep.encoders[cam].add(img)
                ep.image_stats[cam].add(img)
        except OSError as exc:
            raise self._fail(exc, f"writing frame {ep.length} of the episode") from exc
        ep.states.append(state)
        ep.actions.append(action)
        ep.stamps.append(float(stamp))

    def discard_episode(self) -> None:
        """Drop the episode being recorded (LeRobot's "re-record")."""
        ep, self._episode = self._episode, None
        if ep is not None:
            for enc in ep.encoders.values():
                enc.abort()
            for f in ep.files.values():
                f.close()
            shutil.rmtree(ep.staging, ignore_errors=True)

    def save_episode(self) -> dict[str, Any]:
        """Commit the episode atomically; returns its metadata row. Raises DatasetError when it cannot."""
        self._check_usable()
        ep = self._episode
        if ep is None:
            raise DatasetError("no episode is being recorded")
        if ep.length == 0:
            raise DatasetError("the episode has no frames; nothing to save (discard it instead)")
        written: list[Path] = []
        try:
            for cam, enc in ep.encoders.items():
                enc.close()
                self._close_synced(ep.files[cam])
            commit = self._prepare_commit(ep, written)
            self._write_journal(commit.renames)
        except OSError as exc:
            for p in written:
                p.unlink(missing_ok=True)
            raise self._fail(exc, f"saving episode {self.num_episodes}") from exc
        try:
            self._apply_journal(commit.renames)
        except OSError as exc:
            self._episode = None
            self.failed = DatasetError(
                f"episode {commit.row['episode_index']} commit interrupted ({exc}); it is completed on next open"
            )
            raise self.failed from exc
        self.episodes.append(commit.row)
        self.info, self.tasks = commit.info, commit.tasks
        self._episode = None
        shutil.rmtree(ep.staging, ignore_errors=True)
        return commit.row

    def close(self) -> None:
        """Discard an unsaved episode (a closed writer never commits half an episode) and unlock."""
        self.discard_episode()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _acquire_lock(self) -> BinaryIO | None:
        """One writer per directory: recovery would otherwise delete another writer's staged episode.

        flock is released by the kernel when the process dies, so a SIGKILLed writer never blocks the next.
        """
        f = open(self.root / LOCK_FILE, "ab")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise DatasetError(f"{self.root} is being written by another process") from None
        return f

    # ------------------------------------------------------------------ commit
    def _prepare_commit(self, ep: _Episode, written: list[Path]) -> PreparedCommit:
        """Write every file the commit changes as a temp file (listed in ``written``); return the renames.

        Nothing here touches a file LeRobot reads: the renames only happen once they are journalled.
        """
        prev = self.episodes[-1] if self.episodes else None
        tasks, task_index = tasks_with(self.tasks, ep.task)
        frames = EpisodeFrames.of(ep, len(self.episodes), self.num_frames, task_index, self.spec.fps)
        start, n = frames.start, frames.length
        row: dict[str, Any] = {"episode_index": frames.episode_index, "tasks": [ep.task], "length": n}

        data = self._stage_data_file(frames, prev, written)
        row.update(data.columns)
        row.update({"dataset_from_index": start, "dataset_to_index": start + n})
        videos = [self._stage_video(ep, cam, prev, written) for cam in self.spec.cameras]
        for placed in videos:
            row.update(placed.columns)
        row.update(self._episode_stats_columns(ep, frames))
        row.update({"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0})

        info = self._info_after(frames.episode_index + 1, start + n, len(tasks))
        meta_renames = self._stage_metadata([*self.episodes, row], tasks, info, written)
        return PreparedCommit([*(v.rename for v in videos), data.rename, *meta_renames], row, info, tasks)

    def _append_address(
        self, path_of: Callable[[int, int], str], current: tuple[int, int] | None, size_key: str
    ) -> FileAddress:
        """The file an episode is appended to: the current one until it reaches its size limit (``size_key`` in
        info.json, in MB), then the next; the first episode starts at chunk 0 file 0."""
        chunk, file = current if current is not None else (0, 0)
        rel = path_of(chunk, file)
        limit = float(self.info[size_key]) * MB
        if current is not None and (self.root / rel).stat().st_size >= limit:
            chunk, file = next_chunk_file(chunk, file, self.info["chunks_size"])
            return FileAddress(chunk, file, path_of(chunk, file), rolled=True)
        return FileAddress(chunk, file, rel, rolled=False)

    def _stage_data_file(self, frames: EpisodeFrames, prev: dict[str, Any] | None, written: list[Path]) -> Placement:
        """Write the data parquet the episode goes to (existing rows + the episode's) as a temp file: parquet
        cannot be appended in place, so the file is rewritten whole and swapped in by the commit."""
        schema = data_schema(self.spec)
        table = frames.table(schema)
        current = (prev["data/chunk_index"], prev["data/file_index"]) if prev else None
        at = self._append_address(
            lambda c, f: DATA_PATH.format(chunk_index=c, file_index=f), current, "data_files_size_in_mb"
        )
        if (self.root / at.rel).exists():
            table = pa.concat_tables([self._read_data_file(at.rel, schema), table])
        tmp = self._tmp_write_listed(at.rel, lambda f: pq.write_table(table, f), written)
        return Placement((tmp, at.rel), {"data/chunk_index": at.chunk, "data/file_index": at.file})

    def _stage_video(self, ep: _Episode, cam: str, prev: dict[str, Any] | None, written: list[Path]) -> Placement:
        """Place the staged video of ``cam``: moved as is when it starts a file, else remuxed onto the end of the
        camera's current file as a temp file (no re-encode). Its row columns say where the episode's frames lie."""
        fps = self.spec.fps
        key = video_key(cam)
        staged = ep.staging / f"{cam}.mp4"
        if prev:
            current: tuple[int, int] | None = (prev[f"videos/{key}/chunk_index"], prev[f"videos/{key}/file_index"])
            frames_before = round(prev[f"videos/{key}/to_timestamp"] * fps)
        else:
            current, frames_before = None, 0
        at = self._append_address(
            lambda c, f: VIDEO_PATH.format(video_key=key, chunk_index=c, file_index=f),
            current,
            "video_files_size_in_mb",
        )
        if at.rolled:
            frames_before = 0
        (self.root / at.rel).parent.mkdir(parents=True, exist_ok=True)
        if frames_before == 0:
            rename = (str(staged.relative_to(self.root)), at.rel)  # a new file: just move it
        else:
            existing = self.root / at.rel
            tmp = self._tmp_write_listed(at.rel, lambda f: video.concatenate([existing, staged], f), written)
            rename = (tmp, at.rel)
        columns = {
            f"videos/{key}/chunk_index": at.chunk,
            f"videos/{key}/file_index": at.file,
            f"videos/{key}/from_timestamp": frames_before / fps,
            f"videos/{key}/to_timestamp": (frames_before + ep.length) / fps,
        }
        return Placement(rename, columns)

    def _episode_stats_columns(self, ep: _Episode, frames: EpisodeFrames) -> dict[str, Any]:
        """Per-episode stats (LeRobot 0.6: min/max/mean/std/count/q01..q99), flattened like its episodes parquet,
        in info.json's feature order: the global stats are aggregated from these rows, never from the frames."""
        numeric = frames.numeric()
        cams = {video_key(c): c for c in self.spec.cameras}
        ep_stats = {
            key: ep.image_stats[cams[key]].result() if key in cams else feature_stats(numeric[key])
            for key in self.info["features"]
        }
        return episode_stats_columns(ep_stats)

    def _info_after(self, total_episodes: int, total_frames: int, total_tasks: int) -> dict[str, Any]:
        """info.json as it will be after the commit (a copy: ``self.info`` changes only once the commit is done)."""
        info = dict(self.info)
        info.update(
            total_episodes=total_episodes,
            total_frames=total_frames,
            total_tasks=total_tasks,
            splits={"train": f"0:{total_episodes}"},
        )
        return info

    def _stage_metadata(
        self, rows: list[dict[str, Any]], tasks: list[str], info: dict[str, Any], written: list[Path]
    ) -> list[tuple[str, str]]:
        """Write the episodes, tasks (only when a task is new), stats and info metadata as temp files; the renames
        end with info.json, which LeRobot reads first, so the dataset changes only once everything else is there."""
        episodes_rel = EPISODES_PATH.format(chunk_index=0, file_index=0)
        renames = [(self._tmp_write_table(episodes_rel, episodes_table(rows)), episodes_rel)]
        written.append(self.root / renames[-1][0])
        if len(tasks) != len(self.tasks):
            renames.append((self._tmp_write_table(TASKS_PATH, tasks_table(tasks)), TASKS_PATH))
            written.append(self.root / renames[-1][0])
        global_stats = aggregate_stats([stats_from_episode_row(r) for r in rows])
        renames.append(
            (self._tmp_write_bytes(STATS_PATH, json.dumps(stats_to_json(global_stats), indent=4).encode()), STATS_PATH)
        )
        written.append(self.root / renames[-1][0])
        renames.append((self._tmp_write_bytes(INFO_PATH, json.dumps(info, indent=4).encode()), INFO_PATH))
        written.append(self.root / renames[-1][0])
        return renames

    def _write_journal(self, renames: list[tuple[str, str]]) -> None:
        """Make the commit durable: after this, recover() completes it whatever happens."""
        journal_tmp = self.root / (JOURNAL + ".tmp")
        try:
            with self.io.open_write(journal_tmp) as f:
                f.write(json.dumps({"renames": renames}).encode())
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            journal_tmp.unlink(missing_ok=True)
            raise
        os.replace(journal_tmp, self.root / JOURNAL)
        fsync_dir(self.root)

    def _apply_journal(self, renames: list[tuple[str, str]]) -> None:
        """Perform the journalled renames (metadata last), then drop the journal."""
        dirs = set()
        for tmp, final in renames:
            os.replace(self.root / tmp, self.root / final)
            dirs.add((self.root / final).parent)
        for d in dirs:
            fsync_dir(d)
        (self.root / JOURNAL).unlink()
        fsync_dir(self.root)

    # ------------------------------------------------------------------ helpers
    def _tmp_path(self, rel: str) -> str:
        (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
        return f"{rel}{TMP_MARK}{uuid.uuid4().hex[:8]}"

    def _tmp_write(self, rel: str, write: Callable[[BinaryIO], object]) -> str:
        """Write a temp sibling of ``rel`` through the file seam, fsynced; removed again on OSError."""
        tmp = self._tmp_path(rel)
        try:
            with self.io.open_write(self.root / tmp) as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            (self.root / tmp).unlink(missing_ok=True)
            raise
        return tmp

    def _tmp_write_listed(self, rel: str, write: Callable[[BinaryIO], object], written: list[Path]) -> str:
        """Write a temp sibling of ``rel``, fsynced, listed in ``written`` before it is created (the caller
        removes everything listed when the commit fails, a half-written file included)."""
        tmp = self._tmp_path(rel)
        written.append(self.root / tmp)
        with self.io.open_write(self.root / tmp) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        return tmp

    def _tmp_write_bytes(self, rel: str, data: bytes) -> str:
        return self._tmp_write(rel, lambda f: f.write(data))

    def _tmp_write_table(self, rel: str, table: pa.Table) -> str:
        return self._tmp_write(rel, lambda f: pq.write_table(table, f))

    @staticmethod
    def _close_synced(f: BinaryIO) -> None:
        f.flush()
        os.fsync(f.fileno())
        f.close()

    def _fail(self, exc: OSError, doing: str) -> DatasetError:
        """Abort the episode, keep committed data untouched, refuse further writes."""
        self.discard_episode()
        if exc.errno == errno.ENOSPC:
            err: DatasetError = DiskFullError(
                f"disk full while {doing} in {self.root}: recording stopped, the unsaved episode was "
                f"discarded, the {self.num_episodes} saved episode(s) are intact. Free space and restart."
            )
        else:
            err = DatasetError(
                f"write error while {doing} in {self.root} ({exc}): recording stopped, the unsaved episode "
                f"was discarded, the {self.num_episodes} saved episode(s) are intact."
            )
        self.failed = err
        self.close()  # a failed writer writes nothing more; let a new one take over once space is freed
        return err

    def _check_usable(self) -> None:
        if self.failed is not None:
            raise self.failed

    def _check_compatible(self, info: dict[str, Any]) -> None:
        if info.get("codebase_version") != "v3.0":
            raise DatasetError(f"{self.root}: codebase_version {info.get('codebase_version')!r}, expected 'v3.0'")
        have = DatasetSpec.from_info(info)
        if set(info["features"]) != set(self.spec.features()):
            raise DatasetError(
                f"{self.root} has features {sorted(info['features'])}; this writer records "
                f"{sorted(self.spec.features())}. Use another dataset directory."
            )
        if have.fps != self.spec.fps or have.joint_names != self.spec.joint_names or have.cameras != self.spec.cameras:
            raise DatasetError(
                f"{self.root} holds fps={have.fps}, joints={list(have.joint_names)}, cameras={have.cameras}; "
                f"this recording has fps={self.spec.fps}, joints={list(self.spec.joint_names)}, "
                f"cameras={self.spec.cameras}. Use another dataset directory."
            )

    def _existing_codec(self) -> str:
        """Append in the codec the dataset's video files hold (a remux cannot mix codecs)."""
        have = dataset_encoder(self.info)
        if have is None:
            return video.available_encoder(self.spec.vcodec)
        if have != self.spec.vcodec:
            log.warning("%s holds %s video; appending in that codec, not %s", self.root, have, self.spec.vcodec)
        return have

    def _read_data_file(self, rel: str, schema: pa.Schema) -> pa.Table:
        """A data file in our schema, whatever list layout it was written in (a dataset aggregated by LeRobot
        stores vectors as variable-length ``list<float>`` instead of fixed-size lists)."""
        table = pq.read_table(self.root / rel)
        if set(table.column_names) != set(schema.names):
            raise DatasetError(f"{rel} has columns {table.column_names}, expected {schema.names}; cannot append")
        try:
            return table.select(schema.names).cast(schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise DatasetError(f"{rel} does not hold this dataset's columns ({exc}); cannot append to it") from exc

    def _load_episode_rows(self) -> list[dict[str, Any]]:
        path = self.root / EPISODES_PATH.format(chunk_index=0, file_index=0)
        rows = pq.read_table(path).to_pylist() if path.exists() else []
        if len(rows) != self.info["total_episodes"]:
            raise DatasetError(f"{path}: {len(rows)} episode rows but info.json says {self.info['total_episodes']}")
        return rows
