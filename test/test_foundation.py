"""Core foundation: robot description, trajectory value object, parameter specs."""

from __future__ import annotations

import numpy as np
import pytest

from wam_ros.robot.model import RobotModel, RobotModelError
from wam_ros.robot.trajectory import Trajectory, TrajectoryError


def test_robot_model_reads_urdf_and_limits_yaml():
    m = RobotModel.load()
    assert m.arm_joints == ("joint1", "joint2", "joint3", "joint4", "joint5", "joint6")
    assert m.gripper_joints == ("gripper_finger_joint",)
    lim = m.limits()
    assert lim["velocity"][0] == 2.0 and lim["acceleration"][0] == 4.0 and lim["jerk"][6] == 20.0
    assert np.all(lim["lower"] < lim["upper"])


def test_fk_matches_geometry_of_straight_up_pose():
    m = RobotModel.load()
    # Straight up: base 0.10 + 0.06 + 0.425 + 0.20 + 0.19 + 0.08 + 0.03 (flange) + 0.095 (tool0)
    pose = m.fk(np.zeros(6))
    np.testing.assert_allclose(pose[:3, 3], [0, 0, 1.18], atol=1e-9)
    # Reach around 0.85 m from the shoulder to the wrist.
    assert 0.8 < 0.425 + 0.20 + 0.19 < 0.9


def test_jacobian_matches_finite_difference():
    m = RobotModel.load()
    q = np.array([0.2, 0.4, 1.2, -0.3, 0.9, 0.1])
    jac = m.kinematics.jacobian(q)
    eps = 1e-6
    for i in range(6):
        dq = np.zeros(6)
        dq[i] = eps
        dp = (m.fk(q + dq)[:3, 3] - m.fk(q - dq)[:3, 3]) / (2 * eps)
        np.testing.assert_allclose(jac[:3, i], dp, atol=1e-6)


def test_unknown_ee_link_is_named():
    m = RobotModel.load()
    with pytest.raises(RobotModelError, match="ee_link 'nope'"):
        RobotModel.from_urdf_string(m.urdf_xml, ee_link="nope")


def test_joint_limits_yaml_cannot_loosen(tmp_path):
    f = tmp_path / "lim.yaml"
    f.write_text("joint_limits:\n  joint1: {has_velocity_limits: true, max_velocity: 99.0}\n")
    m = RobotModel.from_urdf_string(RobotModel.load().urdf_xml, f)
    assert m.limits(["joint1"])["velocity"][0] == 2.0


def test_trajectory_validation_names_problem():
    ok = Trajectory(1.0, ("a", "b"), [0.1, 0.2], [[0, 0], [1, 1]]).validate()
    assert ok.reordered(("b", "a")).positions.tolist() == [[0, 0], [1, 1]]
    with pytest.raises(TrajectoryError, match=r"non-finite positions for joint\(s\) \['b'\]"):
        Trajectory(1.0, ("a", "b"), [0.1], [[0, np.nan]]).validate()
    with pytest.raises(TrajectoryError, match="strictly increasing"):
        Trajectory(1.0, ("a",), [0.2, 0.1], [[0], [1]]).validate()
    with pytest.raises(TrajectoryError, match="missing joint"):
        ok.reordered(("a", "c"))
