"""Round-trip latency of RemotePolicy <-> wam-serve over loopback.

Observation: two 224x224 RGB images + 7 joint positions + a prompt (~301 kB per request).
wam-serve runs in its own process. For each backend the table separates the server's
compute time (``server_timing.infer_ms``) from the transport overhead (round trip minus
compute: websocket framing, msgpack-numpy encode/decode on the server, loopback TCP),
and shows the client's own encode / decode time, which is outside the round trip.

Backends: ``const`` (returns a fixed chunk: pure protocol cost), ``sleep20`` (20 ms of
simulated compute: shows compute and transport are separated), ``tiny_wam`` (the real
model, random-init checkpoint at the default size, CPU, with and without frame decoding).

Run: .venv/bin/python bench/bench_remote.py [--n 200] [--no-tiny-wam]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from wam_ros.policies.base import Observation, PolicySpec, Prediction  # noqa: E402
from wam_ros.remote.client import RemotePolicy  # noqa: E402

JOINTS = ("joint1", "joint2", "joint3", "joint4", "joint5", "joint6", "gripper_finger_joint")
CAMERAS = ("scene", "wrist")
H = 16  # the const backends' chunk length (the tiny_wam rows use their checkpoint's)


class ConstPolicy:
    """Fixed chunk after ``compute_ms`` of sleep: isolates protocol cost from model cost."""

    spec = PolicySpec(JOINTS, CAMERAS, (224, 224), H, 0.1)

    def __init__(self, compute_ms: float = 0.0) -> None:
        self.compute_s = float(compute_ms) / 1000.0
        self.chunk = np.linspace(0, 1, H * len(JOINTS)).reshape(H, len(JOINTS))

    def infer(self, observation: Observation, decode_frames: bool = True) -> Prediction:
        if self.compute_s:
            time.sleep(self.compute_s)
        return Prediction(self.chunk + observation.joint_positions[None, :], 0.1)

    def reset(self) -> None:
        pass


def start_server(args: list[str]) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "bench"), str(REPO)])}
    proc = subprocess.Popen([sys.executable, "-m", "wam_ros.remote.server", "--port", "0", "--log-level", "WARNING",
                             *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO)
    for line in proc.stdout:  # type: ignore[union-attr]
        if "serving backend" in line:
            return proc, line.split(" on ", 1)[1].split()[0]
    raise RuntimeError(f"wam-serve did not start (exit {proc.wait()})")


def make_tiny_wam_checkpoint(directory: Path) -> tuple[Path, int]:
    """A random-init checkpoint at the default size, and its action horizon (what the client must expect)."""
    import torch

    from wam_ros.tiny_wam import CheckpointMeta, Normalization, TinyWam, TinyWamConfig, save_checkpoint

    torch.manual_seed(0)
    model = TinyWam(TinyWamConfig())  # the default size
    meta = CheckpointMeta(JOINTS, CAMERAS, 0.1, model.cfg, Normalization.identity(len(JOINTS)))
    return save_checkpoint(directory / "tiny_wam", model, meta), model.cfg.action_horizon


def measure(url: str, n: int, decode_frames: bool, image_size: tuple[int, int], horizon: int) -> dict[str, np.ndarray]:
    # The client states the horizon it expects; the server's must match (RemotePolicy checks it).
    policy = RemotePolicy(url, joint_names=JOINTS, cameras=CAMERAS, image_size=image_size, action_horizon=horizon,
                          response_timeout=30.0)
    rng = np.random.default_rng(0)
    obs = Observation({c: rng.integers(0, 255, (224, 224, 3), dtype=np.uint8) for c in CAMERAS},
                      np.zeros(len(JOINTS)), "reach the red cube", 0.0)
    for _ in range(5):  # warm-up (connect, first-call allocations)
        policy.infer(obs, decode_frames=decode_frames)
    keys = ("rtt_ms", "server_infer_ms", "transport_ms", "encode_ms", "decode_ms", "request_bytes", "response_bytes")
    rows: dict[str, list[float]] = {k: [] for k in keys}
    for _ in range(n):
        extras = policy.infer(obs, decode_frames=decode_frames).extras
        for k in keys:
            rows[k].append(extras[k])
    policy.close()
    return {k: np.asarray(v, dtype=float) for k, v in rows.items()}


def _pp(values: np.ndarray) -> str:
    p50, p99 = np.percentile(values, [50, 99])
    return f"{p50:.2f}/{p99:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200, help="requests per backend (tiny_wam: n/4)")
    ap.add_argument("--no-tiny-wam", action="store_true", help="skip the tiny_wam rows")
    args = ap.parse_args()

    cases: list[tuple[str, list[str], bool, tuple[int, int], int, int]] = [
        ("const", ["--backend", "bench_remote:ConstPolicy"], True, (224, 224), args.n, H),
        ("sleep20", ["--backend", "bench_remote:ConstPolicy", "--arg", "compute_ms=20"], True, (224, 224), args.n, H),
    ]
    tmp = tempfile.TemporaryDirectory()
    if not args.no_tiny_wam:
        ck, horizon = make_tiny_wam_checkpoint(Path(tmp.name))
        tiny = ["--backend", "tiny_wam", "--checkpoint", str(ck), "--arg", "device=cpu", "--arg", "num_threads=1"]
        n = max(args.n // 4, 20)
        cases += [("tiny_wam+frames", tiny, True, (64, 64), n, horizon),
                  ("tiny_wam actions", tiny, False, (64, 64), n, horizon)]

    print(f"RemotePolicy <-> wam-serve over loopback, 2 x 224x224x3 uint8 + 7 joints per request "
          f"({os.cpu_count()} CPUs, shared)")
    header = (f"{'backend':<17}{'n':>5}  {'rtt p50/p99 ms':>15}  {'server p50/p99':>15}  {'transport p50/p99':>18}"
              f"  {'enc p50':>7}  {'dec p50':>7}  {'req kB':>6}  {'resp kB':>7}")
    print(header)
    print("-" * len(header))
    for name, server_args, decode_frames, image_size, n, horizon in cases:
        proc, url = start_server(server_args)
        try:
            r = measure(url, n, decode_frames, image_size, horizon)
        finally:
            proc.terminate()
            proc.wait(10)

        print(f"{name:<17}{n:>5}  {_pp(r['rtt_ms']):>15}  {_pp(r['server_infer_ms']):>15}  {_pp(r['transport_ms']):>18}"
              f"  {np.median(r['encode_ms']):>7.2f}  {np.median(r['decode_ms']):>7.2f}"
              f"  {np.median(r['request_bytes']) / 1e3:>6.0f}  {np.median(r['response_bytes']) / 1e3:>7.1f}")
    tmp.cleanup()
    print("rtt = client send -> reply received; transport = rtt - server compute (infer_ms); "
          "enc/dec = client-side msgpack + validation, outside rtt.")


if __name__ == "__main__":
    main()
