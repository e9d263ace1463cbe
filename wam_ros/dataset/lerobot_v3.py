"""LeRobotDataset v3.0 on-disk format: paths, features, info.json, tasks and statistics.

Mirrors huggingface/lerobot 0.6 ``src/lerobot/datasets/utils.py`` (CODEBASE_VERSION
"v3.0"): many episodes per file, addressed by ``chunk-XXX/file-XXX`` indices and
relational per-episode metadata in ``meta/episodes``. Only pyarrow, numpy and PyAV here;
statistics are in ``stats.py``.

    meta/info.json                                  schema, fps, path templates, totals
    meta/stats.json                                 global feature statistics
    meta/tasks.parquet                              task string (pandas index named 'task') -> task_index
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

from wam_ros.dataset import video
from wam_ros.dataset.errors import DatasetError

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


def video_key(camera: str) -> str:
    return f"observation.images.{camera}"


@dataclass(frozen=True)
class DatasetSpec:
    """What one dataset records: fps, joint names (state and action order), cameras (name -> (h, w))."""

    fps: int
    joint_names: tuple[str, ...]
    cameras: dict[str, tuple[int, int]] = field(default_factory=dict)
    robot_type: str = "wam_arm"
    #: PyAV encoder or LeRobot's name for it (h264, av1). LeRobot 0.6 defaults to AV1 (libsvtav1); the writer
    #: falls back to libx264 where PyAV lacks it, and appends to an existing dataset in the codec it holds.
    vcodec: str = video.LEROBOT_DEFAULT_ENCODER
    crf: int = 30
    gop: int = 2  # LeRobot's default: a keyframe every 2 frames keeps random access cheap
    preset: str = "veryfast"  # x264's; SVT-AV1 runs LeRobot's preset 12

    def __post_init__(self) -> None:
        object.__setattr__(self, "joint_names", tuple(self.joint_names))
        object.__setattr__(self, "vcodec", video.encoder_name(self.vcodec))
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

    def features(self, codec: str | None = None) -> dict[str, dict[str, Any]]:
        """info.json ``features``: the LeRobot keys this dataset stores (videos encoded with ``codec``)."""
        codec = codec or self.vcodec
        names = list(self.joint_names)
        feats: dict[str, dict[str, Any]] = {}
        for cam, (h, w) in self.cameras.items():
            feats[video_key(cam)] = {
                "dtype": "video",
                "shape": [h, w, 3],
                "names": ["height", "width", "channels"],
                "info": video.video_info(codec, h, w, self.fps, self.crf, self.gop, self.preset),
            }
        feats[STATE_KEY] = {"dtype": "float32", "shape": [len(names)], "names": names}
        feats[ACTION_KEY] = {"dtype": "float32", "shape": [len(names)], "names": names}
        feats[STAMP_KEY] = {"dtype": "float64", "shape": [1], "names": None}
        feats.update({k: dict(v) for k, v in DEFAULT_FEATURES.items()})
        return feats

    def empty_info(
        self, data_files_size_in_mb: float, video_files_size_in_mb: float, codec: str | None = None
    ) -> dict[str, Any]:
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
            "features": self.features(codec),
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


def dataset_encoder(info: dict[str, Any]) -> str | None:
    """The PyAV encoder of the videos a dataset already holds (None: no cameras)."""
    codecs = {f.get("info", {}).get("video.codec") for f in info["features"].values() if f.get("dtype") == "video"}
    codecs.discard(None)
    if not codecs:
        return None
    if len(codecs) > 1:
        raise DatasetError(f"the dataset's cameras use different codecs {sorted(codecs)}; cannot append")
    return video.encoder_name(codecs.pop())


def next_chunk_file(chunk_index: int, file_index: int, chunks_size: int = DEFAULT_CHUNK_SIZE) -> tuple[int, int]:
    """The (chunk, file) after this one: files roll over into a new chunk directory every ``chunks_size``."""
    if file_index >= chunks_size - 1:
        return chunk_index + 1, 0
    return chunk_index, file_index + 1


# ---------------------------------------------------------------------------- parquet schemas
def data_schema(spec: DatasetSpec) -> pa.Schema:
    """Frame table as LeRobot 0.6 writes it through HF ``datasets``: fixed-size lists for vectors
    (``Sequence(length=J, float32)``) and the ``huggingface`` schema metadata naming each column's type."""
    j = len(spec.joint_names)
    fields = [
        (STATE_KEY, pa.list_(pa.float32(), j)),
        (ACTION_KEY, pa.list_(pa.float32(), j)),
        (STAMP_KEY, pa.float64()),
        ("timestamp", pa.float32()),
        ("frame_index", pa.int64()),
        ("episode_index", pa.int64()),
        ("index", pa.int64()),
        ("task_index", pa.int64()),
    ]
    hf: dict[str, Any] = {}
    for name, typ in fields:
        if pa.types.is_fixed_size_list(typ):
            value = {"dtype": _arrow_dtype_name(typ.value_type), "_type": "Value"}
            hf[name] = {"feature": value, "length": typ.list_size, "_type": "List"}
        else:
            hf[name] = {"dtype": _arrow_dtype_name(typ), "_type": "Value"}
    meta = {b"huggingface": json.dumps({"info": {"features": hf}}).encode()}
    return pa.schema(fields, metadata=meta)


def _arrow_dtype_name(typ: pa.DataType) -> str:
    """HF ``datasets``' dtype string of an arrow type (float32, float64, int64)."""
    return {pa.float32(): "float32", pa.float64(): "float64", pa.int64(): "int64"}[typ]


def fixed_list_array(values: np.ndarray, dtype: pa.DataType) -> pa.FixedSizeListArray:
    values = np.ascontiguousarray(values)
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1), type=dtype), values.shape[1])


def tasks_table(tasks: Sequence[str]) -> pa.Table:
    """meta/tasks.parquet as LeRobot 0.6 writes it:
    ``pandas.DataFrame({"task_index": ...}, index=pandas.Index(tasks, name="task")).to_parquet()``.

    pandas is not installed here, so the pandas schema metadata is written by hand:
    ``pd.read_parquet`` (what LeRobot uses) restores the task strings as the index named ``task``.
    """
    table = pa.table({"task_index": pa.array(range(len(tasks)), pa.int64()), "task": pa.array(tasks, pa.string())})
    pandas_meta = {
        "index_columns": ["task"],
        "column_indexes": [
            {"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "object", "metadata": None}
        ],
        "columns": [
            {"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64",
             "metadata": None},
            {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object",
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
