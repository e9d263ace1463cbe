"""wam_node over real DDS: a random-init tiny_wam checkpoint, synthetic camera images and
joint states from a probe node (the cameras and the arm are what cannot exist here)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from ros_harness import NodeProcess, wait_for
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import Marker, MarkerArray

from wam_ros.robot.model import RobotModel
from wam_ros.ros import qos
from wam_ros.ros.image_conversion import image_from_msg, image_to_msg
from wam_ros.ros.time_conversion import duration_to_sec, sec_to_time, time_to_sec

JOINTS = RobotModel.load().actuated_joints
MODULE = "wam_ros.nodes.wam_node"


def make_checkpoint(path, joints=JOINTS, cameras=("scene", "wrist")):
    import torch

    from wam_ros.tiny_wam import CheckpointMeta, Normalization, TinyWam, TinyWamConfig, save_checkpoint

    torch.manual_seed(0)
    cfg = TinyWamConfig(image_size=(32, 32), d_model=32, num_layers=1, num_heads=2, ae_channels=(8, 8, 8),
                        action_horizon=8, frame_stride=4, num_steps=2, num_cameras=len(cameras))
    norm = Normalization(np.zeros(7), np.ones(7), np.zeros(7), np.full(7, 0.05))
    return str(save_checkpoint(path, TinyWam(cfg), CheckpointMeta(tuple(joints), cameras, 0.1, cfg, norm)))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("ck") / "tiny_wam")


def node_params(ck, **kw):
    return {"checkpoint": ck, "image_size": [32, 32], "device": "cpu", "torch_threads": 1, "trigger_mode": "rate",
            "trigger_rate": 4.0, "max_image_age": 1.0, "joint_state_timeout": 1.0, **kw}


class FakeRobot:
    """Publishes camera frames (shared stamp per set) and joint states from the probe, at 10 Hz."""

    def __init__(self, ros, cameras=("scene", "wrist")) -> None:
        node = ros.node
        self.node = node
        self.cams = {c: node.create_publisher(Image, f"/camera/{c}/color/image_raw", qos.SENSOR) for c in cameras}
        self.js = node.create_publisher(JointState, "/joint_states", qos.SENSOR)
        self.stamps: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        rng = np.random.default_rng(0)
        self.frame = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        self.position = [0.1] * 8  # actuated joints + the gripper's mirror joint

    def _run(self) -> None:
        while not self._stop.is_set():
            now = self.node.get_clock().now().nanoseconds * 1e-9
            for c, pub in self.cams.items():
                pub.publish(image_to_msg(self.frame, now, f"{c}_optical_frame"))
            self.stamps.append(now)
            js = JointState(name=[*JOINTS, "gripper_finger_joint_mirror"], position=list(self.position))
            js.header.stamp = sec_to_time(now)
            self.js.publish(js)
            time.sleep(0.1)

    def __enter__(self) -> FakeRobot:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2.0)


def test_publishes_chunk_with_observation_stamp_filmstrip_and_path(ros, checkpoint):
    chunks = ros.collect(JointTrajectory, "/wam/action_chunk")
    frames = ros.collect(Image, "/wam/predicted_frames")
    paths = ros.collect(MarkerArray, "/wam/predicted_path")
    instr = ros.node.create_publisher(String, "/wam/instruction", qos.LATCHED)
    instr.publish(String(data="reach the red cube"))
    with FakeRobot(ros) as robot, NodeProcess(MODULE, node_params(checkpoint)) as proc:
        try:
            wait_for(lambda: len(chunks) >= 2 and frames and paths, 60)
        except TimeoutError:
            pytest.fail(f"no chunk/filmstrip/path; node output:\n{proc.output()}")
        stamps = list(robot.stamps)
    c = chunks[-1]
    # the chunk carries the stamp of the synchronized frames it was computed from
    assert any(abs(time_to_sec(c.header.stamp) - s) < 1e-6 for s in stamps)
    assert tuple(c.joint_names) == JOINTS and len(c.points) == 8
    np.testing.assert_allclose([duration_to_sec(p.time_from_start) for p in c.points], np.arange(1, 9) * 0.1)
    pos = np.array([p.positions for p in c.points])
    assert pos.shape == (8, 7) and np.all(np.isfinite(pos)) and np.abs(pos).max() < 1.0  # action_std 0.05
    strip = image_from_msg(frames[-1])
    # 2 cameras x (observed + 2 predicted) tiles; once real frames are paired, each predicted tile is followed
    # by its real frame and the difference (test_wam_node_display.py checks what the tiles show)
    assert strip.shape in ((2 * 128, 3 * 128, 3), (2 * 128, 7 * 128, 3))
    assert any(abs(time_to_sec(frames[-1].header.stamp) - s) < 1e-6 for s in stamps)
    markers = paths[-1].markers
    assert [m.type for m in markers] == [Marker.LINE_STRIP, Marker.SPHERE_LIST]
    line = markers[0]
    assert line.header.frame_id == "base_link" and len(line.points) == 9 and len(line.colors) == 9
    assert line.colors[0].b > line.colors[-1].b and line.colors[-1].r > line.colors[0].r  # coloured by time
    ee = np.array([[p.x, p.y, p.z] for p in line.points])
    expected = RobotModel.load().kinematics.fk_path(np.full((1, 6), 0.1))[0]
    np.testing.assert_allclose(ee[0], expected, atol=1e-9)  # the path starts at the observed pose


def test_missing_camera_means_no_chunk_and_a_warning(ros, checkpoint):
    chunks = ros.collect(JointTrajectory, "/wam/action_chunk")
    diags = ros.collect(DiagnosticArray, "/diagnostics")

    def warned():
        return [s for d in diags for s in d.status
                if s.name.startswith("wam_node") and s.level == b"\x01" and "wrist" in s.message]

    with FakeRobot(ros, cameras=("scene",)), NodeProcess(MODULE, node_params(checkpoint)) as proc:
        try:
            wait_for(warned, 60)
        except TimeoutError:
            pytest.fail(f"no diagnostics warning naming the camera; node output:\n{proc.output()}")
        time.sleep(1.5)
        assert proc.alive()
    assert chunks == []
    assert "missing" in warned()[-1].message


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ({"cameras": ["scene"]}, "cameras mismatch"),
        ({"image_size": [64, 64]}, "image size mismatch"),
        ({"checkpoint": "/nonexistent/tiny_wam"}, "checkpoint not found"),
        ("joints", "joint names mismatch"),
    ],
)
def test_mismatched_or_missing_checkpoint_refused_at_configure(checkpoint, tmp_path, override, needle):
    if override == "joints":
        override = {"checkpoint": make_checkpoint(tmp_path / "ck", joints=[f"j{i}" for i in range(7)])}
    proc = NodeProcess(MODULE, node_params(checkpoint, **override))
    assert proc.wait(60) == 2
    assert needle in proc.output() and "checkpoint" in proc.output()


def test_failing_backend_means_no_chunk_and_an_error(ros, checkpoint):
    """The remote backend pointed at a port nobody serves: every inference fails."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    chunks = ros.collect(JointTrajectory, "/wam/action_chunk")
    diags = ros.collect(DiagnosticArray, "/diagnostics")

    def errored():
        return [s for d in diags for s in d.status
                if s.name.startswith("wam_node") and s.level == b"\x02" and "backend failing" in s.message]

    params = node_params(checkpoint, backend="remote", remote_url=f"ws://127.0.0.1:{port}", image_size=[0, 0])
    with FakeRobot(ros), NodeProcess(MODULE, params) as proc:
        try:
            wait_for(errored, 60)
        except TimeoutError:
            pytest.fail(f"no diagnostics error for the failing backend; node output:\n{proc.output()}")
        time.sleep(1.0)
        assert proc.alive()
    assert chunks == []
    values = {kv.key: kv.value for kv in errored()[-1].values}
    assert int(values["failures"]) >= 1 and values["backend"] == "remote"
