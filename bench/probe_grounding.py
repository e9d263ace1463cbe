"""Does the tiny WAM read the instruction? A grounding probe on unseen, seeded scenes.

For each scene (the arm at home, as at the start of an episode, where only the instruction
says which cube to reach) the model's goal token is asked where each of the three
instructions ends (``TinyWam.predict_goal``), and so is the target pointer's own estimate
(``predict_pointer_goal``, what feeds the goal token); forward kinematics turns each joint
state into an end-effector point. Reported: how often the point is nearest the named cube
(chance: 1/3), how often all three instructions give the same cube (the instruction is
ignored), and the median distance to the named cube's goal point.

Run: MUJOCO_GL=osmesa .venv/bin/python bench/probe_grounding.py --checkpoint checkpoints/tiny_wam
Not part of `make bench` (it needs a trained checkpoint).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from wam_ros.policies.tiny_wam_policy import TinyWamPolicy
from wam_ros.resources import DEFAULT_CHECKPOINT
from wam_ros.sim.mujoco_arm import CUBE_NAMES, ArmRenderer
from wam_ros.sim.reach_task import goal_point
from wam_ros.sim.sim_env import SimEnv
from wam_ros.tiny_wam.data import frames_to_tensor, resize_frame
from wam_ros.tiny_wam.model import tokenize


def _nearest_cube(env: SimEnv, goal: np.ndarray, named: str) -> tuple[str, float]:
    """(the cube whose goal point the joint state ``goal`` ends nearest, distance to ``named``'s goal point)."""
    ee = env.robot.fk(goal[:6])[:3, 3]
    dist = {n: float(np.linalg.norm(ee - goal_point(p))) for n, p in env.episode.objects.items()}
    return min(dist, key=dist.get), dist[named]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT)
    ap.add_argument("--scenes", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1000, help="first scene seed (held out from training seeds)")
    a = ap.parse_args(argv)
    env = SimEnv()
    policy = TinyWamPolicy(a.checkpoint, device="cpu", joint_names=env.robot.actuated_joints, num_threads=1)
    model, cams = policy.model, policy.spec.cameras
    renderer = ArmRenderer(env.arm.model, 160, 120)
    colors = [name.removesuffix("_cube") for name in CUBE_NAMES]
    ids = tokenize([f"reach the {c} cube" for c in colors], model.cfg.vocab_size, model.cfg.max_text_tokens)
    right = ignored = 0
    errors = []
    pointer_right, pointer_errors = 0, []
    for s in range(a.seed, a.seed + a.scenes):
        env.reset(s)
        frames = renderer.render(env.arm.data.qpos.copy(), cams)
        one = np.stack([np.stack([resize_frame(frames[c], model.cfg.image_size)]) for c in cams])
        images = frames_to_tensor(np.repeat(one[None], len(colors), 0))
        state = torch.as_tensor(env.arm.actuated_positions(), dtype=torch.float32).expand(len(colors), -1)
        goals = model.predict_goal(images, state, ids).numpy()
        pointer_goals = model.predict_pointer_goal(images, ids)
        for name, goal in zip(CUBE_NAMES, [] if pointer_goals is None else pointer_goals.numpy(), strict=False):
            nearest, error = _nearest_cube(env, goal, name)
            pointer_right += nearest == name
            pointer_errors.append(error)
        chosen = []
        for name, goal in zip(CUBE_NAMES, goals, strict=True):
            nearest, error = _nearest_cube(env, goal, name)
            chosen.append(nearest)
            right += nearest == name
            errors.append(error)
        ignored += len(set(chosen)) == 1
        print(f"seed {s}: " + "  ".join(f"{c}->{n.removesuffix('_cube')}" for c, n in zip(colors, chosen, strict=True)))
    renderer.close()
    n = a.scenes * len(colors)
    print(f"goal nearest the named cube: {right}/{n} ({right / n:.0%}, chance 33%); "
          f"all instructions -> one cube in {ignored}/{a.scenes} scenes; "
          f"median distance to the named goal {np.median(errors) * 100:.1f} cm")
    if pointer_errors:
        e = np.array(pointer_errors)
        print(f"pointer's goal nearest the named cube: {pointer_right}/{n} ({pointer_right / n:.0%}); "
              f"median distance {np.median(e) * 100:.1f} cm; within 3 cm {np.mean(e < 0.03):.0%}")
    sys.exit(0)


if __name__ == "__main__":
    main()
