"""camera_node over real DDS in its own process: a video file, a RealSense recording
with aligned depth, and an absent RealSense (no hardware here: the absent camera is real
absence, the recording is played through the live librealsense pipeline)."""

from __future__ import annotations

import itertools
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from ros_harness import NodeProcess, wait_for
from sensor_msgs.msg import CameraInfo, Image

from wam_ros.camera.synthetic import depth_mm, write_realsense_recording, write_video_file
from wam_ros.ros.image_conversion import image_from_msg
from wam_ros.ros.qos import SENSOR
from wam_ros.ros.time_conversion import time_to_sec

W, H = 160, 120


def stamp(msg) -> float:
    return time_to_sec(msg.header.stamp)


def latest_status(diags: list, name_part: str) -> DiagnosticStatus | None:
    for arr in reversed(diags):
        for st in arr.status:
            if name_part in st.name:
                return st
    return None


def test_camera_node_publishes_video_file_and_realsense_recording(ros, tmp_path):
    video = write_video_file(tmp_path / "scene.avi", frames=20, width=W, height=H, fps=30)
    data = bytearray(video.read_bytes())
    jpegs = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    data[jpegs[5] : jpegs[5] + 200] = bytes(200)  # frame 5 cannot be decoded: skipped and counted
    video.write_bytes(bytes(data))
    rec = write_realsense_recording(tmp_path / "wrist.db3", frames=15, width=W, height=H, fps=30, paced=True)
    color = ros.collect(Image, "/camera/scene/color/image_raw", SENSOR)
    info = ros.collect(CameraInfo, "/camera/scene/color/camera_info", SENSOR)
    wrist = ros.collect(Image, "/camera/wrist/color/image_raw", SENSOR)
    wrist_info = ros.collect(CameraInfo, "/camera/wrist/color/camera_info", SENSOR)
    depth = ros.collect(Image, "/camera/wrist/aligned_depth_to_color/image_raw", SENSOR)
    diags = ros.collect(DiagnosticArray, "/diagnostics")
    params = {
        "camera_names": ["scene", "wrist", "ghost"],
        "scene.device": str(video), "scene.loop": True, "scene.width": W, "scene.height": H,
        "scene.frame_id": "scene_cam_optical",
        "wrist.source": "realsense", "wrist.recording": str(rec), "wrist.loop": True, "wrist.depth": True,
        "ghost.source": "realsense", "ghost.device": "'999000999'",
        "retry_initial": 0.2, "retry_max": 0.4, "diagnostics_period": 0.3,
    }
    with NodeProcess("wam_ros.nodes.camera_node", params) as proc:
        wait_for(lambda: len(color) >= 30 and len(depth) >= 10 and len(info) >= 10, 20)
        wait_for(lambda: latest_status(diags, "camera ghost") is not None, 5)
        assert proc.alive(), proc.output()
        out = proc.output()

    # colour from the video file: encoding, size, frame_id, monotonic capture stamps
    assert all(m.encoding == "rgb8" and (m.width, m.height) == (W, H) for m in color)
    assert {m.header.frame_id for m in color} == {"scene_cam_optical"}
    s = [stamp(m) for m in color]
    assert all(b > a for a, b in itertools.pairwise(s))
    assert 0.02 < np.median(np.diff(s)) < 0.05  # paced at the file's 30 fps
    greens = [int(np.median(image_from_msg(m)[..., 1])) for m in color]
    steps = np.diff(greens)
    assert np.mean((steps >= 1) & (steps <= 3)) > 0.6, greens  # frame i carries G = i: the video advances
    assert np.any(steps < -10), greens  # and loops back to frame 0
    # CameraInfo: same stamps as images, uncalibrated (a plain video file has no intrinsics)
    assert np.mean([stamp(i) in set(s) for i in info]) > 0.8
    assert info[0].header.frame_id == "scene_cam_optical" and not any(info[0].k)

    # RealSense recording: colour, aligned 16UC1 depth (mm), device intrinsics
    assert all(m.encoding == "rgb8" and m.header.frame_id == "wrist_color_optical_frame" for m in wrist)
    assert all(m.encoding == "16UC1" and (m.width, m.height) == (W, H) for m in depth)
    depth_values = {int(image_from_msg(m)[H // 2, W // 2]) for m in depth}
    assert depth_values <= {depth_mm(i) for i in range(15)}
    assert set(map(stamp, depth)) <= set(map(stamp, wrist))
    ws = [stamp(m) for m in wrist]
    assert all(b > a for a, b in itertools.pairwise(ws))
    assert wrist_info and wrist_info[-1].k[0] == pytest.approx(W * 0.9, rel=1e-5)

    # absent camera: named with the devices present, retried, node unaffected; diagnostics ERROR
    assert "RealSense serial 999000999 not found; present RealSense devices:" in out
    assert out.count("serial 999000999 not found") >= 2  # kept retrying
    ghost = latest_status(diags, "camera ghost")
    assert ghost.level == DiagnosticStatus.ERROR and "999000999" in ghost.message
    scene = latest_status(diags, "camera scene")
    assert scene.level == DiagnosticStatus.OK
    assert int({kv.key: kv.value for kv in scene.values}["corrupt_frames"]) >= 1
    assert "skipped corrupt frame" in out


def test_camera_node_refuses_bad_camera_parameters():
    proc = NodeProcess("wam_ros.nodes.camera_node", {"camera_names": ["scene"], "scene.source": "opencv"})
    assert proc.wait(20) == 2
    assert "needs 'device'" in proc.output()
    proc = NodeProcess("wam_ros.nodes.camera_node", {"camera_names": ["a"], "a.device": "0", "a.width": -5})
    assert proc.wait(20) == 2
    assert "a.width" in proc.output()


def test_camera_node_survives_network_camera_unplug_and_reconnects(ros):
    """A real MJPEG-over-HTTP camera (a separate server process) is killed mid-stream and
    restarted: diagnostics go ERROR, the node keeps running and resumes publishing."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server_cmd = [sys.executable, str(Path(__file__).parent / "mjpeg_stream_server.py"), str(port)]
    server = subprocess.Popen(server_cmd)
    images = ros.collect(Image, "/camera/ip/color/image_raw", SENSOR)
    diags = ros.collect(DiagnosticArray, "/diagnostics")
    params = {
        "camera_names": ["ip"], "ip.device": f"http://127.0.0.1:{port}/stream.mjpg", "ip.width": 64,
        "ip.height": 48, "ip.read_timeout": 0.5, "retry_initial": 0.2, "retry_max": 0.5, "diagnostics_period": 0.2,
    }
    try:
        with NodeProcess("wam_ros.nodes.camera_node", params) as proc:
            wait_for(lambda: len(images) >= 10, 20)
            server.kill()  # unplugged
            server.wait(5)
            wait_for(lambda: (st := latest_status(diags, "camera ip")) and st.level == DiagnosticStatus.ERROR, 10)
            n = len(images)
            time.sleep(1.0)  # absent for a while: retries with back-off, no crash
            assert proc.alive(), proc.output()
            server = subprocess.Popen(server_cmd)  # plugged back in
            wait_for(lambda: len(images) >= n + 10, 20)
            wait_for(lambda: (st := latest_status(diags, "camera ip")) and st.level == DiagnosticStatus.OK, 10)
            values = {kv.key: kv.value for kv in latest_status(diags, "camera ip").values}
            assert proc.alive()
            out = proc.output()
    finally:
        server.kill()
        server.wait(5)
    assert int(values["reconnects"]) >= 1
    assert "disconnected" in out and "reconnecting" in out
    assert image_from_msg(images[-1]).shape == (48, 64, 3)
    s = [stamp(m) for m in images]
    assert all(b > a for a, b in itertools.pairwise(s))
