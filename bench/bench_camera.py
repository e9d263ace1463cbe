"""Benchmark camera_node: two 640x480 colour streams at 30 Hz plus one aligned depth stream.

Sources are generated files played through the real code paths: an MJPG video
(opencv source, like a USB webcam's MJPG stream) and a paced RealSense recording
with colour + depth (realsense source, librealsense pipeline + rs.align). The node
runs in its own process; this process subscribes with sensor-data QoS over DDS
(Fast DDS shared-memory profile config/fastdds.xml unless --no-profile).

Prints: sustained publish/receive rate per topic, added latency capture->publish
(node's own measurement, from /diagnostics) and capture->receipt in this process
(p50/p99), CPU of the node process (psutil, % of one core), and the cost of
image_to_msg for 640x480 rgb8.

    .venv/bin/python bench/bench_camera.py [--seconds 10] [--no-profile]
"""

from __future__ import annotations

import argparse
import array
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "test"))


def setup_env(profile: bool) -> None:
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(150, 230)))
    os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    # Only the Fast DDS 3 variable: this shows rmw_fastrtps honours it (the deprecated
    # FASTRTPS_ one is removed so it cannot be what made the profile apply).
    os.environ.pop("FASTRTPS_DEFAULT_PROFILES_FILE", None)
    if profile:
        os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(REPO / "config" / "fastdds.xml")
    else:
        os.environ.pop("FASTDDS_DEFAULT_PROFILES_FILE", None)


def bench_image_to_msg(n: int = 200) -> tuple[float, float]:
    """(ms per call before the fix: tobytes + default setter copy, ms now)."""
    import numpy as np
    from sensor_msgs.msg import Image

    from wam_ros.ros.image_conversion import image_to_msg

    a = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)

    def old() -> Image:
        m = Image()
        m.height, m.width, m.encoding, m.step = 480, 640, "rgb8", 1920
        m.data = a.tobytes()  # the previous implementation
        return m

    def timed(fn) -> float:
        fn()
        t = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t) / n * 1e3

    assert isinstance(image_to_msg(a, 0.0, "f").data, array.array)
    return timed(old), timed(lambda: image_to_msg(a, 0.0, "f"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="measurement window")
    ap.add_argument("--warmup", type=float, default=4.0)
    ap.add_argument("--no-profile", action="store_true", help="run without config/fastdds.xml (default transports)")
    args = ap.parse_args()
    setup_env(profile=not args.no_profile)

    import numpy as np
    import psutil
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from ros_harness import NodeProcess, RosTestNode
    from sensor_msgs.msg import Image

    from wam_ros.camera.synthetic import write_realsense_recording, write_video_file
    from wam_ros.ros.qos import SENSOR

    tmp = Path(tempfile.mkdtemp(prefix="bench_camera_"))
    print("generating sources (640x480, 30 Hz) ...", flush=True)
    video = write_video_file(tmp / "scene.avi", frames=60, width=640, height=480, fps=30)
    rec = write_realsense_recording(tmp / "wrist.db3", frames=45, width=640, height=480, fps=30, paced=True)

    topics = {
        "scene color": "/camera/scene/color/image_raw",
        "wrist color": "/camera/wrist/color/image_raw",
        "wrist depth": "/camera/wrist/aligned_depth_to_color/image_raw",
    }
    probe = RosTestNode("bench_camera_probe")
    clock = probe.node.get_clock()
    received: dict[str, list[tuple[float, float]]] = {k: [] for k in topics}

    def on_image(key: str):
        def cb(msg: Image) -> None:
            now = clock.now().nanoseconds * 1e-9
            received[key].append((now, msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9))

        return cb

    for key, topic in topics.items():
        probe.node.create_subscription(Image, topic, on_image(key), SENSOR)
    diags: list[DiagnosticArray] = []
    probe.node.create_subscription(DiagnosticArray, "/diagnostics", diags.append, 10)

    params = {
        "camera_names": ["scene", "wrist"],
        "scene.device": str(video), "scene.loop": True, "scene.width": 640, "scene.height": 480,
        "wrist.source": "realsense", "wrist.recording": str(rec), "wrist.loop": True, "wrist.depth": True,
        "wrist.width": 640, "wrist.height": 480,
    }
    node = NodeProcess("wam_ros.nodes.camera_node", params)
    try:
        ps = psutil.Process(node.pid)
        time.sleep(args.warmup)
        for v in received.values():
            v.clear()
        ps.cpu_percent(None)
        t0 = time.monotonic()
        time.sleep(args.seconds)
        cpu = ps.cpu_percent(None)
        elapsed = time.monotonic() - t0
        snapshot = {k: list(v) for k, v in received.items()}
        diag_values: dict[str, dict[str, str]] = {}
        for arr in diags[-5:]:
            for st in arr.status:
                diag_values[st.name.rsplit("camera ", 1)[-1]] = {kv.key: kv.value for kv in st.values}
        alive = node.alive()
    finally:
        node.stop()
        probe.close()
        rclpy.try_shutdown()

    profile = "none (default Fast DDS transports)" if args.no_profile else "config/fastdds.xml (SHM 16 MB)"
    print(f"\ncamera_node, {args.seconds:.0f} s window, DDS profile: {profile}, node alive: {alive}")
    print(f"{'stream':<13} {'recv Hz':>8} {'node pub Hz':>11} {'cap->pub p50/p99 ms':>20} {'cap->recv p50/p99 ms':>21}")
    for key, samples in snapshot.items():
        cam = key.split()[0]
        d = diag_values.get(cam, {})
        lat = np.array([r - s for r, s in samples]) * 1e3
        recv = f"{np.percentile(lat, 50):6.1f} / {np.percentile(lat, 99):6.1f}" if lat.size else "     - /      -"
        pub = f"{float(d.get('latency_p50_ms', 'nan')):6.1f} / {float(d.get('latency_p99_ms', 'nan')):6.1f}"
        if key.endswith("depth"):
            pub = "(same as colour)"
        rate = f"{float(d.get('rate_hz', 'nan')):.1f}"
        print(f"{key:<13} {len(samples) / elapsed:8.1f} {rate:>11} {pub:>20} {recv:>21}")
    print(f"node process CPU: {cpu:.0f} % of one core (machine has {psutil.cpu_count()} cores)")
    old, new = bench_image_to_msg()
    print(f"image_to_msg 640x480 rgb8: {new:.3f} ms (previous tobytes + setter path: {old:.3f} ms)")


if __name__ == "__main__":
    main()
