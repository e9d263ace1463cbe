"""Headless closed loop: simulated arm + policy + inference scheduler + chunk smoother.

The same core objects the nodes run (InferenceScheduler, ChunkSmoother, the simulated
arm's controller), stepped on simulation time without ROS, so latency experiments are
deterministic and fast: an inference that starts at t with observation stamp t
delivers its chunk at ``t + compute + extra_latency`` (compute = the policy's measured
wall time, or a fixed value). This is what ``bench/bench_latency.py`` sweeps.

Execution modes:

* ``latest``, ``temporal_ensemble``, ``rtc_blend``: asynchronous — the next inference
  starts when the unexecuted part of the chunk falls below ``trigger_threshold``
  while the arm keeps moving; chunks are aligned to their observation stamp.
* ``sync``: stop-and-go — infer, execute the whole chunk, stop, infer again (the
  chunk is executed from its arrival, since the arm stood still meanwhile).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from wam_ros.control.chunk_blending import STRATEGIES
from wam_ros.control.chunk_smoother import ChunkSmoother, SmootherConfig
from wam_ros.control.inference_scheduler import InferenceScheduler
from wam_ros.policies.base import Observation, Policy, PolicyError
from wam_ros.robot.trajectory import Trajectory
from wam_ros.sim.reach_task import goal_point
from wam_ros.sim.sim_env import SimEnv

MODES = (*STRATEGIES, "sync")  # the smoother's strategies, or stop-and-go


@dataclass
class LoopConfig:
    mode: str = SmootherConfig.strategy
    extra_latency: float = 0.0  # s added to every inference
    compute_latency: float | None = None  # s per inference; None = the measured wall time
    trigger_threshold: float = 0.6  # s of chunk left when the next inference starts (async modes)
    control_period: float = 0.01  # smoother tick / command period (100 Hz)
    max_time: float = 15.0  # s of episode time
    render: bool = True  # render camera frames for the policy (False for state-only policies)
    image_size: tuple[int, int] = (120, 160)  # (h, w), as sim_robot_node publishes them

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode '{self.mode}' must be one of {list(MODES)}")


@dataclass
class EpisodeOutcome:
    seed: int
    success: bool
    time_to_success: float  # s (inf when it failed)
    stall_time: float  # s the reference waited for chunks (total)
    max_stall: float  # s, longest single wait
    chunks: int
    max_jump: float  # rad, largest raw position jump at a chunk switch (before filtering)
    final_distance: float = math.nan  # m, end effector to the goal point when the episode ended
    nearest_is_named: bool = False  # the end effector ended nearest the named cube (the instruction was followed)


class ClosedLoop:
    def __init__(self, env: SimEnv, policy: Policy, config: LoopConfig) -> None:
        self.env, self.policy, self.cfg = env, policy, config
        strategy = "latest" if config.mode == "sync" else config.mode
        self.smoother = ChunkSmoother(
            env.robot,
            SmootherConfig(strategy=strategy, dt=config.control_period, max_chunk_age=10.0, chunk_timeout=30.0),
        )
        self.scheduler = InferenceScheduler(
            "sync" if config.mode == "sync" else "threshold", threshold=config.trigger_threshold, min_interval=0.0
        )
        self.renderer = None
        if config.render:
            from wam_ros.sim.mujoco_arm import ArmRenderer

            h, w = config.image_size
            self.renderer = ArmRenderer(env.arm.model, w, h)

    def close(self) -> None:
        if self.renderer is not None:
            self.renderer.close()

    def _observe(self) -> Observation:
        env = self.env
        images = self.renderer.render(env.arm.data.qpos.copy()) if self.renderer is not None else {}
        return Observation(images, env.arm.actuated_positions(), env.episode.instruction, env.time)

    def run_episode(self, seed: int) -> EpisodeOutcome:
        env, cfg, sm = self.env, self.cfg, self.smoother
        env.reset(seed)
        self.policy.reset()
        if self.scheduler.busy:  # an inference of the previous episode never delivered
            self.scheduler.finished(env.time)
        self.scheduler.reset()
        names = env.robot.actuated_joints
        sm.set_joint_state(names, env.arm.actuated_positions(), env.time)
        sm.reset(env.time)
        stall0 = sm.stall_time()
        pending: tuple[float, Trajectory | None] | None = None  # (arrival time, chunk)
        start, max_stall, chunks = env.time, 0.0, 0
        while env.time - start < cfg.max_time and not env.monitor.success:
            now = env.time
            if pending is None and self.scheduler.should_start(now):
                self.scheduler.started(now)
                obs = self._observe()
                t0 = time.perf_counter()
                try:
                    pred = self.policy.infer(obs, decode_frames=False)
                    chunk: Trajectory | None = Trajectory(
                        obs.timestamp, names, pred.action_period * np.arange(1, len(pred.actions) + 1), pred.actions
                    )
                except PolicyError:
                    chunk = None
                compute = time.perf_counter() - t0 if cfg.compute_latency is None else cfg.compute_latency
                pending = (now + compute + cfg.extra_latency, chunk)
            if pending is not None and now >= pending[0] - 1e-9:
                _, chunk = pending
                pending = None
                if chunk is None:
                    self.scheduler.finished(now)
                else:
                    if cfg.mode == "sync":  # the arm stood still: execute the chunk from now
                        chunk = Trajectory(now, chunk.joint_names, chunk.times, chunk.positions)
                    sm.add_chunk(chunk, now)
                    self.scheduler.finished(now, chunk.stamp, float(chunk.times[-1]))
                    chunks += 1
            sm.set_joint_state(names, env.arm.actuated_positions(), now)
            cmd = sm.step(now)
            if cmd is not None:
                env.command_positions(cmd.positions)
            max_stall = max(max_stall, float(sm.stats()["stall_time_current"]))
            env.step(cfg.control_period)
        ok = bool(env.monitor.success)
        jumps = sm.stats()["boundary_jump_position_max"]
        ee = env.arm.ee_position()
        dist = {n: float(np.linalg.norm(ee - goal_point(p))) for n, p in env.arm.object_positions().items()}
        return EpisodeOutcome(
            seed,
            ok,
            env.time - start if ok else math.inf,
            sm.stall_time() - stall0,
            max_stall,
            chunks,
            float(jumps) if jumps == jumps else 0.0,
            dist[env.episode.target],
            min(dist, key=dist.get) == env.episode.target,
        )
