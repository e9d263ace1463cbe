"""Many robots, one wam-serve: chunks/s and per-request latency for 1, 2, 4, 8 concurrent clients.

wam-serve runs the bundled tiny WAM (checkpoints/tiny_wam) on CPU in its own process,
once batched (``--max-batch 8 --batch-window-ms 5``: concurrent requests share one
forward pass) and once unbatched (``--max-batch 1``: one forward pass per request, in
arrival order). Each client is a RemotePolicy in its own thread of this process that
sends its next observation as soon as its chunk arrives (a robot that re-plans
continuously: the heaviest load a fleet can make), action-only (``decode_frames=False``)
unless ``--frames``. Latency is the client's round trip (send -> reply) per request;
chunks/s counts the replies of all clients during the measuring window. Both servers
run at once and the two modes take turns in 1 s slices, so the load other processes put
on the machine falls on both alike.

Run: .venv/bin/python bench/bench_fleet.py [--seconds 5] [--clients 1 2 4 8] [--frames] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from wam_ros.policies.base import Observation  # noqa: E402
from wam_ros.remote.client import RemotePolicy  # noqa: E402
from wam_ros.resources import DEFAULT_CHECKPOINT, resolve  # noqa: E402

MODES = {"unbatched": ["--max-batch", "1"], "batched": ["--max-batch", "8", "--batch-window-ms", "5"]}


def start_server(args: list[str]) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "wam_ros.remote.server", "--port", "0", "--log-level", "WARNING",
                             *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    for line in proc.stdout:  # type: ignore[union-attr]
        if "serving backend" in line:
            return proc, line.split(" on ", 1)[1].split()[0]
    raise RuntimeError(f"wam-serve did not start (exit {proc.wait()})")


def observation(k: int, size: tuple[int, int], cameras: tuple[str, ...], joints: int) -> Observation:
    rng = np.random.default_rng(k)
    return Observation({c: rng.integers(0, 256, (*size, 3), dtype=np.uint8) for c in cameras},
                       rng.uniform(-0.3, 0.3, joints), "pick up the red cube", 0.0)


class Fleet:
    """``clients`` connected, warmed-up robots on one server, re-planning back to back when run."""

    def __init__(self, url: str, clients: int, decode_frames: bool) -> None:
        self.policies = [RemotePolicy.from_server(url, response_timeout=60.0) for _ in range(clients)]
        spec = self.policies[0].spec
        self.observations = [observation(k, spec.image_size, spec.cameras, len(spec.joint_names))
                             for k in range(clients)]
        self.decode_frames = decode_frames
        for p in self.policies:  # every robot connected before any request: batches wait for all of them
            p.connect()
        self.rtt_ms: list[float] = []
        self.batch_sizes: list[int] = []
        self.forward_ms: list[float] = []  # the forward pass each request was part of (server_timing.infer_ms)
        self.seconds = 0.0
        self.run(0.0)  # one warm-up request per robot, not recorded

    def run(self, seconds: float) -> None:
        """Every robot requests chunks until ``seconds`` are up and its last reply is in; all are recorded,
        and the time counted is until the last reply (no request is cut off at the end)."""
        n = len(self.policies)
        start = threading.Barrier(n + 1)
        stop_at = [float("inf")]
        lock = threading.Lock()

        def robot(k: int) -> None:
            start.wait()
            first = True
            while first or time.perf_counter() < stop_at[0]:
                extras = self.policies[k].infer(self.observations[k], decode_frames=self.decode_frames).extras
                if seconds > 0:
                    with lock:
                        self.rtt_ms.append(extras["rtt_ms"])
                        self.batch_sizes.append(int(extras.get("server_batch_size", 1)))
                        self.forward_ms.append(float(extras.get("server_infer_ms") or 0.0))
                first = False

        threads = [threading.Thread(target=robot, args=(k,), daemon=True) for k in range(n)]
        for t in threads:
            t.start()
        t0 = time.perf_counter()
        stop_at[0] = t0 + seconds
        start.wait()
        for t in threads:
            t.join(seconds + 120.0)
        if seconds > 0:
            self.seconds += time.perf_counter() - t0

    def summary(self) -> dict[str, float]:
        lat = np.asarray(self.rtt_ms, dtype=float)
        p50, p99 = np.percentile(lat, [50, 99])
        return {"chunks_per_s": lat.size / self.seconds, "p50": p50, "p99": p99,
                "batch": float(np.mean(self.batch_sizes)), "forward": float(np.median(self.forward_ms)),
                "n": float(lat.size)}

    def close(self) -> None:
        for p in self.policies:
            p.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0, help="measuring window per row (default 5)")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 2, 4, 8], help="fleet sizes (default 1 2 4 8)")
    ap.add_argument("--slice", type=float, default=1.0, help="the modes alternate every SLICE seconds (default 1)")
    ap.add_argument("--frames", action="store_true", help="ask for predicted frames too (default: actions only)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the server (default 1)")
    ap.add_argument("--checkpoint", default=str(resolve(DEFAULT_CHECKPOINT)), help="tiny WAM checkpoint")
    args = ap.parse_args()

    backend = ["--backend", "tiny_wam", "--checkpoint", args.checkpoint, "--arg", "device=cpu",
               "--arg", f"num_threads={args.threads}"]
    results: dict[tuple[str, int], dict[str, float]] = {}
    servers = {mode: start_server(backend + options) for mode, options in MODES.items()}
    try:
        for n in args.clients:
            # both servers up (an idle one costs nothing) and the modes alternate in short slices, so a change
            # in the load of this shared machine hits both alike
            fleets = {mode: Fleet(url, n, args.frames) for mode, (_, url) in servers.items()}
            slices = max(1, round(args.seconds / args.slice))
            for _ in range(slices):
                for fleet in fleets.values():
                    fleet.run(args.seconds / slices)
            for mode, fleet in fleets.items():
                results[mode, n] = fleet.summary()
                fleet.close()
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(10)

    print(f"wam-serve, tiny_wam ({Path(args.checkpoint).name}) on CPU, {args.threads} torch thread(s), "
          f"{'actions + frames' if args.frames else 'actions only'}, {os.cpu_count()} CPUs (shared), "
          f"{args.seconds:g} s per row; batched = --max-batch 8 --batch-window-ms 5")
    header = (f"{'clients':>7} | {'unbatched chunks/s':>18} {'p50 ms':>7} {'p99 ms':>7} {'pass ms':>7} | "
              f"{'batched chunks/s':>16} {'p50 ms':>7} {'p99 ms':>7} {'pass ms':>7} {'mean batch':>10} | "
              f"{'speed-up':>8}")
    print(header)
    print("-" * len(header))
    for n in args.clients:
        u, b = results["unbatched", n], results["batched", n]
        print(f"{n:>7} | {u['chunks_per_s']:>18.1f} {u['p50']:>7.0f} {u['p99']:>7.0f} {u['forward']:>7.0f} | "
              f"{b['chunks_per_s']:>16.1f} {b['p50']:>7.0f} {b['p99']:>7.0f} {b['forward']:>7.0f} "
              f"{b['batch']:>10.2f} | "
              f"{b['chunks_per_s'] / u['chunks_per_s']:>7.2f}x")
    print("latency = client round trip per request (queueing + forward pass + transport); pass ms = median "
          "forward pass a request was part of; chunks/s = replies from all clients per second.")


if __name__ == "__main__":
    main()
