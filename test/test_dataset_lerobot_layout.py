"""Our datasets have LeRobot 0.6's v3 layout, and our reader reads the layouts LeRobot produces.

The reference is LeRobot 0.6.1's code (``datasets/dataset_metadata.py``, ``dataset_writer.py``,
``video_utils.get_video_info``, ``compute_stats.py``, ``aggregate.py``); ``LEROBOT_06`` below
spells out what it writes for the features we record. The differences that remain are listed in
docs/data_collection.md.
"""

from __future__ import annotations

import json
import logging

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from wam_ros.dataset import DatasetError, DatasetSpec, LeRobotDatasetReader, LeRobotDatasetWriter
from wam_ros.dataset.reader import column_array
from wam_ros.dataset.stats import STAT_NAMES
from wam_ros.tiny_wam.training import main as wam_train

JOINTS = ("j1", "j2", "j3")
CAMS = {"scene": (16, 16)}

LEROBOT_06 = {
    "info_keys": {"codebase_version", "robot_type", "total_episodes", "total_frames", "total_tasks", "chunks_size",
                  "data_files_size_in_mb", "video_files_size_in_mb", "fps", "splits", "data_path", "video_path",
                  "features"},
    # get_video_info: stream facts, then VideoEncoderConfig's fields as video.<field>, then is_depth_map
    "video_info_keys": ["video.height", "video.width", "video.codec", "video.pix_fmt", "video.fps",
                        "video.channels", "has_audio", "video.g", "video.crf", "video.preset", "video.fast_decode",
                        "video.video_backend", "video.extra_options", "is_depth_map"],
    "episode_columns_head": ["episode_index", "tasks", "length", "data/chunk_index", "data/file_index",
                             "dataset_from_index", "dataset_to_index"],
    "episode_columns_tail": ["meta/episodes/chunk_index", "meta/episodes/file_index"],
    "data_types": {"observation.state": pa.list_(pa.float32(), 3), "action": pa.list_(pa.float32(), 3),
                   "stamp": pa.float64(), "timestamp": pa.float32(), "frame_index": pa.int64(),
                   "episode_index": pa.int64(), "index": pa.int64(), "task_index": pa.int64()},
}


def _write(root, episodes=2, length=8, spec=None, task="reach the red cube"):
    w = LeRobotDatasetWriter(root, spec or DatasetSpec(10, JOINTS, CAMS))
    for e in range(episodes):
        w.start_episode(task)
        for t in range(length):
            img = np.zeros((16, 16, 3), np.uint8)
            img[4:12, (10 if e % 2 else 2) : (14 if e % 2 else 6)] = 255
            q = np.full(3, 0.05 * t * (1 if e % 2 else -1), np.float32)
            w.add_frame(q, q + 0.05, {"scene": img}, 1.7e9 + e * 10 + t / 10)
        w.save_episode()
    w.close()


def _aggregate_like_lerobot(root):
    """Rewrite the data files as LeRobot's aggregate_datasets leaves them: pandas read + to_parquet turns the
    fixed-size vector columns into variable-length ``list<float>``, with pandas (not HF) schema metadata."""
    for path in (root / "data").rglob("*.parquet"):
        t = pq.read_table(path)
        fields = [pa.field(f.name, pa.list_(f.type.value_type) if pa.types.is_fixed_size_list(f.type) else f.type)
                  for f in t.schema]
        pandas_meta = {b"pandas": json.dumps({"index_columns": [], "columns": []}).encode()}
        pq.write_table(t.cast(pa.schema(fields)).replace_schema_metadata(pandas_meta), path)


def test_meta_and_parquet_schema_match_lerobot_06(tmp_path):
    _write(tmp_path / "ds")
    root = tmp_path / "ds"
    info = json.loads((root / "meta/info.json").read_text())
    assert set(info) == LEROBOT_06["info_keys"]
    cam = info["features"]["observation.images.scene"]
    assert list(cam["info"]) == LEROBOT_06["video_info_keys"]
    assert cam["info"]["is_depth_map"] is False and "video.is_depth_map" not in cam["info"]
    assert cam["names"] == ["height", "width", "channels"] and cam["shape"] == [16, 16, 3]
    # data parquet: HF datasets' types and its schema metadata
    schema = pq.read_schema(root / "data/chunk-000/file-000.parquet")
    assert {f.name: f.type for f in schema} == LEROBOT_06["data_types"]
    hf = json.loads(schema.metadata[b"huggingface"])["info"]["features"]
    assert hf["action"] == {"feature": {"dtype": "float32", "_type": "Value"}, "length": 3, "_type": "List"}
    assert hf["stamp"] == {"dtype": "float64", "_type": "Value"}
    # episodes parquet: LeRobot's column order, stats/<feature>/<stat> for every feature in info.json's order
    cols = pq.read_schema(root / "meta/episodes/chunk-000/file-000.parquet").names
    head, tail = LEROBOT_06["episode_columns_head"], LEROBOT_06["episode_columns_tail"]
    assert cols[: len(head)] == head and cols[-len(tail) :] == tail
    video_cols = [f"videos/observation.images.scene/{k}" for k in ("chunk_index", "file_index", "from_timestamp",
                                                                    "to_timestamp")]
    assert cols[len(head) : len(head) + 4] == video_cols
    stats_cols = [f"stats/{k}/{s}" for k in info["features"] for s in STAT_NAMES]
    assert cols[len(head) + 4 : -len(tail)] == stats_cols
    # tasks.parquet: pandas index named "task"
    tasks = pq.read_table(root / "meta/tasks.parquet")
    assert tasks.column_names == ["task_index", "task"]
    assert json.loads(tasks.schema.metadata[b"pandas"])["index_columns"] == ["task"]
    assert "__index_level_0__" not in tasks.column_names


def test_reader_reads_a_dataset_lerobot_aggregated(tmp_path):
    """``AttributeError: 'pyarrow.lib.ListType' object has no attribute 'list_size'`` before."""
    _write(tmp_path / "ds")
    _aggregate_like_lerobot(tmp_path / "ds")
    assert pq.read_schema(tmp_path / "ds/data/chunk-000/file-000.parquet").field("action").type == pa.list_(
        pa.float32()
    )
    r = LeRobotDatasetReader(tmp_path / "ds")
    r.validate(decode_videos=True)
    d = r.episode_data(1)
    assert d["action"].shape == (8, 3) and d["action"].dtype == np.float32
    np.testing.assert_allclose(d["action"][:, 0], 0.05 * np.arange(8) + 0.05, rtol=1e-6)
    assert d["stamp"].dtype == np.float64 and d["stamp"][3] == 1.7e9 + 10 + 0.3  # float64 survives
    # the writer appends to it in place (casting the file back to fixed-size lists)
    _write(tmp_path / "ds", episodes=1)
    r = LeRobotDatasetReader(tmp_path / "ds")
    r.validate()
    assert r.num_episodes == 3 and r.episode_data(2)["action"].shape == (8, 3)


def test_wam_train_trains_on_a_lerobot_aggregated_dataset(tmp_path):
    _write(tmp_path / "ds", episodes=3)
    _aggregate_like_lerobot(tmp_path / "ds")
    model = {"image_size": [16, 16], "d_model": 32, "num_layers": 1, "num_heads": 2, "ae_channels": [8, 8, 8],
             "action_horizon": 4, "future_frames": 1, "frame_stride": 4, "num_steps": 2}
    wam_train([str(tmp_path / "ds"), "--out", str(tmp_path / "ckpt"), "--steps", "3", "--batch-size", "4",
               "--eval-every", "3", "--checkpoint-every", "3", "--val-episodes", "1", "--threads", "1",
               "--model", json.dumps(model)])
    assert (tmp_path / "ckpt/config.json").is_file()


def test_list_columns_keep_their_dtype():
    """Before, every list column came back float32: a float64 vector (or a one-element float64 list) lost
    precision. Now values keep the stored dtype; one-element lists become a flat column."""
    stamps = pa.array([[1.7e9 + 0.123456], [1.7e9 + 0.2]], pa.list_(pa.float64()))
    out = column_array(stamps)
    assert out.dtype == np.float64 and out.shape == (2,) and out[0] == 1.7e9 + 0.123456
    pose = pa.array([[0.1, 0.2], [0.3, 0.4]], pa.list_(pa.float64(), 2))
    assert column_array(pose).dtype == np.float64 and column_array(pose).shape == (2, 2)
    assert column_array(pa.chunked_array([pa.array([1.5, 2.5], pa.float64())])).dtype == np.float64
    with pytest.raises(DatasetError, match="different lengths"):
        column_array(pa.array([[1.0], [1.0, 2.0]], pa.list_(pa.float32())))


def test_codec_defaults_to_lerobots_av1_and_is_an_option(tmp_path):
    if not _has_encoder("libsvtav1"):
        pytest.skip("this PyAV wheel has no SVT-AV1 encoder")
    _write(tmp_path / "av1", episodes=2)
    info = json.loads((tmp_path / "av1/meta/info.json").read_text())["features"]["observation.images.scene"]["info"]
    assert info["video.codec"] == "av1" and info["video.preset"] == 12
    LeRobotDatasetReader(tmp_path / "av1").validate(decode_videos=True)  # remuxed episode 2 decodes
    _write(tmp_path / "h264", spec=DatasetSpec(10, JOINTS, CAMS, vcodec="h264"))
    info = json.loads((tmp_path / "h264/meta/info.json").read_text())["features"]["observation.images.scene"]["info"]
    assert info["video.codec"] == "h264" and info["video.preset"] == "veryfast"
    assert info["video.extra_options"] == {"tune": "zerolatency", "bf": 0}
    with av.open(str(tmp_path / "h264/videos/observation.images.scene/chunk-000/file-000.mp4")) as c:
        assert c.streams.video[0].codec_context.name == "h264"
    with pytest.raises(DatasetError, match="not supported"):
        DatasetSpec(10, JOINTS, CAMS, vcodec="vp9")


def test_without_av1_the_writer_keeps_h264_and_says_so(tmp_path, monkeypatch, caplog):
    real = av.codec.Codec

    def no_av1(name, mode="r"):
        if name == "libsvtav1" and mode == "w":
            raise av.codec.codec.UnknownCodecError(name)
        return real(name, mode)

    monkeypatch.setattr(av.codec, "Codec", no_av1)
    with caplog.at_level(logging.WARNING, logger="wam_ros.dataset.video"):
        w = LeRobotDatasetWriter(tmp_path / "ds", DatasetSpec(10, JOINTS, CAMS))
    assert w.codec == "libx264"
    assert "has no libsvtav1 encoder; videos are encoded with libx264" in caplog.text
    w.close()
    info = json.loads((tmp_path / "ds/meta/info.json").read_text())["features"]["observation.images.scene"]["info"]
    assert info["video.codec"] == "h264"


def test_appending_keeps_the_codec_the_dataset_holds(tmp_path):
    """A remux cannot mix codecs: an AV1 writer opened on an h264 dataset appends h264."""
    _write(tmp_path / "ds", episodes=1, spec=DatasetSpec(10, JOINTS, CAMS, vcodec="libx264"))
    w = LeRobotDatasetWriter(tmp_path / "ds", DatasetSpec(10, JOINTS, CAMS, vcodec="libsvtav1"))
    assert w.codec == "libx264"
    w.close()
    _write(tmp_path / "ds", episodes=1, spec=DatasetSpec(10, JOINTS, CAMS, vcodec="libsvtav1"))
    LeRobotDatasetReader(tmp_path / "ds").validate(decode_videos=True)


def _has_encoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except Exception:
        return False
    return True
