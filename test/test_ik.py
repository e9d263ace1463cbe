"""The one damped-least-squares step (wam_ros.robot.ik) and its two users, without ROS."""

from __future__ import annotations

import numpy as np
import pytest

import wam_ros.sim.scripted_expert as scripted_expert
import wam_ros.teleop.diff_ik as diff_ik
from wam_ros.robot.ik import dls_step
from wam_ros.robot.model import RobotModel
from wam_ros.sim.scripted_expert import ScriptedExpert
from wam_ros.teleop.diff_ik import DiffIK

ROBOT = RobotModel.load()
Q0 = np.array([0.0, 0.4, 1.0, 0.0, 1.2, 0.0])


def test_small_damping_is_the_least_squares_solution():
    rng = np.random.default_rng(0)
    jac = rng.normal(size=(6, 6))
    err = rng.normal(size=6)
    assert np.allclose(dls_step(jac, err, 1e-6), np.linalg.solve(jac, err), atol=1e-6)


def test_redundant_arm_gets_the_minimum_norm_step():
    rng = np.random.default_rng(1)
    jac = rng.normal(size=(3, 7))
    err = rng.normal(size=3)
    dq = dls_step(jac, err, 1e-6)
    assert np.allclose(jac @ dq, err, atol=1e-6)
    assert np.allclose(dq, np.linalg.pinv(jac) @ err, atol=1e-6)


def test_near_a_singularity_the_step_stays_bounded():
    jac = np.diag([1.0, 1.0, 1e-9])
    dq = dls_step(jac, np.array([0.0, 0.0, 1.0]), 0.05)
    assert np.all(np.isfinite(dq)) and abs(dq[2]) < 1e-5  # undamped it would be 1e9


def test_weights_scale_rows_of_jacobian_and_error():
    rng = np.random.default_rng(2)
    jac, err, w = rng.normal(size=(6, 6)), rng.normal(size=6), np.array([1, 1, 1, 0.5, 0.5, 0.5])
    assert np.allclose(dls_step(jac, err, 0.05, w), dls_step(jac * w[:, None], err * w, 0.05))


def test_a_zeroed_column_does_not_move_its_joint():
    rng = np.random.default_rng(3)
    jac = rng.normal(size=(6, 6))
    jac[:, 2] = 0.0
    assert dls_step(jac, rng.normal(size=6), 0.05)[2] == 0.0


@pytest.mark.parametrize("jac, err, damping", [(np.eye(3), np.ones(2), 0.1), (np.eye(3), np.ones(3), 0.0)])
def test_bad_arguments_are_refused(jac, err, damping):
    with pytest.raises(ValueError):
        dls_step(jac, err, damping)


def test_teleop_and_the_scripted_expert_share_the_one_step():
    assert diff_ik.dls_step is dls_step and scripted_expert.dls_step is dls_step


def test_expert_ik_reaches_a_reachable_pose_tool_down():
    expert = ScriptedExpert(ROBOT)
    q_down = np.array([0.0, 0.3, 1.2, 0.0, 1.6, 0.0])  # tool roughly down
    target = ROBOT.fk(q_down)[:3, 3] + np.array([0.03, -0.02, -0.02])
    q = expert.ik(target, q_down, iterations=30)
    pose = ROBOT.fk(q)
    assert np.linalg.norm(pose[:3, 3] - target) < 2e-3
    assert pose[2, 2] < -0.95  # tool axis points down


def test_teleop_ik_follows_the_same_step_for_a_free_joint_set():
    ik = DiffIK(ROBOT, damping=0.05, velocity_fraction=1.0)
    twist = np.array([0.01, 0.0, 0.0, 0.0, 0.0, 0.0])
    expected = dls_step(ROBOT.kinematics.jacobian(Q0), twist, 0.05)
    assert np.allclose(ik.joint_velocity(Q0, twist, 0.01), expected)
