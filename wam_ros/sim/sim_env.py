"""The simulated arm + controller + task as one stepping object (no ROS, no rendering).

``sim_robot_node`` wraps this for ROS; tests and the data generator drive it directly,
as fast as the CPU allows. Simulation time (``time``) runs on across episodes, so
stamps stay monotonic for the whole run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wam_ros.robot.model import RobotModel
from wam_ros.robot.trajectory import Trajectory
from wam_ros.sim.mujoco_arm import MujocoArm
from wam_ros.sim.reach_task import Episode, SuccessMonitor, TaskConfig, sample_episode
from wam_ros.sim.trajectory_controller import TrajectoryController

#: Seconds between servo target updates (ros2_control's update period; sim_robot_node's control_period).
CONTROL_PERIOD = 0.002


class SimEnv:
    def __init__(
        self,
        robot: RobotModel | None = None,
        seed: int = 0,
        task: TaskConfig | None = None,
        control_period: float = CONTROL_PERIOD,
    ) -> None:
        self.robot = robot or RobotModel.load()
        self.arm = MujocoArm(self.robot)
        self.task = task or TaskConfig()
        lim = self.robot.limits()
        self.controller = TrajectoryController(
            self.robot.actuated_joints, self.arm.home, 0.0, lower=lim["lower"], upper=lim["upper"]
        )
        self.monitor = SuccessMonitor(self.task)
        self.velocity_limit = np.asarray(lim["velocity"], dtype=float)
        self._servo_target = self.arm.home.copy()  # last servo position target (velocity-limited)
        self.velocity_limited_steps = 0  # control steps in which the reference asked for more than the limit
        # servo targets are refreshed every control period (ros2_control's update rate)
        self.substeps = max(1, round(control_period / self.arm.timestep))
        self.episode_index = -1  # the first reset starts episode 0
        self.episode_start = 0.0
        self.episode: Episode = self.reset(seed)

    @property
    def time(self) -> float:
        return self.arm.time

    @property
    def dt(self) -> float:
        """Simulated seconds per control step."""
        return self.substeps * self.arm.timestep

    def reset(self, seed: int) -> Episode:
        """Start the next episode, laid out by ``seed``: arm at home, cubes placed, controller holding."""
        self.episode_index += 1
        self.episode = sample_episode(seed, self.task)
        self.arm.set_joint_positions(self.arm.home)
        self.arm.set_objects(self.episode.objects)
        self.controller.hold(self.arm.home, self.time)
        self._servo_target = self.arm.home.copy()
        self.monitor.reset()
        self.episode_start = self.time
        return self.episode

    # ------------------------------------------------------------------ commands
    def command_trajectory(self, traj: Trajectory) -> int:
        """JTC input (times in simulation seconds); raises TrajectoryError when rejected."""
        return self.controller.set_trajectory(traj, self.time)

    def command_positions(self, q: np.ndarray) -> None:
        """forward_position_controller input; raises TrajectoryError when rejected."""
        self.controller.hold(q, self.time)

    # ------------------------------------------------------------------ stepping
    def step(self, duration: float | None = None) -> None:
        """Advance by ``duration`` (default: one control period), updating servos and task."""
        n = 1 if duration is None else max(1, round(duration / self.dt))
        for _ in range(n):
            q, v, _ = self.controller.sample(self.time)
            self.arm.set_target(*self._limit_velocity(q, v))
            self.arm.step(self.substeps)
        self.monitor.update(self.time, self.arm.ee_position(), self.target_position())

    def _limit_velocity(self, q: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The servo target moves at most the URDF velocity limit per control period.

        What ros2_control's joint limiter does to a position command: references that
        arrive in bursts (a late trajectory replacing the running one, a forward position
        jump) make the controller's spline ask for more than the joint can do; the drive
        follows at its limit instead, and the feed-forward velocity stays within it.
        """
        dt, vmax, prev = self.dt, self.velocity_limit, self._servo_target
        target = np.clip(q, prev - vmax * dt, prev + vmax * dt)
        limited = target != q
        if limited.any():
            self.velocity_limited_steps += 1
            v = np.where(limited, (target - prev) / dt, v)
        self._servo_target = target
        return target, np.clip(v, -vmax, vmax)

    def target_position(self) -> np.ndarray:
        return self.arm.object_positions()[self.episode.target]

    def scene_state(self, stamp: float | None = None) -> dict[str, Any]:
        """The /sim/scene_state contract (JSON-ready)."""
        return {
            "stamp": float(self.time if stamp is None else stamp),
            "episode": self.episode_index,
            "seed": self.episode.seed,
            "instruction": self.episode.instruction,
            "target": self.episode.target,
            "objects": {n: [float(x) for x in p] for n, p in self.arm.object_positions().items()},
            "ee_position": [float(x) for x in self.arm.ee_position()],
            "success": bool(self.monitor.success),
            "episode_time": float(self.time - self.episode_start),
        }
