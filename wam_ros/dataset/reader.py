"""Load and validate a LeRobotDataset v3 directory with pyarrow and PyAV.

The checks are the ones LeRobot's loader depends on (info.json schema and totals,
contiguous episode/frame indices, ``dataset_from/to_index``, timestamps on the fps
grid, every episode's video span present in its file), so a directory that passes
here is one ``LeRobotDataset(root=...)`` opens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from wam_ros.dataset import video
from wam_ros.dataset.lerobot_v3 import (
    ACTION_KEY,
    CODEBASE_VERSION,
    DEFAULT_FEATURES,
    EPISODES_DIR,
    INFO_PATH,
    STATE_KEY,
    STATS_PATH,
    TASKS_PATH,
    DatasetError,
    DatasetSpec,
    tasks_from_table,
    video_key,
)
from wam_ros.dataset.writer import JOURNAL

REQUIRED_INFO = ("codebase_version", "fps", "features", "total_episodes", "total_frames", "total_tasks",
                 "chunks_size", "data_path", "video_path")
REQUIRED_EPISODE_COLUMNS = ("episode_index", "tasks", "length", "data/chunk_index", "data/file_index",
                            "dataset_from_index", "dataset_to_index")


class LeRobotDatasetReader:
    """Read-only view of a dataset: metadata, per-episode arrays and decoded video frames."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        info_path = self.root / INFO_PATH
        if not info_path.is_file():
            raise DatasetError(f"{self.root}: no {INFO_PATH}; not a LeRobot dataset")
        if (self.root / JOURNAL).exists():
            raise DatasetError(f"{self.root}: an interrupted commit is pending; open it with the writer to complete it")
        try:
            self.info: dict[str, Any] = json.loads(info_path.read_text())
        except ValueError as exc:
            raise DatasetError(f"{info_path}: not valid JSON ({exc})") from exc
        missing = [k for k in REQUIRED_INFO if k not in self.info]
        if missing:
            raise DatasetError(f"{info_path}: missing keys {missing}")
        if self.info["codebase_version"] != CODEBASE_VERSION:
            raise DatasetError(f"{info_path}: codebase_version {self.info['codebase_version']!r}, expected v3.0")
        self.spec = DatasetSpec.from_info(self.info)
        self.fps = int(self.info["fps"])
        self.features: dict[str, Any] = self.info["features"]
        self.cameras = list(self.spec.cameras)
        self.tasks = tasks_from_table(pq.read_table(self.root / TASKS_PATH)) if self.info["total_tasks"] else []
        ep_files = sorted((self.root / EPISODES_DIR).glob("*/*.parquet"))
        self.episodes: list[dict[str, Any]] = []
        for p in ep_files:
            self.episodes += pq.read_table(p).to_pylist()
        self.episodes.sort(key=lambda r: r["episode_index"])
        data_files = sorted((self.root / "data").glob("*/*.parquet"))
        self.data: pa.Table | None = pa.concat_tables([pq.read_table(p) for p in data_files]) if data_files else None

    # ------------------------------------------------------------------ access
    @property
    def num_episodes(self) -> int:
        return len(self.episodes)

    @property
    def num_frames(self) -> int:
        return 0 if self.data is None else self.data.num_rows

    def stats(self) -> dict[str, Any]:
        p = self.root / STATS_PATH
        return json.loads(p.read_text()) if p.exists() else {}

    def episode_data(self, episode_index: int) -> dict[str, np.ndarray]:
        """All non-video columns of one episode as numpy arrays in their stored dtype (float64 ``stamp`` stays
        float64): vectors (N, J), scalars (N,), whichever list layout the file has."""
        ep = self._episode(episode_index)
        assert self.data is not None
        part = self.data.slice(ep["dataset_from_index"], ep["length"])
        return {name: column_array(part.column(name)) for name in part.column_names}

    def episode_task(self, episode_index: int) -> str:
        return self._episode(episode_index)["tasks"][0]

    def video_path(self, episode_index: int, camera: str) -> Path:
        ep = self._episode(episode_index)
        key = video_key(camera)
        return self.root / self.info["video_path"].format(
            video_key=key, chunk_index=ep[f"videos/{key}/chunk_index"], file_index=ep[f"videos/{key}/file_index"]
        )

    def episode_frames(self, episode_index: int, camera: str) -> tuple[np.ndarray, np.ndarray]:
        """Decoded (N, H, W, 3) frames of one episode and their times relative to episode start [s]."""
        ep = self._episode(episode_index)
        key = video_key(camera)
        start = round(ep[f"videos/{key}/from_timestamp"] * self.fps)
        frames, times = video.decode(self.video_path(episode_index, camera), start, start + ep["length"])
        return frames, times - start / self.fps

    # ------------------------------------------------------------------ validation
    def validate(self, decode_videos: bool = False) -> None:
        """Raise DatasetError naming the first inconsistency; ``decode_videos`` also decodes every frame."""
        info, n_ep = self.info, self.num_episodes
        for k in DEFAULT_FEATURES:
            if k not in self.features:
                raise DatasetError(f"info.json features lack '{k}'")
        if info["total_episodes"] != n_ep:
            raise DatasetError(f"info.json total_episodes={info['total_episodes']} but {n_ep} episode rows")
        if info["total_frames"] != self.num_frames:
            raise DatasetError(f"info.json total_frames={info['total_frames']} but data has {self.num_frames} rows")
        if info["total_tasks"] != len(self.tasks):
            raise DatasetError(f"info.json total_tasks={info['total_tasks']} but tasks.parquet has {len(self.tasks)}")
        if n_ep == 0:
            return
        missing = [c for c in REQUIRED_EPISODE_COLUMNS if c not in self.episodes[0]]
        if missing:
            raise DatasetError(f"meta/episodes lacks columns {missing}")
        expect_from = 0
        for i, ep in enumerate(self.episodes):
            if ep["episode_index"] != i:
                raise DatasetError(f"episode indices are not contiguous: row {i} is episode {ep['episode_index']}")
            if ep["dataset_from_index"] != expect_from or ep["dataset_to_index"] != expect_from + ep["length"]:
                raise DatasetError(f"episode {i}: dataset_from/to_index do not follow the previous episode")
            expect_from = ep["dataset_to_index"]
            for t in ep["tasks"]:
                if t not in self.tasks:
                    raise DatasetError(f"episode {i}: task {t!r} is not in tasks.parquet")
        assert self.data is not None
        j = len(self.spec.joint_names)
        index = self.data.column("index").to_numpy()
        if not np.array_equal(index, np.arange(self.num_frames)):
            raise DatasetError("data 'index' column is not 0..total_frames-1 in order")
        for key in (STATE_KEY, ACTION_KEY):
            col = self.data.column(key)
            if not _is_list(col.type) or pc.any(pc.not_equal(pc.list_value_length(col), j)).as_py():
                raise DatasetError(f"data column {key} has type {col.type}, expected {j} floats per row")
        for ep in self.episodes:
            i = ep["episode_index"]
            d = self.episode_data(i)
            if not np.all(d["episode_index"] == i):
                raise DatasetError(f"episode {i}: rows carry other episode indices")
            if not np.array_equal(d["frame_index"], np.arange(ep["length"])):
                raise DatasetError(f"episode {i}: frame_index is not 0..length-1")
            if not np.allclose(d["timestamp"], d["frame_index"] / self.fps, atol=1e-4):
                raise DatasetError(f"episode {i}: timestamps are not frame_index / fps")
            task_index = self.tasks.index(ep["tasks"][0])
            if not np.all(d["task_index"] == task_index):
                raise DatasetError(f"episode {i}: task_index does not match its task {ep['tasks'][0]!r}")
        self._validate_videos(decode_videos)

    def _validate_videos(self, decode_videos: bool) -> None:
        counts: dict[Path, int] = {}
        for cam in self.cameras:
            key = video_key(cam)
            for ep in self.episodes:
                i = ep["episode_index"]
                path = self.video_path(i, cam)
                if not path.is_file():
                    raise DatasetError(f"episode {i}: video {path.relative_to(self.root)} is missing")
                if path not in counts:
                    counts[path] = video.count_frames(path)
                first = round(ep[f"videos/{key}/from_timestamp"] * self.fps)
                last = round(ep[f"videos/{key}/to_timestamp"] * self.fps)
                if last - first != ep["length"] or last > counts[path]:
                    raise DatasetError(
                        f"episode {i} camera '{cam}': video span [{first}, {last}) does not hold its "
                        f"{ep['length']} frames ({counts[path]} frames in {path.name})"
                    )
                if decode_videos:
                    frames, _ = self.episode_frames(i, cam)
                    if len(frames) != ep["length"]:
                        raise DatasetError(f"episode {i} camera '{cam}': decoded {len(frames)} frames")

    def _episode(self, episode_index: int) -> dict[str, Any]:
        if not 0 <= episode_index < self.num_episodes:
            raise DatasetError(f"episode {episode_index} does not exist ({self.num_episodes} episodes)")
        return self.episodes[episode_index]


def _is_list(typ: pa.DataType) -> bool:
    return pa.types.is_fixed_size_list(typ) or pa.types.is_list(typ) or pa.types.is_large_list(typ)


def column_array(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A parquet column as numpy in its stored dtype. Vector columns are fixed-size lists when LeRobot's writer
    (or ours) wrote them and variable-length ``list<float>`` after LeRobot's ``aggregate_datasets``: both give
    (N, J); a column of one-element lists gives (N,)."""
    col = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not _is_list(col.type):
        return col.to_numpy(zero_copy_only=False)
    values = col.flatten().to_numpy(zero_copy_only=False)
    if len(col) == 0:
        return values.reshape(0, col.type.list_size if pa.types.is_fixed_size_list(col.type) else 0)
    lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False)
    if np.any(lengths != lengths[0]):
        raise DatasetError(f"column of type {col.type} has rows of different lengths {sorted(set(lengths.tolist()))}")
    out = values.reshape(len(col), int(lengths[0]))
    return out[:, 0] if out.shape[1] == 1 else out
