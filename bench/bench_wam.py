"""Benchmark: tiny_wam CPU inference latency per chunk, and wam_node's own overhead per chunk.

Run: .venv/bin/python bench/bench_wam.py [--threads 1] [--iters 30] [--steps 5 8 10]

1. TinyWamPolicy at the default model size (random init: latency does not depend on
   the weights), with and without frame decoding, at several num_steps.
2. The node's own work per chunk, with the functions wam_node runs: observation
   assembly (Image msg -> array for every camera frame of one inference period,
   synchronizer add/latest, joint-state mapping) and message conversion (chunk ->
   JointTrajectory, filmstrip -> Image (the chunk's path drawn into both cameras; re-rendered
   with the real frame and the difference when a predicted time's real frame arrives),
   forward kinematics -> MarkerArray).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable

import numpy as np
import torch

from wam_ros.camera.multi_camera_sync import CameraSynchronizer
from wam_ros.camera.pinhole import load_calibrations
from wam_ros.monitoring.prediction_matching import FramePair
from wam_ros.nodes.wam_node import path_markers
from wam_ros.params import by_name
from wam_ros.params import wam_node as wam_node_params
from wam_ros.policies import make_policy
from wam_ros.policies.base import Observation
from wam_ros.resources import resolve
from wam_ros.robot.model import RobotModel
from wam_ros.robot.trajectory import Trajectory
from wam_ros.ros.image_conversion import image_from_msg, image_to_msg
from wam_ros.ros.trajectory_conversion import trajectory_to_msg
from wam_ros.tiny_wam import CheckpointMeta, Normalization, TinyWam, TinyWamConfig, save_checkpoint
from wam_ros.visualization.path_overlay import ChunkPath
from wam_ros.visualization.prediction_display import PredictionDisplay


def pct(xs: list[float]) -> tuple[float, float]:
    a = np.array(xs) * 1e3
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def timed(fn: Callable[[], object], iters: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--steps", type=int, nargs="+", default=[5, 8, 10])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    robot = RobotModel.load()
    joints = robot.actuated_joints
    cfg = TinyWamConfig()
    n_params = sum(p.numel() for p in TinyWam(cfg).parameters())
    rng = np.random.default_rng(0)
    cams = ("scene", "wrist")
    cam_frames = {c: rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for c in cams}
    obs = Observation(cam_frames, np.zeros(7), "reach the red cube", 1.0)

    print(f"tiny_wam default config: {n_params / 1e6:.2f} M params, {cfg.image_size[0]}x{cfg.image_size[1]} frames, "
          f"{cfg.num_cameras} cameras, H={cfg.action_horizon}, K={cfg.future_frames}, d={cfg.d_model}, "
          f"L={cfg.num_layers}; torch threads={args.threads}, camera frames 640x480 (resized by the policy)")
    print(f"{'num_steps':>9} {'decode_frames':>13} {'p50 ms':>8} {'p99 ms':>8} {'model p50':>9} {'decode p50':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        meta = CheckpointMeta(joints, cams, 0.1, cfg, Normalization.identity(7))
        save_checkpoint(tmp, TinyWam(cfg), meta)
        policy = make_policy("tiny_wam", checkpoint=tmp, device="cpu", joint_names=joints, cameras=cams)
        pred = None
        for steps in args.steps:
            policy.num_steps = steps
            for decode in (False, True):
                extras: list[dict] = []

                def run(decode: bool = decode, extras: list = extras) -> None:
                    nonlocal pred
                    pred = policy.infer(obs, decode_frames=decode)
                    extras.append(pred.extras["latency"])

                lat = timed(run, args.iters)
                p50, p99 = pct(lat)
                m50 = np.median([e["model"] for e in extras]) * 1e3
                d50 = np.median([e["decode"] for e in extras]) * 1e3
                print(f"{steps:>9} {decode!s:>13} {p50:>8.1f} {p99:>8.1f} {m50:>9.1f} {d50:>10.1f}")
        full = policy.infer(obs, decode_frames=True)

    # ---------------------------------------------------------------- node overhead
    msgs = {c: image_to_msg(f, 1.0, c) for c, f in cam_frames.items()}
    js_names = [*joints, "gripper_finger_joint_mirror"]
    js_pos = np.zeros(8)
    sync = CameraSynchronizer(list(cams), 0.05, 1.0)
    t_obs = [0.0]

    def assemble() -> None:
        # ~ one inference period of camera traffic (15 frames/camera at 30 Hz, 0.5 s) + one latest()
        for _ in range(15):
            t_obs[0] += 1 / 30
            for c, m in msgs.items():
                sync.add(c, t_obs[0], image_from_msg(m))
        index = {n: i for i, n in enumerate(js_names)}
        q = np.array([js_pos[index[n]] for n in joints])
        s = sync.latest(t_obs[0], allow_repeat=True)
        Observation(s.frames, q, "reach the red cube", s.stamp)

    arm_idx = [joints.index(n) for n in robot.arm_joints]
    times = (np.arange(cfg.action_horizon) + 1) * 0.1

    def chunk_msg() -> None:
        trajectory_to_msg(Trajectory(1.0, joints, times, full.actions).validate())

    calibrations = load_calibrations(by_name(wam_node_params.PARAMS)["camera_calibrations"].default, resolve)
    display = PredictionDisplay(calibrations, (128, 128))

    def chunk_path() -> ChunkPath:
        q_path = np.vstack([obs.joint_positions[arm_idx], full.actions[:, arm_idx]])
        return ChunkPath.from_joints(robot.kinematics.fk, q_path, np.concatenate([[0.0], times]))

    def filmstrip_msg() -> None:
        image_to_msg(display.show(1.0, cam_frames, chunk_path(), full.frames, full.frame_offsets), 1.0, "f")

    pairs = [FramePair(c, 1.0, float(o), full.frames[c][k], cam_frames[c], 1.0 + o)
             for c in cams for k, o in enumerate(full.frame_offsets)]

    def compared_msg() -> None:
        image_to_msg(display.add_pairs(pairs[:1])[1], 1.0, "f")

    def path_msg() -> None:
        p = chunk_path()
        path_markers(p.positions, p.times, robot.base_link, 1.0)

    print("\nwam_node overhead per chunk (ROS message work, no DDS transport)")
    print(f"{'step':<44} {'p50 ms':>8} {'p99 ms':>8}")
    rows = [("observation assembly (30 frames 640x480 + sync)", assemble), ("chunk -> JointTrajectory", chunk_msg),
            ("FK path + filmstrip -> Image (2 cams x 3 tiles)", filmstrip_msg), ("FK path -> MarkerArray", path_msg)]
    total50 = 0.0
    for name, fn in rows:
        p50, p99 = pct(timed(fn, args.iters))
        total50 += p50
        print(f"{name:<44} {p50:>8.2f} {p99:>8.2f}")
    print(f"{'total (sum of p50)':<44} {total50:>8.2f}")
    # once per matched real frame (cameras x offsets per chunk), while someone watches /wam/predicted_frames
    display.show(1.0, cam_frames, chunk_path(), full.frames, full.frame_offsets)
    display.add_pairs(pairs)
    p50, p99 = pct(timed(compared_msg, args.iters))
    print(f"{'per real frame: comparison -> Image (2x7 tiles)':<44} {p50:>8.2f} {p99:>8.2f}"
          f"   (x{len(pairs)} per chunk)")


if __name__ == "__main__":
    main()
