"""wam-import-bag on rosbag2 recordings the test writes itself with rosbags' writer (sqlite3 and MCAP):
frames on the fps grid, state/action/images from the right messages, the recorder's freshness rules,
clear errors, and wam-train trains on the result."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from wam_ros.apps.import_bag import ImportOptions, import_bags, main
from wam_ros.dataset import DatasetError, LeRobotDatasetReader
from wam_ros.tiny_wam.training import main as wam_train

TS = get_typestore(Stores.ROS2_HUMBLE)
JOINTS = ["j1", "j2", "j3"]
H, W = 24, 32
T_IMG, T_JS, T_CMD = 0.002, 0.005, 0.013  # first message of each stream [s]; images 30 Hz, joints 100 Hz, cmd 20 Hz
BASE = 1_700_000_000  # bag clock: epoch seconds, as a real recording


def _time(t: float):
    ns = round((BASE + t) * 1e9)
    return TS.types["builtin_interfaces/msg/Time"](sec=ns // 10**9, nanosec=ns % 10**9)


def _header(t: float):
    return TS.types["std_msgs/msg/Header"](stamp=_time(t), frame_id="")


def brightness(k: int) -> int:
    return 20 + (10 * k) % 200


def joint_q(t: float) -> np.ndarray:
    return np.array([np.sin(t), t, -0.5 * t])


def write_bag(path: Path, seconds: float, storage: StoragePlugin, joint_gap: tuple[float, float] | None = None,
              compressed_wrist: bool = True, with_command: bool = True, size: tuple[int, int] = (H, W),
              frame: Callable[[int], np.ndarray] | None = None) -> None:
    """Two cameras at 30 Hz (brightness encodes the frame number; the wrist one as JPEG), joint states at
    100 Hz (j2 = t), a command at 20 Hz: from its stamp t_c, j_i goes linearly from t_c + i to t_c + i + 1
    over 1 s (so the reference at time g is t_c + i + (g - t_c)). ``frame(k)`` replaces the flat images
    (bench/bench_import_bag.py gives textured ones)."""
    Image, CImage = TS.types["sensor_msgs/msg/Image"], TS.types["sensor_msgs/msg/CompressedImage"]
    JointState = TS.types["sensor_msgs/msg/JointState"]
    Traj, Point = TS.types["trajectory_msgs/msg/JointTrajectory"], TS.types["trajectory_msgs/msg/JointTrajectoryPoint"]
    Duration = TS.types["builtin_interfaces/msg/Duration"]
    msgs = []  # (t, topic, type, msg)
    h, w = size
    for k in range(int((seconds - T_IMG) * 30) + 1):
        t = T_IMG + k / 30
        img = frame(k) if frame else np.full((h, w, 3), brightness(k), np.uint8)
        msgs.append((t, "/camera/scene/color/image_raw", Image.__msgtype__,
                     Image(header=_header(t), height=h, width=w, encoding="rgb8", is_bigendian=0, step=w * 3,
                           data=img.reshape(-1))))
        if compressed_wrist:
            _, jpg = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
            wrist = CImage(header=_header(t), format="jpeg", data=jpg.reshape(-1))
            msgs.append((t, "/camera/wrist/color/image_raw/compressed", CImage.__msgtype__, wrist))
    for k in range(int((seconds - T_JS) * 100) + 1):
        t = T_JS + k / 100
        if joint_gap and joint_gap[0] <= t < joint_gap[1]:
            continue
        msgs.append((t, "/joint_states", JointState.__msgtype__,
                     JointState(header=_header(t), name=JOINTS, position=joint_q(t), velocity=np.zeros(0),
                                effort=np.zeros(0))))
    for k in range(int((seconds - T_CMD) * 20) + 1) if with_command else ():
        t = T_CMD + k / 20
        pts = [Point(positions=np.array([t + i + s for i in range(3)], float), velocities=np.zeros(0),
                     accelerations=np.zeros(0), effort=np.zeros(0), time_from_start=Duration(sec=s, nanosec=0))
               for s in (0, 1)]
        msgs.append((t, "/wam/command", Traj.__msgtype__, Traj(header=_header(t), joint_names=JOINTS, points=pts)))
    with Writer(path, version=9, storage_plugin=storage) as w:
        conns = {}
        for t, topic, typ, msg in sorted(msgs, key=lambda m: m[0]):
            if topic not in conns:
                conns[topic] = w.add_connection(topic, typ, typestore=TS)
            w.write(conns[topic], round((BASE + t) * 1e9), TS.serialize_cdr(msg, typ))


def _opts(bags, out, **kw) -> ImportOptions:
    base = dict(image_topics={"scene": "/camera/scene/color/image_raw",
                              "wrist": "/camera/wrist/color/image_raw/compressed"},
                joint_topic="/joint_states", action_topic="/wam/command", task="reach the red cube", fps=10)
    return ImportOptions(bags=list(bags), out=out, **{**base, **kw})


@pytest.fixture(scope="module")
def bags(tmp_path_factory):
    d = tmp_path_factory.mktemp("bags")
    write_bag(d / "ep_sqlite", 2.0, StoragePlugin.SQLITE3)
    write_bag(d / "ep_mcap", 1.5, StoragePlugin.MCAP)
    return [d / "ep_sqlite", d / "ep_mcap"]


def test_two_bags_sqlite3_and_mcap_become_two_episodes_on_the_fps_grid(bags, tmp_path):
    out = tmp_path / "ds"
    results = import_bags(_opts(bags, out), log=lambda *_: None)
    r = LeRobotDatasetReader(out)
    r.validate(decode_videos=True)
    assert r.num_episodes == 2 and r.fps == 10 and r.tasks == ["reach the red cube"]
    assert r.spec.joint_names == tuple(JOINTS) and r.spec.cameras == {"scene": (H, W), "wrist": (H, W)}
    for e, (seconds, res) in enumerate(zip((2.0, 1.5), results, strict=True)):
        d = r.episode_data(e)
        g = d["stamp"] - BASE  # the grid instants, on the bag clock
        # starts when every camera and the joint topic have spoken; 0.1 s grid; ends with the shortest stream
        last_img, last_js = T_IMG + int((seconds - T_IMG) * 30) / 30, T_JS + int((seconds - T_JS) * 100) / 100
        n = int(np.floor((min(last_img, last_js) - T_JS) * 10 + 1e-9)) + 1
        assert len(g) == n == res.frames and res.skipped == 0
        np.testing.assert_allclose(g, T_JS + np.arange(n) / 10, atol=1e-6)
        # state: the latest joint state at the tick (100 Hz: at most 10 ms old)
        age = g - d["observation.state"][:, 1]
        assert np.all(age >= -1e-6) and np.all(age < 0.0101)
        np.testing.assert_allclose(d["observation.state"][:, 0], np.sin(d["observation.state"][:, 1]), atol=1e-5)
        # action: the command in force, interpolated at the tick like the recorder does; before the first
        # command the arm holds, so the action is the measured state (frame 0 at 5 ms, the command at 13 ms)
        t_c = T_CMD + np.floor((g - T_CMD) * 20 + 1e-9) / 20
        commanded = g >= T_CMD
        assert commanded.tolist() == [False] + [True] * (n - 1)
        np.testing.assert_array_equal(d["action"][0], d["observation.state"][0])
        for i in range(3):
            np.testing.assert_allclose(d["action"][commanded, i], (t_c + i + (g - t_c))[commanded], atol=1e-4)
        # images: the newest camera set at the tick (frame k, brightness-coded), both cameras the same frame
        k = np.floor((g - T_IMG) * 30 + 1e-9).astype(int)
        for cam in ("scene", "wrist"):
            frames, _ = r.episode_frames(e, cam)
            np.testing.assert_allclose(frames.reshape(n, -1).mean(axis=1), [brightness(i) for i in k], atol=3)
    stats = r.stats()
    assert "q01" in stats["action"] and stats["action"]["count"] == [sum(x.frames for x in results)]


def test_wam_train_trains_on_an_imported_dataset(bags, tmp_path):
    out = tmp_path / "ds"
    assert main([*map(str, bags), str(out), "--image-topic", "scene=/camera/scene/color/image_raw",
                 "--image-topic", "wrist=/camera/wrist/color/image_raw/compressed", "--joint-topic", "/joint_states",
                 "--action-topic", "/wam/command", "--task", "reach the red cube", "--fps", "10",
                 "--vcodec", "h264"]) == 0
    info = json.loads((out / "meta/info.json").read_text())
    assert info["total_episodes"] == 2 and info["features"]["observation.images.scene"]["info"]["video.codec"] == "h264"
    model = {"image_size": [16, 16], "d_model": 32, "num_layers": 1, "num_heads": 2, "ae_channels": [8, 8, 8],
             "action_horizon": 4, "future_frames": 1, "frame_stride": 4, "num_steps": 2}
    wam_train([str(out), "--out", str(tmp_path / "ckpt"), "--steps", "4", "--batch-size", "4", "--eval-every", "2",
               "--checkpoint-every", "4", "--val-episodes", "1", "--threads", "1", "--model", json.dumps(model)])
    meta = json.loads((tmp_path / "ckpt/config.json").read_text())
    assert meta["joint_names"] == JOINTS and meta["cameras"] == ["scene", "wrist"]
    assert [h["step"] for h in meta["extra"]["history"]] == [2, 4]


def test_without_an_action_topic_the_action_is_the_next_frames_state(bags, tmp_path):
    import_bags(_opts(bags[:1], tmp_path / "ds", action_topic=""), log=lambda *_: None)
    d = LeRobotDatasetReader(tmp_path / "ds").episode_data(0)
    np.testing.assert_array_equal(d["action"][:-1], d["observation.state"][1:])
    np.testing.assert_array_equal(d["action"][-1], d["observation.state"][-1])


def test_stale_joint_states_skip_ticks_as_the_recorder_does(tmp_path):
    """No joint state for 0.5 s: the ticks that would use a state older than max_state_age are skipped and
    counted; the grid goes on after the gap."""
    write_bag(tmp_path / "gap", 2.0, StoragePlugin.MCAP, joint_gap=(0.8, 1.3), compressed_wrist=False)
    opts = _opts([tmp_path / "gap"], tmp_path / "ds", image_topics={"scene": "/camera/scene/color/image_raw"})
    (res,) = import_bags(opts, log=lambda *_: None)
    g = LeRobotDatasetReader(tmp_path / "ds").episode_data(0)["stamp"] - BASE
    assert res.skipped == 4 and res.frames == len(g) == 20 - 4  # ticks at 0.905 .. 1.205 find a state > 0.1 s old
    assert np.max(np.diff(g)) == pytest.approx(0.5, abs=1e-6) and np.min(np.diff(g)) == pytest.approx(0.1, abs=1e-6)


def test_missing_topics_are_named_with_what_the_bag_has(bags, tmp_path, capsys):
    with pytest.raises(DatasetError, match=r"no topic /camera/top/image_raw in this bag; it has: "
                                           r"/camera/scene/color/image_raw \[sensor_msgs/msg/Image\]"):
        import_bags(_opts(bags[:1], tmp_path / "ds", image_topics={"top": "/camera/top/image_raw"}))
    with pytest.raises(DatasetError, match="topic /joint_states is sensor_msgs/msg/JointState, expected std_msgs"):
        import_bags(_opts(bags[:1], tmp_path / "ds", instruction_topic="/joint_states", task=""))
    assert main([str(bags[0]), str(tmp_path / "ds"), "--image-topic", "/camera/scene/color/image_raw",
                 "--joint-topic", "/arm/joint_states", "--task", "t"]) == 1
    assert "no topic /arm/joint_states in this bag" in capsys.readouterr().err
    with pytest.raises(DatasetError, match="no such bag"):
        import_bags(_opts([tmp_path / "nope"], tmp_path / "ds"))


def test_a_bag_of_another_camera_size_fails_naming_it_and_keeps_the_saved_episodes(bags, tmp_path):
    write_bag(tmp_path / "small", 1.0, StoragePlugin.SQLITE3)
    out = tmp_path / "ds"
    import_bags(_opts(bags[:1], out), log=lambda *_: None)
    write_bag(tmp_path / "other_size", 1.0, StoragePlugin.SQLITE3, size=(16, 16))
    with pytest.raises(DatasetError, match=r"other_size: camera 'scene': image \(16, 16, 3\)"):
        import_bags(_opts([tmp_path / "small", tmp_path / "other_size"], out), log=lambda *_: None)
    r = LeRobotDatasetReader(out)
    r.validate()
    assert r.num_episodes == 2  # the first bag's episode and "small" are kept; nothing half-written
