"""Scripted expert for the reach task: ground-truth scene state in, joint-space chunk out.

It plans a Cartesian path for the end effector (lift if low, move above the target
cube, then descend to the goal point), samples it at the chunk's action period at a
bounded speed, and turns each sample into joint targets with damped-least-squares IK
(pinocchio Jacobians from RobotModel) keeping the tool pointing down. It is the
oracle policy of the simulator and its data generator.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from wam_ros.policies.base import Observation, Policy, PolicyError, PolicySpec, Prediction
from wam_ros.robot.ik import dls_step
from wam_ros.robot.model import RobotModel
from wam_ros.sim.reach_task import TaskConfig, goal_point

DOWN = np.array([0.0, 0.0, -1.0])

# The expert's defaults, defined here once: expert_policy_node and teleop_node (source=expert) take theirs from them.
DEFAULT_HORIZON = 24  # actions per chunk
DEFAULT_PERIOD = 0.1  # [s] between consecutive actions
DEFAULT_SPEED = 0.15  # [m/s] end-effector speed along the path


class ScriptedExpert:
    def __init__(
        self,
        robot: RobotModel,
        horizon: int = DEFAULT_HORIZON,
        period: float = DEFAULT_PERIOD,
        speed: float = DEFAULT_SPEED,
        approach_height: float = 0.1,
        gripper_open: float | None = None,
        task: TaskConfig | None = None,
    ) -> None:
        """``speed``: end-effector m/s; ``approach_height``: above the goal point before descending."""
        self.robot = robot
        self.horizon = int(horizon)
        self.period = float(period)
        self.speed = float(speed)
        self.approach_height = float(approach_height)
        self.task = task or TaskConfig()
        self.kin = robot.kinematics
        self.n_arm = len(robot.arm_joints)
        lim = robot.limits()
        self.lower, self.upper = lim["lower"], lim["upper"]
        # joint steps per action are kept under half the velocity limit
        self.max_step = 0.5 * lim["velocity"][: self.n_arm] * self.period
        self.gripper = (
            np.array([self.upper[self.n_arm :]]).reshape(-1)
            if gripper_open is None
            else np.full(len(robot.gripper_joints), gripper_open)
        )

    # ------------------------------------------------------------------ planning
    def waypoints(self, ee: np.ndarray, goal: np.ndarray) -> list[np.ndarray]:
        """Cartesian corners from ``ee`` to ``goal``: approach from above, then descend."""
        above = goal + np.array([0.0, 0.0, self.approach_height])
        horizontal = np.linalg.norm(ee[:2] - goal[:2])
        if horizontal < 0.015:
            return [goal]
        pts = []
        if ee[2] < above[2] - 0.01:
            pts.append(np.array([ee[0], ee[1], above[2]]))  # lift clear of the cubes first
        pts += [above, goal]
        return pts

    def cartesian_path(self, ee: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """(horizon, 3) end-effector positions at (i+1)*period along the waypoints at ``speed``."""
        corners = [ee, *self.waypoints(ee, goal)]
        seg = [np.linalg.norm(b - a) for a, b in itertools.pairwise(corners)]
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        out = np.empty((self.horizon, 3))
        for i in range(self.horizon):
            s = min(self.speed * (i + 1) * self.period, cum[-1])
            k = min(int(np.searchsorted(cum, s, side="right")) - 1, len(seg) - 1)
            frac = 0.0 if seg[k] <= 1e-12 else (s - cum[k]) / seg[k]
            out[i] = corners[k] + frac * (corners[k + 1] - corners[k])
        return out

    def ik(self, target: np.ndarray, q: np.ndarray, iterations: int = 8, damping: float = 0.05) -> np.ndarray:
        """Damped-least-squares IK for position + tool-axis-down, starting at ``q`` (arm joints)."""
        q = q.copy()
        w = np.array([1, 1, 1, 0.5, 0.5, 0.5])  # orientation counts half as much as position
        for _ in range(iterations):
            pose = self.kin.fk(q)
            err = np.concatenate([target - pose[:3, 3], np.cross(pose[:3, 2], DOWN)])
            if np.linalg.norm(err[:3]) < 1e-4 and np.linalg.norm(err[3:]) < 1e-3:
                break
            dq = dls_step(self.kin.jacobian(q), err, damping, weights=w)
            q = np.clip(q + dq, self.lower[: self.n_arm], self.upper[: self.n_arm])
        return q

    def act(self, scene: dict[str, Any], q: np.ndarray) -> np.ndarray:
        """(horizon, 7) joint targets, action i at (i+1)*period after the observation."""
        q = np.asarray(q, dtype=float)
        q_arm = q[: self.n_arm]
        goal = goal_point(np.asarray(scene["objects"][scene["target"]], dtype=float), self.task)
        ee = self.kin.fk(q_arm)[:3, 3]
        path = self.cartesian_path(ee, goal)
        chunk = np.empty((self.horizon, len(q)))
        prev = q_arm
        for i, p in enumerate(path):
            qi = self.ik(p, prev)
            qi = prev + np.clip(qi - prev, -self.max_step, self.max_step)
            chunk[i, : self.n_arm] = qi
            chunk[i, self.n_arm :] = self.gripper
            prev = qi
        return chunk


class ScriptedExpertPolicy(Policy):
    """The expert behind the Policy interface; scene state comes from ``scene_source``."""

    def __init__(self, robot: RobotModel, scene_source: Callable[[], dict[str, Any] | None], **kwargs: Any) -> None:
        self.expert = ScriptedExpert(robot, **kwargs)
        self.scene_source = scene_source
        self.spec = PolicySpec(
            joint_names=robot.actuated_joints,
            cameras=(),
            image_size=(0, 0),
            action_horizon=self.expert.horizon,
            action_period=self.expert.period,
        )

    def infer(self, observation: Observation, decode_frames: bool = True) -> Prediction:
        scene = self.scene_source()
        if scene is None:
            raise PolicyError("no scene state yet (is sim_robot_node publishing sim/scene_state?)")
        try:
            actions = self.expert.act(scene, observation.joint_positions)
        except (KeyError, TypeError, ValueError) as exc:
            raise PolicyError(f"unusable scene state ({type(exc).__name__}: {exc})") from exc
        return Prediction(actions=actions, action_period=self.expert.period, extras={"scene_stamp": scene["stamp"]})

    def reset(self) -> None:
        """Stateless: each chunk is planned from the current state."""
