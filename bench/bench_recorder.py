"""Recording throughput and CPU: the dataset writer alone, and episode_recorder_node over DDS.

    .venv/bin/python bench/bench_recorder.py [--quick]

1. Writer core: frames/s of ``add_frame`` with two cameras (unthrottled, one thread)
   and the CPU time per frame, for a few image sizes, x264 presets and SVT-AV1 (LeRobot's
   default codec); plus the time of ``save_episode`` (atomic commit incl. remuxing into the
   camera files and the statistics with quantiles).
2. The node: episode_recorder_node in its own process, fed two cameras + joint
   states + commands over real DDS at the camera rate, recording at ``fps``; reports
   the recorded frame rate and the node's CPU use (psutil, % of one core).
Frames are synthetic but video-like (a textured image that moves), so the encoder
does real work.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "test"))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 80))
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(REPO / "config" / "fastdds.xml"))

from wam_ros.dataset import DatasetSpec, LeRobotDatasetReader, LeRobotDatasetWriter  # noqa: E402

JOINTS = tuple(f"j{i}" for i in range(7))


def video_like(h: int, w: int, n: int = 30, seed: int = 0) -> list[np.ndarray]:
    """``n`` frames of a smooth random texture panning by 2 px per frame."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (h // 8 + 2, w // 8 + n // 4 + 2, 3)).astype(np.uint8)
    big = np.repeat(np.repeat(base, 8, axis=0), 8, axis=1)
    return [np.ascontiguousarray(big[:h, 2 * i : 2 * i + w]) for i in range(n)]


def bench_writer(h: int, w: int, vcodec: str, preset: str, frames: int) -> dict:
    imgs = {"scene": video_like(h, w), "wrist": video_like(h, w, seed=1)}
    with tempfile.TemporaryDirectory() as d:
        writer = LeRobotDatasetWriter(Path(d) / "ds", DatasetSpec(30, JOINTS, {"scene": (h, w), "wrist": (h, w)},
                                                                  vcodec=vcodec, preset=preset))
        proc = psutil.Process()
        writer.start_episode("bench")
        c0, t0 = proc.cpu_times(), time.perf_counter()
        for i in range(frames):
            writer.add_frame(np.zeros(7), np.zeros(7), {c: v[i % 30] for c, v in imgs.items()}, i / 30)
        t1, c1 = time.perf_counter(), proc.cpu_times()
        writer.save_episode()
        t_save1 = time.perf_counter() - t1
        writer.start_episode("bench")  # second episode: save remuxes into the existing files
        for i in range(frames):
            writer.add_frame(np.zeros(7), np.zeros(7), {c: v[i % 30] for c, v in imgs.items()}, i / 30)
        t2 = time.perf_counter()
        writer.save_episode()
        t_save2 = time.perf_counter() - t2
        LeRobotDatasetReader(Path(d) / "ds").validate()
        mb = sum(p.stat().st_size for p in (Path(d) / "ds" / "videos").rglob("*.mp4")) / 1e6
    cpu = (c1.user + c1.system) - (c0.user + c0.system)
    return {"fps": frames / (t1 - t0), "cpu_ms": 1e3 * cpu / frames, "save1": t_save1, "save2": t_save2,
            "kb_per_frame": 1e3 * mb / (2 * frames)}


def bench_node(h: int, w: int, fps: int, seconds: float) -> dict:
    from ros_harness import NodeProcess, RosTestNode, wait_for
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import String
    from std_srvs.srv import Trigger

    from wam_ros.ros.image_conversion import image_to_msg
    from wam_ros.ros.qos import LATCHED

    imgs = {"scene": video_like(h, w), "wrist": video_like(h, w, seed=1)}
    probe = RosTestNode("bench_probe")
    n = probe.node
    pubs = {c: n.create_publisher(Image, f"/camera/{c}/color/image_raw", 5) for c in imgs}
    js = n.create_publisher(JointState, "/joint_states", 10)
    n.create_publisher(String, "/wam/instruction", LATCHED).publish(String(data="bench"))
    k = [0]

    def cams() -> None:
        t = n.get_clock().now().nanoseconds * 1e-9
        for c, p in pubs.items():
            p.publish(image_to_msg(imgs[c][k[0] % 30], t, c))
        k[0] += 1

    n.create_timer(1.0 / fps, cams)
    n.create_timer(0.01, lambda: js.publish(JointState(name=[f"joint{i}" for i in range(1, 7)]
                                                       + ["gripper_finger_joint"], position=[0.0] * 7)))
    with tempfile.TemporaryDirectory() as d:
        node = NodeProcess("wam_ros.nodes.episode_recorder_node", {"dataset_root": f"{d}/ds", "fps": fps})
        try:
            wait_for(lambda: probe.call(Trigger, "/episode_recorder_node/start_episode").success, 20, 0.2)
            ps = psutil.Process(node.pid)
            c0, t0 = ps.cpu_times(), time.perf_counter()
            time.sleep(seconds)
            c1, t1 = ps.cpu_times(), time.perf_counter()
            probe.call(Trigger, "/episode_recorder_node/save_episode")
        finally:
            node.stop()
            probe.close()
        r = LeRobotDatasetReader(f"{d}/ds")
        r.validate()
        frames = r.episodes[0]["length"]
    return {"recorded_fps": frames / seconds, "cpu_pct": 100 * ((c1.user + c1.system) - (c0.user + c0.system))
            / (t1 - t0)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer sizes, shorter runs")
    args = ap.parse_args()
    frames = 60 if args.quick else 150
    print(f"Writer core, 2 cameras, crf 30 g 2 (episode of {frames} frames)")
    print(f"{'size':>9} {'codec':>20} {'frames/s':>9} {'CPU ms/frame':>13} {'save ep1 s':>11} {'save ep2 s':>11}"
          f" {'kB/frame':>9}")
    sizes = [(120, 160), (240, 320)] if args.quick else [(120, 160), (240, 320), (480, 640)]
    for h, w in sizes:
        for vcodec, preset in (("libx264", "ultrafast"), ("libx264", "veryfast"), ("libsvtav1", "veryfast")):
            r = bench_writer(h, w, vcodec, preset, frames)
            name = f"{vcodec} {preset}" if vcodec == "libx264" else f"{vcodec} preset 12"
            print(f"{w}x{h:>4} {name:>20} {r['fps']:9.1f} {r['cpu_ms']:13.2f} {r['save1']:11.3f} "
                  f"{r['save2']:11.3f} {r['kb_per_frame']:9.2f}")
    print("\nepisode_recorder_node over DDS, 2 cameras, preset veryfast")
    print(f"{'size':>9} {'target fps':>10} {'recorded fps':>13} {'node CPU %':>11}")
    for h, w, fps in [(240, 320, 15), (240, 320, 30)] if args.quick else [(240, 320, 15), (240, 320, 30),
                                                                        (480, 640, 15)]:
        r = bench_node(h, w, fps, 4.0 if args.quick else 8.0)
        print(f"{w}x{h:>4} {fps:10d} {r['recorded_fps']:13.1f} {r['cpu_pct']:11.1f}")


if __name__ == "__main__":
    main()
