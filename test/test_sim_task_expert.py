"""Reach task, SimEnv and the scripted expert, in-process and headless (no ROS, no rendering)."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from wam_ros.policies.base import Observation, Policy, PolicyError
from wam_ros.robot.model import RobotModel
from wam_ros.sim.mujoco_arm import CUBE_NAMES, initial_positions
from wam_ros.sim.reach_task import SuccessMonitor, TaskConfig, goal_point, sample_episode
from wam_ros.sim.rollout import run_episode
from wam_ros.sim.scripted_expert import ScriptedExpert, ScriptedExpertPolicy
from wam_ros.sim.sim_env import SimEnv

ROBOT = RobotModel.load()


@pytest.fixture(scope="module")
def env() -> SimEnv:
    return SimEnv(ROBOT)


def test_episodes_are_seeded_and_valid():
    cfg = TaskConfig()
    a, b = sample_episode(7), sample_episode(7)
    assert a.target == b.target and all(np.array_equal(a.objects[n], b.objects[n]) for n in CUBE_NAMES)
    layouts = {tuple(np.round(sample_episode(s).objects["red_cube"], 6)) for s in range(20)}
    assert len(layouts) == 20
    targets = {sample_episode(s).target for s in range(30)}
    assert targets == set(CUBE_NAMES)
    for s in range(100):
        ep = sample_episode(s)
        for p, q in itertools.combinations(ep.objects.values(), 2):
            assert np.linalg.norm(p[:2] - q[:2]) >= cfg.min_separation
        for p in ep.objects.values():
            assert cfg.x_range[0] <= p[0] <= cfg.x_range[1] and cfg.y_range[0] <= p[1] <= cfg.y_range[1]
        assert ep.instruction == f"reach the {ep.target.split('_')[0]} cube"


@pytest.mark.parametrize("k", [2, 3])
def test_targets_per_layout_names_other_cubes_in_the_same_layout(k):
    """Demonstration design: seeds k*n .. k*n+k-1 share one layout and name k different cubes;
    k=1 (the default, used for evaluation) keeps every seed's episode unchanged."""
    cfg = TaskConfig(targets_per_layout=k)
    for n in range(10):
        eps = [sample_episode(k * n + i, cfg) for i in range(k)]
        for ep in eps[1:]:
            assert all(np.array_equal(ep.objects[c], eps[0].objects[c]) for c in CUBE_NAMES)
        assert len({ep.target for ep in eps}) == k
    assert sample_episode(5, TaskConfig(targets_per_layout=1)).target == sample_episode(5).target
    with pytest.raises(ValueError, match="targets_per_layout"):
        TaskConfig(targets_per_layout=4)


def test_success_needs_the_goal_held_for_half_a_second():
    m = SuccessMonitor()
    cube = np.array([0.5, 0.0, 0.02])
    near = goal_point(cube) + np.array([0.02, 0.0, 0.0])
    far = goal_point(cube) + np.array([0.04, 0.0, 0.0])
    assert not m.update(0.0, near, cube)
    assert not m.update(0.4, near, cube)
    assert not m.update(0.45, far, cube)  # left the ball: the timer restarts
    assert not m.update(0.5, near, cube)
    assert not m.update(0.9, near, cube)
    assert m.update(1.0, near, cube)
    assert m.update(1.1, far, cube)  # success latches for the episode


def test_reset_places_cubes_and_homes_the_arm(env):
    ep = env.reset(3)
    env.step(0.2)
    assert np.allclose(env.arm.actuated_positions(), initial_positions(ROBOT), atol=1e-3)
    for name, pos in env.arm.object_positions().items():
        assert np.allclose(pos, ep.objects[name], atol=2e-3), name  # resting on the table
    state = env.scene_state()
    assert state["seed"] == 3 and state["target"] == ep.target and state["success"] is False
    assert set(state["objects"]) == set(CUBE_NAMES)
    assert np.allclose(state["ee_position"], ROBOT.fk(initial_positions(ROBOT)[:6])[:3, 3], atol=2e-3)


def test_expert_chunk_shape_limits_and_progress(env):
    expert = ScriptedExpert(ROBOT, horizon=16, period=0.1)
    env.reset(5)
    q = env.arm.actuated_positions()
    chunk = expert.act(env.scene_state(), q)
    assert chunk.shape == (16, 7) and np.all(np.isfinite(chunk))
    lim = ROBOT.limits()
    assert np.all(chunk >= lim["lower"]) and np.all(chunk <= lim["upper"])
    steps = np.abs(np.diff(np.vstack([q, chunk]), axis=0))
    assert np.all(steps <= lim["velocity"] * 0.1 + 1e-9)
    goal = goal_point(env.target_position())
    d0 = np.linalg.norm(ROBOT.fk(q[:6])[:3, 3] - goal)
    d1 = np.linalg.norm(ROBOT.fk(chunk[-1, :6])[:3, 3] - goal)
    assert d1 < d0 - 0.2, (d0, d1)
    tool_z = ROBOT.fk(chunk[-1, :6])[:3, 2]
    assert tool_z[2] < -0.95  # tool keeps pointing down


def test_holding_still_does_not_succeed(env):
    """The success test can fail: a policy that never moves never reaches the goal."""
    r = run_episode(env, lambda scene, q: np.tile(q, (4, 1)), seed=0, period=0.1, max_time=2.0)
    assert not r.success and r.final_distance > 0.1


@pytest.mark.slow
def test_expert_solves_at_least_90_percent_of_50_seeded_episodes(env):
    expert = ScriptedExpert(ROBOT)
    t0 = time.perf_counter()
    results = [run_episode(env, expert.act, seed=s, period=expert.period) for s in range(50)]
    wall = time.perf_counter() - t0
    solved = sum(r.success for r in results)
    sim_seconds = sum(r.time_to_success for r in results if r.success)
    print(f"expert solved {solved}/50 episodes in {wall:.1f}s wall ({sim_seconds:.0f}s simulated)")
    assert solved >= 45, [r for r in results if not r.success]


def test_expert_policy_interface(env):
    env.reset(11)
    scene: dict = {}
    policy = ScriptedExpertPolicy(ROBOT, lambda: scene or None, horizon=8, period=0.2)
    assert isinstance(policy, Policy)
    obs = Observation(images={}, joint_positions=env.arm.actuated_positions(), instruction="x", timestamp=1.0)
    with pytest.raises(PolicyError, match="scene state"):
        policy.infer(obs)
    scene.update({"objects": {}, "target": "red_cube", "stamp": 0.0})
    with pytest.raises(PolicyError, match="unusable scene state"):
        policy.infer(obs)
    scene.update(env.scene_state())
    pred = policy.infer(obs).validate(policy.spec)
    assert pred.actions.shape == (8, 7) and pred.action_period == 0.2
