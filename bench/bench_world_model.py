"""The tiny WAM's world model against doing nothing: predicted future frames vs the frames that came.

Run: .venv/bin/python bench/bench_world_model.py [--checkpoint DIR] [--seeds 6] [--examples DIR]

Method (headless, no ROS): held-out scenes (seeds from 1000, never in the training data), the
arm at home. The policy sees both cameras (rendered at sim_robot_node's size, resized by the
policy to the model's 64x64) and predicts its action chunk and the frames at +0.8 s and +1.6 s.
The chunk is executed open loop in the simulator (SimEnv's trajectory controller, as a JTC
would) for 1.6 s, and the real frames are rendered at +0.8 s and +1.6 s; then the next chunk is
predicted from there (``--chunks`` per scene). Each predicted frame is compared, at the model's
resolution, with the real frame of its time, against two references:

* copy: the current (observed) frame repeated, i.e. predicting that nothing moves;
* AE ceiling: the real future frame encoded and decoded by the model's own autoencoder, the best
  any prediction in its latent space can look (the transformer's frame tokens). A checkpoint with a
  world head (``world_head.py``) predicts in pixels instead, so for it this row is only the old
  path's limit, for comparison; its predictions are not bounded by it.

Over the whole frame and over the pixels that changed (any channel of |real future - current|
above ``--threshold`` of the range): PSNR (dB) and SSIM, means over comparisons; "beats copy" is
the share of comparisons whose prediction is closer to reality than the copy (changed pixels'
PSNR). The table is in docs/wam.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from wam_ros.params import defaults  # noqa: E402
from wam_ros.params.sim_robot_node import PARAMS as SIM_PARAMS  # noqa: E402
from wam_ros.policies.base import Observation  # noqa: E402
from wam_ros.policies.tiny_wam_policy import TinyWamPolicy  # noqa: E402
from wam_ros.resources import DEFAULT_CHECKPOINT  # noqa: E402
from wam_ros.robot.trajectory import Trajectory  # noqa: E402
from wam_ros.sim.mujoco_arm import ArmRenderer  # noqa: E402
from wam_ros.sim.sim_env import SimEnv  # noqa: E402
from wam_ros.tiny_wam.data import frames_to_tensor, resize_frame, tensor_to_frames  # noqa: E402
from wam_ros.tiny_wam.image_metrics import changed_pixels, psnr, ssim  # noqa: E402

KINDS = ("predicted", "copy", "AE ceiling")


@dataclass
class Comparison:
    """One (scene, chunk, camera, offset): the metric of each kind, whole frame and changed pixels."""

    camera: str
    offset: float
    changed_share: float  # of the frame's pixels
    whole: dict[str, tuple[float, float]] = field(default_factory=dict)  # kind -> (psnr, ssim)
    changed: dict[str, tuple[float, float]] = field(default_factory=dict)  # empty when nothing changed


def autoencode(policy: TinyWamPolicy, frame: np.ndarray) -> np.ndarray:
    """The frame (model size, uint8) through the model's autoencoder: the ceiling of any predicted frame."""
    with torch.inference_mode():
        x = frames_to_tensor(frame[None]).to(policy.torch_device)
        ae = policy.model.autoencoder
        return tensor_to_frames(ae.decode(ae.encode(x)))[0]


def compare(current: np.ndarray, real: np.ndarray, guesses: dict[str, np.ndarray], threshold: float,
            camera: str, offset: float, judged: np.ndarray | None = None) -> Comparison:
    """Each guess against the real frame; ``judged`` (HxW bool): the pixels to judge ("whole" then means all of
    these; the graph bench leaves out a filmstrip tile's label), None: all."""
    mask = changed_pixels(current, real, threshold)
    if judged is not None:
        mask &= judged
    c = Comparison(camera, offset, float(mask.sum() / (mask.size if judged is None else judged.sum())))
    for kind, img in guesses.items():
        c.whole[kind] = (psnr(img, real, judged), ssim(img, real, judged))
        if mask.any():
            c.changed[kind] = (psnr(img, real, mask), ssim(img, real, mask))
    return c


def run_scene(env: SimEnv, renderer: ArmRenderer, policy: TinyWamPolicy, seed: int, chunks: int,
              threshold: float, examples: Path | None) -> list[Comparison]:
    env.reset(seed)
    policy.reset()
    size = policy.spec.image_size
    names = env.robot.actuated_joints
    out = []
    for k in range(chunks):
        obs = Observation(renderer.render(env.arm.data.qpos.copy()), env.arm.actuated_positions(),
                          env.episode.instruction, env.time)
        pred = policy.infer(obs, decode_frames=True)
        assert pred.frames is not None and pred.frame_offsets is not None
        env.command_trajectory(Trajectory(env.time, names, pred.action_period * np.arange(1, len(pred.actions) + 1),
                                          pred.actions))
        current = {cam: resize_frame(img, size) for cam, img in obs.images.items()}
        elapsed = 0.0
        for i, offset in enumerate(pred.frame_offsets):
            env.step(float(offset) - elapsed)
            elapsed = float(offset)
            real = renderer.render(env.arm.data.qpos.copy())
            for cam in policy.spec.cameras:
                truth = resize_frame(real[cam], size)
                guesses = {"predicted": pred.frames[cam][i], "copy": current[cam],
                           "AE ceiling": autoencode(policy, truth)}
                out.append(compare(current[cam], truth, guesses, threshold, cam, float(offset)))
                if examples is not None:
                    save_example(examples / f"seed{seed}_chunk{k}_{cam}_{offset:.1f}s.png",
                                 [current[cam], guesses["predicted"], truth, guesses["AE ceiling"]])
    return out


def save_example(path: Path, frames: list[np.ndarray]) -> None:
    """current | predicted | real | AE-reconstructed real, 4x enlarged."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    strip = np.concatenate([np.pad(f, ((0, 0), (0, 2), (0, 0)), constant_values=255) for f in frames], 1)
    strip = cv2.resize(strip, None, fx=4, fy=4, interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(path), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))


def mean_metric(rows: list[Comparison], region: str, kind: str, i: int) -> float:
    vals = [getattr(r, region)[kind][i] for r in rows if kind in getattr(r, region)]
    return float(np.mean(vals)) if vals else float("nan")


def table(comparisons: list[Comparison]) -> str:
    groups: list[tuple[str, list[Comparison]]] = []
    for cam in sorted({c.camera for c in comparisons}):
        for off in sorted({c.offset for c in comparisons}):
            groups.append((f"{cam} +{off:.1f} s", [c for c in comparisons if c.camera == cam and c.offset == off]))
    groups.append(("all", comparisons))
    lines = [
        "| camera, offset | n | changed px | kind | PSNR whole dB | SSIM whole | PSNR changed dB | SSIM changed "
        "| beats copy (changed) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, rows in groups:
        with_change = [r for r in rows if r.changed]
        share = float(np.mean([r.changed_share for r in rows])) * 100
        for kind in KINDS:
            wins = "" if kind == "copy" else (
                f"{np.mean([r.changed[kind][0] > r.changed['copy'][0] for r in with_change]) * 100:.0f} %"
                if with_change else "—")
            lines.append(
                f"| {label if kind == KINDS[0] else ''} | {len(rows) if kind == KINDS[0] else ''} "
                f"| {f'{share:.1f} %' if kind == KINDS[0] else ''} | {kind} "
                f"| {mean_metric(rows, 'whole', kind, 0):.1f} | {mean_metric(rows, 'whole', kind, 1):.3f} "
                f"| {mean_metric(rows, 'changed', kind, 0):.1f} | {mean_metric(rows, 'changed', kind, 1):.3f} "
                f"| {wins} |"
            )
    return "\n".join(lines)


def gaps(comparisons: list[Comparison]) -> str:
    """Predicted minus copy, dB, per offset (the issue's targets: >= +2 whole, >= +3 changed)."""
    out = []
    for off in sorted({c.offset for c in comparisons}):
        rows = [c for c in comparisons if c.offset == off]
        whole = mean_metric(rows, "whole", "predicted", 0) - mean_metric(rows, "whole", "copy", 0)
        changed = mean_metric(rows, "changed", "predicted", 0) - mean_metric(rows, "changed", "copy", 0)
        out.append(f"+{off:.1f} s: predicted - copy = {whole:+.1f} dB whole, {changed:+.1f} dB changed")
    return "; ".join(out)


def latency(env: SimEnv, renderer: ArmRenderer, policy: TinyWamPolicy, seed: int, iters: int) -> str:
    """p50 / p90 ms of ``infer`` on one scene's observation, with frames and action-only (the policy's own timing:
    preprocessing, sampling, frames)."""
    env.reset(seed)
    policy.reset()
    obs = Observation(renderer.render(env.arm.data.qpos.copy()), env.arm.actuated_positions(),
                      env.episode.instruction, env.time)
    out = []
    for frames in (True, False):
        for _ in range(2):  # warm-up
            policy.infer(obs, decode_frames=frames)
        t = [policy.infer(obs, decode_frames=frames).extras["latency"]["total"] * 1e3 for _ in range(iters)]
        out.append(f"{'with frames' if frames else 'action-only'} p50 {np.percentile(t, 50):.1f} ms, "
                   f"p90 {np.percentile(t, 90):.1f} ms")
    return f"latency over {iters} inferences, {torch.get_num_threads()} torch thread(s): " + "; ".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT)
    ap.add_argument("--seeds", type=int, default=6, help="held-out scenes")
    ap.add_argument("--first-seed", type=int, default=1000)
    ap.add_argument("--chunks", type=int, default=2, help="chunks per scene, each executed open loop for 1.6 s")
    ap.add_argument("--threshold", type=float, default=0.1, help="changed pixel: |real - current| > this share")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--examples", type=Path, default=None,
                    help="write current|predicted|real|AE strips (PNG) of every comparison here")
    ap.add_argument("--latency-iters", type=int, default=0,
                    help="also time this many inferences with and without frames (use --threads 2 for the target)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    sim = defaults(SIM_PARAMS)
    env = SimEnv()
    policy = TinyWamPolicy(a.checkpoint, device="cpu", joint_names=env.robot.actuated_joints)
    renderer = ArmRenderer(env.arm.model, sim["image_width"], sim["image_height"])
    t0 = time.monotonic()
    comparisons: list[Comparison] = []
    timing = ""
    try:
        for seed in range(a.first_seed, a.first_seed + a.seeds):
            comparisons += run_scene(env, renderer, policy, seed, a.chunks, a.threshold, a.examples)
        if a.latency_iters:
            timing = latency(env, renderer, policy, a.first_seed, a.latency_iters)
    finally:
        renderer.close()
    h, w = policy.spec.image_size
    print(f"checkpoint {a.checkpoint}; seeds {a.first_seed}-{a.first_seed + a.seeds - 1}, {a.chunks} chunk(s) each, "
          f"{len(comparisons)} comparisons at {h}x{w} (frames rendered {sim['image_width']}x{sim['image_height']}); "
          f"changed pixel: |real - current| > {a.threshold:g} of the range; {time.monotonic() - t0:.0f} s\n")
    print(table(comparisons))
    print("\n" + gaps(comparisons))
    if timing:
        print(timing)


if __name__ == "__main__":
    main()
