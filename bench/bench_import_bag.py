"""wam-import-bag throughput: dataset frames written per second of wall time.

    .venv/bin/python bench/bench_import_bag.py [--quick]

Bags as a teleoperation recording has them (written with rosbags, like test/test_import_bag.py):
two cameras at 30 Hz (raw rgb8 scene camera, JPEG wrist camera, textured frames that pan so the
encoder does real work), joint states at 100 Hz, a command at 20 Hz; imported at 10 fps (every
third camera frame is converted and encoded, all messages are read and deserialised). Reported
per storage format, image size and codec: frames/s, and the bag's messages/s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "test"))

from bench_recorder import video_like  # noqa: E402
from rosbags.rosbag2 import StoragePlugin  # noqa: E402
from test_import_bag import _opts, write_bag  # noqa: E402

from wam_ros.apps.import_bag import import_bags  # noqa: E402
from wam_ros.dataset import LeRobotDatasetReader  # noqa: E402


def bench(storage: StoragePlugin, h: int, w: int, vcodec: str, seconds: float) -> dict:
    frames = video_like(h, w, n=60)
    with tempfile.TemporaryDirectory() as d:
        bag = Path(d) / "bag"
        write_bag(bag, seconds, storage, size=(h, w), frame=lambda k: frames[k % len(frames)])
        t0 = time.perf_counter()
        (res,) = import_bags(_opts([bag], Path(d) / "ds", vcodec=vcodec), log=lambda *_: None)
        wall = time.perf_counter() - t0
        LeRobotDatasetReader(Path(d) / "ds").validate()
    n_msgs = int(seconds * (30 * 2 + 100 + 20))
    return {"frames": res.frames, "fps": res.frames / wall, "msgs_per_s": n_msgs / wall, "wall": wall}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="one size, a shorter bag")
    args = ap.parse_args()
    seconds = 5.0 if args.quick else 20.0
    sizes = [(240, 320)] if args.quick else [(240, 320), (480, 640)]
    bench(StoragePlugin.MCAP, 48, 64, "libx264", 1.0)  # warm-up: imports, first encoder and typestore
    print(f"wam-import-bag, {seconds:.0f} s bags: 2 cameras @ 30 Hz (rgb8 + JPEG), joints @ 100 Hz, command @ 20 Hz,"
          " imported at 10 fps")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'storage':>8} {'size':>8} {'codec':>10} {'frames':>7} {'frames/s':>9} {'bag msgs/s':>11} {'wall s':>7}")
    for storage in (StoragePlugin.SQLITE3, StoragePlugin.MCAP):
        for h, w in sizes:
            for vcodec in ("libx264", "libsvtav1"):
                r = bench(storage, h, w, vcodec, seconds)
                print(f"{storage.name.lower():>8} {w}x{h:<4} {vcodec:>10} {r['frames']:7d} {r['fps']:9.1f} "
                      f"{r['msgs_per_s']:11.0f} {r['wall']:7.2f}")


if __name__ == "__main__":
    main()
