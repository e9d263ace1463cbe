"""Closed-loop episodes of a chunking policy in SimEnv, headless and as fast as the CPU allows.

Used by the expert's success-rate test, the benchmark and data generation: every
``replan_period`` the policy sees the measured joints and the scene state and its
chunk replaces the running trajectory, exactly as over ROS (stamp = observation time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from wam_ros.robot.trajectory import Trajectory
from wam_ros.sim.reach_task import goal_point
from wam_ros.sim.sim_env import SimEnv

#: (scene_state, actuated joint positions) -> (H, J) chunk at ``period`` spacing
ChunkFn = Callable[[dict[str, Any], np.ndarray], np.ndarray]


@dataclass
class EpisodeResult:
    seed: int
    success: bool
    time_to_success: float  # seconds of episode time (inf when it failed)
    final_distance: float  # end effector to goal point at the end (m)


def run_episode(
    env: SimEnv,
    policy: ChunkFn,
    seed: int,
    period: float,
    replan_period: float = 0.4,
    max_time: float = 12.0,
) -> EpisodeResult:
    """Reset to ``seed`` and run ``policy`` until success or ``max_time`` (sim seconds)."""
    env.reset(seed)
    start = env.time
    while env.time - start < max_time and not env.monitor.success:
        now = env.time
        chunk = policy(env.scene_state(), env.arm.actuated_positions())
        times = period * np.arange(1, len(chunk) + 1)
        env.command_trajectory(Trajectory(now, env.robot.actuated_joints, times, chunk))
        env.step(replan_period)
    dist = float(np.linalg.norm(env.arm.ee_position() - goal_point(env.target_position(), env.task)))
    return EpisodeResult(
        seed, bool(env.monitor.success), env.time - start if env.monitor.success else float("inf"), dist
    )
