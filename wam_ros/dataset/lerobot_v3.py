"""LeRobotDataset v3.0 on-disk format: paths, features, info.json, tasks and statistics.

Mirrors huggingface/lerobot ``src/lerobot/datasets/utils.py`` (CODEBASE_VERSION
"v3.0"): many episodes per file, addressed by ``chunk-XXX/file-XXX`` indices and
relational per-episode metadata in ``meta/episodes``. Only pyarrow and numpy here.

    meta/info.json                                  schema, fps, path templates, totals
    meta/stats.json                                 global feature statistics
    meta/tasks.parquet                              task string (pandas index) -> task_index
    meta/episodes/chunk-000/file-000.parquet        one row per episode (lengths, offsets, stats)
    data/chunk-000/file-000.parquet                 one row per frame
    videos/<video key>/chunk-000/file-000.mp4       episodes concatenated, per camera
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

CODEBASE_VERSION = "v3.0"
DEFAULT_CHUNK_SIZE = 1000  # max files per chunk directory
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
EPISODES_DIR = "meta/episodes"
CHUNK_FILE_PATTERN = "chunk-{chunk_index:03d}/file-{file_index:03d}"
EPISODES_PATH = EPISODES_DIR + "/" + CHUNK_FILE_PATTERN + ".parquet"
DATA_PATH = "data/" + CHUNK_FILE_PATTERN + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE_PATTERN + ".mp4"

STATE_KEY = "observation.state"
ACTION_KEY = "action"
#: Node-clock time of each frame [s]. Not an "observation.*" key, so LeRobot policies ignore it;
#: it lets a reader check the recording against what was sent (sync, latency).
STAMP_KEY = "stamp"
DEFAULT_FEATURES: dict[str, dict[str, Any]] = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}
STAT_NAMES = ("min", "max", "mean", "std", "count")


class DatasetError(RuntimeError):
    """The dataset on disk or a value given to the writer is unusable; the message says what."""


def video_key(camera: str) -> str:
    return f"observation.images.{camera}"


@dataclass(frozen=True)
class DatasetSpec:
    """What one dataset records: fps, joint names (state and action order), cameras (name -> (h, w))."""

    fps: int
    joint_names: tuple[str, ...]
    cameras: dict[str, tuple[int, int]] = field(default_factory=dict)
    robot_type: str = "wam_arm"
    vcodec: str = "libx264"  # PyAV encoder; stored as the codec's short name in info.json
    crf: int = 30
    gop: int = 2  # LeRobot's default: a keyframe every 2 frames keeps random access cheap
    preset: str = "veryfast"

    def __post_init__(self) -> None:
        object.__setattr__(self, "joint_names", tuple(self.joint_names))
        try:
            cams = {str(c): (int(hw[0]), int(hw[1])) for c, hw in self.cameras.items()}
        except (TypeError, ValueError, IndexError) as exc:
            raise DatasetError(f"cameras must map name -> (height, width), got {self.cameras!r}") from exc
        object.__setattr__(self, "cameras", cams)
        if not isinstance(self.fps, int) or self.fps <= 0:
            raise DatasetError(f"fps must be a positive integer, got {self.fps!r}")
        if not self.joint_names:
            raise DatasetError("joint_names is empty")
        for cam, hw in self.cameras.items():
            if "/" in cam or not cam:
                raise DatasetError(f"camera name {cam!r} must be non-empty and contain no '/'")
            h, w = hw
            if h <= 0 or w <= 0 or h % 2 or w % 2:
                raise DatasetError(f"camera '{cam}': size {w}x{h} must be positive and even (yuv420p video)")

    def features(self) -> dict[str, dict[str, Any]]:
        """info.json ``features``: the LeRobot keys this dataset stores."""
        names = list(self.joint_names)
        feats: dict[str, dict[str, Any]] = {}
        for cam, (h, w) in self.cameras.items():
            feats[video_key(cam)] = {
                "dtype": "video",
                "shape": [h, w, 3],
                "names": ["height", "width", "channels"],
                "info": {
                    "video.height": h,
                    "video.width": w,
                    "video.codec": codec_short_name(self.vcodec),
                    "video.pix_fmt": "yuv420p",
                    "video.is_depth_map": False,
                    "video.fps": self.fps,
                    "video.channels": 3,
                    "has_audio": False,
                },
            }
        feats[STATE_KEY] = {"dtype": "float32", "shape": [len(names)], "names": names}
        feats[ACTION_KEY] = {"dtype": "float32", "shape": [len(names)], "names": names}
        feats[STAMP_KEY] = {"dtype": "float64", "shape": [1], "names": None}
        feats.update({k: dict(v) for k, v in DEFAULT_FEATURES.items()})
        return feats

    def empty_info(self, data_files_size_in_mb: float, video_files_size_in_mb: float) -> dict[str, Any]:
        return {
            "codebase_version": CODEBASE_VERSION,
            "robot_type": self.robot_type,
            "total_episodes": 0,
            "total_frames": 0,
            "total_tasks": 0,
            "chunks_size": DEFAULT_CHUNK_SIZE,
            "data_files_size_in_mb": data_files_size_in_mb,
            "video_files_size_in_mb": video_files_size_in_mb,
            "fps": self.fps,
            "splits": {},
            "data_path": DATA_PATH,
            "video_path": VIDEO_PATH if self.cameras else None,
            "features": self.features(),
        }

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> DatasetSpec:
        feats = info["features"]
        cams = {
            k.removeprefix("observation.images."): (int(f["shape"][0]), int(f["shape"][1]))
            for k, f in feats.items()
            if f.get("dtype") == "video"
        }
        return cls(int(info["fps"]), tuple(feats[STATE_KEY]["names"]), cams, info.get("robot_type") or "")


def codec_short_name(encoder: str) -> str:
    return {"libx264": "h264", "libsvtav1": "av1", "libaom-av1": "av1", "mpeg4": "mpeg4"}.get(encoder, encoder)


def next_chunk_file(chunk_index: int, file_index: int, chunks_size: int = DEFAULT_CHUNK_SIZE) -> tuple[int, int]:
    """The (chunk, file) after this one: files roll over into a new chunk directory every ``chunks_size``."""
    if file_index >= chunks_size - 1:
        return chunk_index + 1, 0
    return chunk_index, file_index + 1


# ---------------------------------------------------------------------------- parquet schemas
def data_schema(spec: DatasetSpec) -> pa.Schema:
    """Frame table; fixed-size lists match HF ``Sequence(length=J, float32)`` as LeRobot declares them."""
    j = len(spec.joint_names)
    return pa.schema(
        [
            (STATE_KEY, pa.list_(pa.float32(), j)),
            (ACTION_KEY, pa.list_(pa.float32(), j)),
            (STAMP_KEY, pa.float64()),
            ("timestamp", pa.float32()),
            ("frame_index", pa.int64()),
            ("episode_index", pa.int64()),
            ("index", pa.int64()),
            ("task_index", pa.int64()),
        ]
    )


def fixed_list_array(values: np.ndarray, dtype: pa.DataType) -> pa.FixedSizeListArray:
    values = np.ascontiguousarray(values)
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1), type=dtype), values.shape[1])


def tasks_table(tasks: Sequence[str]) -> pa.Table:
    """meta/tasks.parquet as ``pandas.DataFrame({"task_index": ...}, index=tasks).to_parquet()`` writes it.

    pandas is not installed here, so the pandas schema metadata is written by hand:
    ``pd.read_parquet`` (what LeRobot uses) restores the task strings as the index.
    """
    table = pa.table({"task_index": pa.array(range(len(tasks)), pa.int64()), "__index_level_0__": list(tasks)})
    pandas_meta = {
        "index_columns": ["__index_level_0__"],
        "column_indexes": [
            {"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "object", "metadata": None}
        ],
        "columns": [
            {"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64",
             "metadata": None},
            {"name": None, "field_name": "__index_level_0__", "pandas_type": "unicode", "numpy_type": "object",
             "metadata": None},
        ],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.3",
    }
    return table.replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()})


def tasks_from_table(table: pa.Table) -> list[str]:
    """Task strings in task_index order, from a tasks.parquet written by us or by pandas."""
    cols = table.column_names
    name_col = "task" if "task" in cols else "__index_level_0__" if "__index_level_0__" in cols else None
    if name_col is None or "task_index" not in cols:
        raise DatasetError(f"{TASKS_PATH}: expected task strings and a task_index column, found {cols}")
    idx = table.column("task_index").to_pylist()
    names = table.column(name_col).to_pylist()
    if sorted(idx) != list(range(len(idx))):
        raise DatasetError(f"{TASKS_PATH}: task_index values {idx} are not 0..{len(idx) - 1}")
    out = [""] * len(idx)
    for i, n in zip(idx, names, strict=True):
        out[i] = n
    return out


# ---------------------------------------------------------------------------- statistics
def feature_stats(values: np.ndarray) -> dict[str, np.ndarray]:
    """min/max/mean/std/count over axis 0, as LeRobot's compute_episode_stats stores them."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    return {
        "min": v.min(axis=0),
        "max": v.max(axis=0),
        "mean": v.mean(axis=0),
        "std": v.std(axis=0),
        "count": np.array([v.shape[0]]),
    }


class ImageStats:
    """Per-channel running stats of frames in [0, 1], shape (3, 1, 1) like LeRobot's image stats.

    Every ``stride``-th pixel is used: the numbers are for normalisation, not science,
    and the recorder runs on a 2-core budget.
    """

    def __init__(self, stride: int = 4) -> None:
        self.stride = stride
        self.n = 0
        self.frames = 0
        self.sum = np.zeros(3)
        self.sumsq = np.zeros(3)
        self.min = np.full(3, np.inf)
        self.max = np.full(3, -np.inf)

    def add(self, rgb: np.ndarray) -> None:
        px = rgb[:: self.stride, :: self.stride].reshape(-1, 3).astype(np.float64) / 255.0
        self.n += px.shape[0]
        self.frames += 1
        self.sum += px.sum(axis=0)
        self.sumsq += (px * px).sum(axis=0)
        self.min = np.minimum(self.min, px.min(axis=0))
        self.max = np.maximum(self.max, px.max(axis=0))

    def result(self) -> dict[str, np.ndarray]:
        if self.n == 0:
            raise DatasetError("no frames for image statistics")
        mean = self.sum / self.n
        std = np.sqrt(np.maximum(self.sumsq / self.n - mean * mean, 0.0))
        shape = (3, 1, 1)
        return {
            "min": self.min.reshape(shape),
            "max": self.max.reshape(shape),
            "mean": mean.reshape(shape),
            "std": std.reshape(shape),
            "count": np.array([self.frames]),
        }


def aggregate_stats(per_episode: Sequence[dict[str, dict[str, np.ndarray]]]) -> dict[str, dict[str, np.ndarray]]:
    """Combine episode stats into global ones (count-weighted mean, pooled variance)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    keys = set().union(*(s.keys() for s in per_episode)) if per_episode else set()
    for key in sorted(keys):
        items = [s[key] for s in per_episode if key in s]
        counts = np.array([float(np.asarray(i["count"]).reshape(-1)[0]) for i in items])
        total = counts.sum()
        w = (counts / total).reshape((-1,) + (1,) * np.asarray(items[0]["mean"]).ndim)
        means = np.stack([np.asarray(i["mean"], dtype=float) for i in items])
        stds = np.stack([np.asarray(i["std"], dtype=float) for i in items])
        mean = (w * means).sum(axis=0)
        var = (w * (stds**2 + (means - mean) ** 2)).sum(axis=0)
        out[key] = {
            "min": np.min(np.stack([np.asarray(i["min"], dtype=float) for i in items]), axis=0),
            "max": np.max(np.stack([np.asarray(i["max"], dtype=float) for i in items]), axis=0),
            "mean": mean,
            "std": np.sqrt(var),
            "count": np.array([int(total)]),
        }
    return out


def stats_to_json(stats: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, list]]:
    return {k: {s: np.asarray(v).tolist() for s, v in d.items()} for k, d in stats.items()}


def stats_from_episode_row(row: dict[str, Any]) -> dict[str, dict[str, np.ndarray]]:
    """Per-episode stats back from the flattened ``stats/<feature>/<stat>`` columns."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for col, value in row.items():
        if col.startswith("stats/") and value is not None:
            _, key, stat = col.rsplit("/", 2) if col.count("/") == 2 else ("", "", "")
            if key:
                out.setdefault(key, {})[stat] = np.asarray(value, dtype=float)
    return out
