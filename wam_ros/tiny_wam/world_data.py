"""Rollouts for the world head: chunks executed open loop in the simulator, with the frames they caused.

``python -m wam_ros.tiny_wam.world_data OUT.npz --episodes 200`` (headless, no ROS; ~3 s per
episode on one core, most of it rendering). Each episode is a seeded scene (seeds from
``--seed``, disjoint from the evaluation seeds 1000+); the arm starts at home and executes
``--chunks`` chunks of 24 joint targets, each open loop for its whole 2.4 s, the next
planned from where the previous one ended. Every 0.1 s both cameras are rendered at
sim_robot_node's size and resized to the model's (as the policy and ``bench_world_model``
do). A chunk comes, in turn, from

* the scripted expert (the demonstrations' motion),
* the expert with a smooth random offset ramped onto its joints (motions no demonstration
  shows, so the head learns the arm, not the expert's habits), and
* the tiny WAM policy itself (``--checkpoint``: the chunks the world head will be asked about).

Why a separate, headless collection: the world head learns what a chunk does to the image,
which needs the chunk and the frames its execution caused, many of them; the ROS-graph
collection (``wam-collect``) records a closed-loop stream at real-time speed and no chunk.

File layout (``np.savez``): ``frames`` uint8 [M, C, 25, H, W, 3] (tick i at i * 0.1 s after the
chunk's start), ``states`` [M, 25, J] (measured joints at each tick), ``actions`` [M, 24, J]
(action i at (i + 1) * 0.1 s), ``sources`` [M] (0 expert, 1 perturbed expert, 2 policy),
``seeds`` [M], ``cameras``, ``joint_names``, ``period``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SOURCES = ("expert", "perturbed", "policy")


@dataclass
class WorldRollouts:
    """Chunks and the frames their open-loop execution caused (see the module docstring)."""

    frames: np.ndarray  # uint8 [M, C, T+1, H, W, 3]
    states: np.ndarray  # [M, T+1, J]
    actions: np.ndarray  # [M, T, J]
    cameras: tuple[str, ...]
    joint_names: tuple[str, ...]
    period: float
    sources: np.ndarray | None = None  # [M]
    seeds: np.ndarray | None = None  # [M]

    def __post_init__(self) -> None:
        m, c, ticks = self.frames.shape[:3]
        if self.states.shape[:2] != (m, ticks) or self.actions.shape[:2] != (m, ticks - 1):
            raise ValueError(f"rollout shapes disagree: frames {self.frames.shape}, states {self.states.shape}, "
                             f"actions {self.actions.shape} (want [M, T+1, ...] frames/states, [M, T, J] actions)")
        if c != len(self.cameras) or self.states.shape[2] != len(self.joint_names):
            raise ValueError(f"{c} cameras / {self.states.shape[2]} joints in the arrays, names "
                             f"{list(self.cameras)} / {list(self.joint_names)}")

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def save(self, path: str | Path) -> Path:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        extra = {k: v for k, v in (("sources", self.sources), ("seeds", self.seeds)) if v is not None}
        np.savez(out, frames=self.frames, states=self.states, actions=self.actions, cameras=np.array(self.cameras),
                 joint_names=np.array(self.joint_names), period=np.array(self.period), **extra)
        return out

    @classmethod
    def load(cls, *paths: str | Path) -> WorldRollouts:
        """One file, or several concatenated (they must agree on cameras, joints, period and sizes)."""
        parts = []
        for p in paths:
            with np.load(p) as z:
                parts.append(cls(z["frames"], z["states"], z["actions"], tuple(str(c) for c in z["cameras"]),
                                 tuple(str(j) for j in z["joint_names"]), float(z["period"]),
                                 z["sources"] if "sources" in z else None, z["seeds"] if "seeds" in z else None))
        first = parts[0]
        for p in parts[1:]:
            if (p.cameras, p.joint_names, p.period) != (first.cameras, first.joint_names, first.period):
                raise ValueError("rollout files disagree on cameras, joint names or period")
        if len(parts) == 1:
            return first

        def cat(name: str) -> np.ndarray | None:
            vals = [getattr(p, name) for p in parts]
            return None if any(v is None for v in vals) else np.concatenate(vals)

        return cls(np.concatenate([p.frames for p in parts]), np.concatenate([p.states for p in parts]),
                   np.concatenate([p.actions for p in parts]), first.cameras, first.joint_names, first.period,
                   cat("sources"), cat("seeds"))


def perturb(chunk: np.ndarray, rng: np.random.Generator, n_arm: int, scale: float) -> np.ndarray:
    """The chunk with a random per-joint offset (up to ``scale`` rad) ramped in linearly over its length."""
    ramp = np.arange(1, len(chunk) + 1)[:, None] / len(chunk)
    out = chunk.copy()
    out[:, :n_arm] += ramp * rng.uniform(-scale, scale, n_arm)
    return out


def collect(episodes: int, first_seed: int, chunks: int, image_size: tuple[int, int], checkpoint: str | None,
            perturb_scale: float = 0.4, log_every: int = 10) -> WorldRollouts:
    """Run the episodes (sources in turn: expert, perturbed expert, then the policy if ``checkpoint``)."""
    from wam_ros.params import defaults
    from wam_ros.params.sim_robot_node import PARAMS as SIM_PARAMS
    from wam_ros.policies.base import Observation
    from wam_ros.robot.trajectory import Trajectory
    from wam_ros.sim.mujoco_arm import ArmRenderer
    from wam_ros.sim.scripted_expert import ScriptedExpert
    from wam_ros.sim.sim_env import SimEnv
    from wam_ros.tiny_wam.data import resize_frame

    sim = defaults(SIM_PARAMS)
    env = SimEnv()
    expert = ScriptedExpert(env.robot)
    policy = None
    if checkpoint:
        from wam_ros.policies.tiny_wam_policy import TinyWamPolicy

        policy = TinyWamPolicy(checkpoint, device="cpu", joint_names=env.robot.actuated_joints)
    cameras = tuple(policy.spec.cameras) if policy is not None else ("scene", "wrist")
    renderer = ArmRenderer(env.arm.model, sim["image_width"], sim["image_height"])
    names = env.robot.actuated_joints
    n_arm = len(env.robot.arm_joints)
    lim = env.robot.limits()
    lower, upper = np.asarray(lim["lower"], dtype=float), np.asarray(lim["upper"], dtype=float)
    horizon, period = expert.horizon, expert.period
    kinds = [0, 1] + ([2] if policy is not None else [])
    rng = np.random.default_rng(first_seed)
    frames, states, actions, sources, seeds = [], [], [], [], []

    def observe() -> tuple[dict[str, np.ndarray], np.ndarray]:
        imgs = renderer.render(env.arm.data.qpos.copy(), cameras)
        return {c: resize_frame(imgs[c], image_size) for c in cameras}, env.arm.actuated_positions()

    t0 = time.monotonic()
    try:
        for e in range(episodes):
            seed = first_seed + e
            kind = kinds[e % len(kinds)]
            env.reset(seed)
            if policy is not None:
                policy.reset()
            imgs, q = observe()
            for _ in range(chunks):
                if kind == 2:
                    chunk = policy.infer(Observation(renderer.render(env.arm.data.qpos.copy(), cameras), q,
                                                     env.episode.instruction, env.time), decode_frames=False).actions
                else:
                    chunk = expert.act(env.scene_state(), q)
                    if kind == 1:
                        chunk = perturb(chunk, rng, n_arm, perturb_scale)
                chunk = np.clip(chunk, lower, upper)  # the controller refuses targets beyond the limits
                env.command_trajectory(Trajectory(env.time, names, period * np.arange(1, horizon + 1), chunk))
                ep_frames, ep_states = [[imgs[c]] for c in cameras], [q]
                for _ in range(horizon):
                    env.step(period)
                    imgs, q = observe()
                    for c, cam in enumerate(cameras):
                        ep_frames[c].append(imgs[cam])
                    ep_states.append(q)
                frames.append(np.stack([np.stack(f) for f in ep_frames]))
                states.append(np.stack(ep_states))
                actions.append(np.asarray(chunk, dtype=np.float64))
                sources.append(kind)
                seeds.append(seed)
            if log_every and (e + 1) % log_every == 0:
                print(f"[world-data] {e + 1}/{episodes} episodes, {time.monotonic() - t0:.0f} s", flush=True)
    finally:
        renderer.close()
    return WorldRollouts(np.stack(frames), np.stack(states), np.stack(actions), cameras, tuple(names), period,
                         np.asarray(sources), np.asarray(seeds))


def main(argv: list[str] | None = None) -> None:
    import os

    os.environ.setdefault("MUJOCO_GL", "osmesa")
    os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
    from wam_ros.tiny_wam.defaults import IMAGE_SIZE

    ap = argparse.ArgumentParser(prog="wam-world-data", description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help=".npz to write")
    ap.add_argument("--episodes", type=int, default=200)
    ap.add_argument("--seed", type=int, default=20000, help="first scene seed (evaluation uses 1000+)")
    ap.add_argument("--chunks", type=int, default=3, help="chunks per episode, each executed for its 2.4 s")
    ap.add_argument("--checkpoint", default=None, help="tiny WAM whose own chunks are a third of the rollouts")
    ap.add_argument("--perturb", type=float, default=0.4, help="rad: largest offset ramped onto perturbed chunks")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--image-size", type=int, nargs=2, default=IMAGE_SIZE, metavar=("H", "W"))
    a = ap.parse_args(argv)
    import torch

    torch.set_num_threads(a.threads)
    data = collect(a.episodes, a.seed, a.chunks, tuple(a.image_size), a.checkpoint, a.perturb)
    print(f"[world-data] {len(data)} chunks -> {data.save(a.out)}")


if __name__ == "__main__":
    main()
