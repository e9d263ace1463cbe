"""Round-trip latency of RemotePolicy <-> wam-serve over loopback.

Observation: two 224x224 RGB images + 7 joint positions + a prompt (~301 kB per request).
wam-serve runs in its own process. For each backend the table separates the server's
compute time (``server_timing.infer_ms``) from the transport overhead (round trip minus
compute: websocket framing, msgpack-numpy encode/decode on the server, loopback TCP),
and shows the client's own encode / decode time, which is outside the round trip.

Backends: ``const`` (returns a fixed chunk: pure protocol cost), ``sleep20`` (20 ms of
simulated compute: shows compute and transport are separated), ``tiny_wam`` (the real
model, random-init checkpoint at the default size, CPU, with and without frame decoding).

Server profiles (issue 18): one row per shipped profile, ``ProfilePolicy`` against that family's
stand-in server (test/wam_server_standins.py, in its own process, a fixed chunk behind it) with two
480x640 RGB cameras (a RealSense colour stream) and 7 joints: one infer call through the profile's
codec (image preparation, request layout, every message of its stateful sequence, the reply's
conversion to joint positions), with the bytes and messages it exchanged.

Run: .venv/bin/python bench/bench_remote.py [--n 200] [--no-tiny-wam] [--profiles NAME ...] [--no-profiles]
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
sys.path.insert(0, str(REPO / "test"))  # the families' stand-in servers

from wam_ros.policies.base import Observation, PolicySpec, Prediction  # noqa: E402
from wam_ros.remote.client import RemotePolicy  # noqa: E402

PROFILES = ("openpi_libero", "openpi_droid", "openpi_aloha", "roboarena", "dreamzero", "lingbot_va", "cosmos_policy")
CAMERA_HW = (480, 640)  # the profile rows' camera frames (a RealSense colour stream)
Q_BENCH = np.array([0.1, -0.4, 0.9, 0.0, 0.6, 0.2, 0.04])

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


# ------------------------------------------------------------------ server profiles
def serve_standin(family: str) -> None:
    """Child process: the family's stand-in server, a fixed smooth chunk of the family's length behind it."""
    from wam_server_standins import FAMILY_CHUNK, CosmosStandIn, WsStandIn

    rows = FAMILY_CHUNK[family][0]
    offset = np.array([0.25, 0.15, -0.2, 0.1, -0.15, 0.2, -0.02])

    def brain(q: np.ndarray | None) -> np.ndarray:
        start = Q_BENCH.copy()
        if q is not None:
            start[:6] = q[:6]
        return start + np.linspace(1 / rows, 1.0, rows)[:, None] * offset

    server = CosmosStandIn(brain) if family == "cosmos_policy" else WsStandIn(family, brain)
    if hasattr(server, "q_true"):
        server.q_true = Q_BENCH.copy()
    print(f"URL {server.url}", flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    server.close()


def measure_profile(profile: str, n: int) -> dict[str, np.ndarray]:
    """n infer calls of ``profile`` against its stand-in (own process); per-call timings, bytes, messages."""
    from wam_ros.remote.profile_policy import ProfilePolicy

    proc = subprocess.Popen([sys.executable, __file__, "--serve-standin", profile], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if not line.startswith("URL "):
            raise RuntimeError(f"stand-in for {profile} did not start (exit {proc.poll()})")
        policy = ProfilePolicy(profile, url=line.split()[1], response_timeout=30.0)
        rng = np.random.default_rng(0)
        obs = Observation({c: rng.integers(0, 255, (*CAMERA_HW, 3), dtype=np.uint8) for c in CAMERAS},
                          Q_BENCH.copy(), "reach the red cube", 0.0)
        for _ in range(5):  # warm-up (connect, first call of the stateful sequences, allocations)
            policy.infer(obs)
        keys = ("rtt_ms", "call_ms", "request_bytes", "response_bytes", "messages")
        rows: dict[str, list[float]] = {k: [] for k in (*keys, "infer_ms")}
        for _ in range(n):
            t0 = time.perf_counter()
            extras = policy.infer(obs).extras
            rows["infer_ms"].append((time.perf_counter() - t0) * 1000.0)
            for k in keys:
                rows[k].append(extras[k])
        policy.close()
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {k: np.asarray(v, dtype=float) for k, v in rows.items()}


def _pp(values: np.ndarray) -> str:
    p50, p99 = np.percentile(values, [50, 99])
    return f"{p50:.2f}/{p99:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200, help="requests per backend (tiny_wam: n/4)")
    ap.add_argument("--no-tiny-wam", action="store_true", help="skip the tiny_wam rows")
    ap.add_argument("--profiles", nargs="*", default=list(PROFILES), choices=PROFILES, help="server profile rows")
    ap.add_argument("--no-profiles", action="store_true", help="skip the server profile rows")
    ap.add_argument("--no-wam-serve", action="store_true", help="skip the wam-serve rows")
    ap.add_argument("--serve-standin", choices=PROFILES, help=argparse.SUPPRESS)  # child process mode
    args = ap.parse_args()
    if args.serve_standin:
        serve_standin(args.serve_standin)
        return
    if not args.no_wam_serve:
        bench_wam_serve(args)
    if not args.no_profiles:
        bench_profiles(args.profiles, args.n)


def bench_profiles(profiles: list[str], n: int) -> None:
    """One row per server profile: the whole infer call, its time on the wire, and what it exchanged."""
    print(f"\nServer profiles: ProfilePolicy <-> the family's stand-in over loopback, 2 cameras "
          f"{CAMERA_HW[0]}x{CAMERA_HW[1]} + 7 joints per observation ({os.cpu_count()} CPUs, shared)")
    header = (f"{'profile':<15}{'n':>5}{'msgs':>6}  {'infer p50/p99 ms':>17}  {'wire p50/p99':>15}"
              f"  {'codec p50':>9}  {'convert p50':>11}  {'req kB':>7}  {'resp kB':>7}")
    print(header)
    print("-" * len(header))
    for profile in profiles:
        r = measure_profile(profile, n)
        codec = r["call_ms"] - r["rtt_ms"]
        convert = r["infer_ms"] - r["call_ms"]
        print(f"{profile:<15}{n:>5}{np.median(r['messages']):>6.0f}  {_pp(r['infer_ms']):>17}  {_pp(r['rtt_ms']):>15}"
              f"  {np.median(codec):>9.2f}  {np.median(convert):>11.2f}"
              f"  {np.median(r['request_bytes']) / 1e3:>7.0f}  {np.median(r['response_bytes']) / 1e3:>7.1f}",
              flush=True)
    print("infer = the whole call; wire = send -> reply summed over the call's messages (includes the stand-in's "
          "own work); codec = client image preparation + encoding + decoding; convert = reply -> joint chunk "
          "(IK for end-effector spaces); bytes per call, all messages.")


def bench_wam_serve(args: argparse.Namespace) -> None:
    """RemotePolicy against wam-serve: const, sleep20 and tiny_wam backends."""
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
