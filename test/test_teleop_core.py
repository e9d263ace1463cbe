"""Teleop cores without ROS: differential IK, leader-arm mapping, Joy mapping, keyboard."""

from __future__ import annotations

import numpy as np
import pytest

from wam_ros.robot.model import RobotModel
from wam_ros.teleop.diff_ik import DiffIK
from wam_ros.teleop.joy_mapping import JoyMapping, JoyMappingError
from wam_ros.teleop.keyboard import KeyboardTeleop, decode_keys
from wam_ros.teleop.leader_arm import LeaderArmError, LeaderArmMapping

ROBOT = RobotModel.load()
Q0 = np.array([0.0, 0.4, 1.0, 0.0, 1.2, 0.0])  # a bent, non-singular posture


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_diff_ik_moves_tool_in_commanded_direction(axis, sign):
    ik = DiffIK(ROBOT)
    twist = np.zeros(6)
    twist[axis] = 0.05 * sign
    q, p0 = Q0.copy(), ROBOT.fk(Q0)[:3, 3]
    for _ in range(20):  # 1 s at 20 Hz
        q = ik.step(q, twist, 0.05)
    d = ROBOT.fk(q)[:3, 3] - p0
    assert d[axis] * sign > 0.035, d  # ~5 cm commanded
    off = np.delete(d, axis)
    assert np.all(np.abs(off) < 0.25 * abs(d[axis])), d


def test_diff_ik_rotation_keeps_position():
    ik = DiffIK(ROBOT)
    q, p0, r0 = Q0.copy(), ROBOT.fk(Q0)[:3, 3], ROBOT.fk(Q0)[:3, :3]
    for _ in range(10):
        q = ik.step(q, np.array([0, 0, 0, 0, 0, 0.3]), 0.05)
    pose = ROBOT.fk(q)
    angle = np.arccos(np.clip((np.trace(r0.T @ pose[:3, :3]) - 1) / 2, -1, 1))
    assert angle > 0.1 and np.linalg.norm(pose[:3, 3] - p0) < 0.01


def test_diff_ik_respects_velocity_and_position_limits():
    ik = DiffIK(ROBOT, velocity_fraction=0.5, limit_margin=0.05)
    lim = ROBOT.limits(ROBOT.arm_joints)
    dq = ik.joint_velocity(Q0, np.array([2.0, 0, 0, 0, 0, 0]), 0.05)  # far faster than allowed
    assert np.all(np.abs(dq) <= 0.5 * lim["velocity"] + 1e-9)
    # joint1 at its upper limit (minus margin): a twist that needs +joint1 must not push it further
    q = Q0.copy()
    q[0] = lim["upper"][0] - 0.05
    y_dir = ROBOT.kinematics.jacobian(q)[1, 0]  # how joint1 moves the tool in y
    twist = np.array([0, 0.05 * np.sign(y_dir), 0, 0, 0, 0])
    for _ in range(40):
        q = ik.step(q, twist, 0.05)
        assert np.all(q <= lim["upper"] - 0.05 + 1e-9) and np.all(q >= lim["lower"] + 0.05 - 1e-9)
    assert q[0] == pytest.approx(lim["upper"][0] - 0.05)
    with pytest.raises(ValueError, match="finite"):
        ik.joint_velocity(Q0, np.array([np.nan, 0, 0, 0, 0, 0]), 0.05)


def test_leader_arm_mapping_names_offsets_signs_and_limits():
    leader = [f"gello_{i}" for i in range(7)]
    offsets = [0.1, 0, 0, 0, 0, 0, 0.0]
    signs = [1, -1, 1, 1, 1, 1, 0.01]  # gripper: leader trigger in [0, 4] -> follower metres
    m = LeaderArmMapping.from_config(ROBOT, leader, offsets, signs)
    names = list(reversed(leader))  # order of the message does not matter
    raw = {f"gello_{i}": v for i, v in enumerate([0.2, 0.3, -0.5, 0.0, 0.1, 0.0, 2.0])}
    q, clipped = m.map(names, [raw[n] for n in names])
    np.testing.assert_allclose(q, [0.3, -0.3, -0.5, 0.0, 0.1, 0.0, 0.02])
    assert not clipped.any()
    raw["gello_0"] = 10.0  # past joint1's limit: clipped inside, flagged
    q, clipped = m.map(names, [raw[n] for n in names])
    assert clipped[0] and q[0] == pytest.approx(ROBOT.limits()["upper"][0] - 0.02)
    raw["gello_6"] = 100.0  # gripper far open: clipped inside its 4 cm range (margin capped at 10 %)
    q, clipped = m.map(names, [raw[n] for n in names])
    assert clipped[6] and q[6] == pytest.approx(0.04 - 0.004)
    with pytest.raises(LeaderArmError, match="lacks joint"):
        m.map(names[1:], [raw[n] for n in names[1:]])
    with pytest.raises(LeaderArmError, match="non-finite"):
        m.map(names, [np.nan] * 7)
    with pytest.raises(LeaderArmError, match="leader_joints has 6"):
        LeaderArmMapping.from_config(ROBOT, leader[:6])
    with pytest.raises(LeaderArmError, match="signs must be non-zero"):
        LeaderArmMapping.from_config(ROBOT, leader, None, [0] * 7)


def test_joy_mapping_deadman_deadzone_and_caps():
    m = JoyMapping(axes=(1, 0, 4, -1, -1, 3), scales=(1, 1, 1, 1, 1, -1), deadzone=0.1, max_linear=0.1,
                   max_angular=0.5, deadman_button=4, gripper_open_button=1, gripper_close_button=0)
    axes = [0.0, 1.0, 0.0, 0.5, 0.05, 0.0]
    buttons = [0, 1, 0, 0, 1]
    c = m.command(axes, buttons)
    assert c.deadman and c.gripper == 1
    np.testing.assert_allclose(c.twist, [0.1, 0, 0, 0, 0, -0.5 * (0.4 / 0.9)], atol=1e-9)  # axis 4 in deadzone
    released = m.command(axes, [0, 1, 0, 0, 0])
    assert not released.deadman and not released.twist.any() and released.gripper == 0
    diag = m.command([1.0, 1.0, 0, 0, 1.0], buttons)
    assert np.linalg.norm(diag.twist[:3]) == pytest.approx(0.1)
    assert m.command([], []).deadman is False
    with pytest.raises(JoyMappingError, match="6 entries"):
        JoyMapping(axes=(0, 1))


def test_keyboard_decode_and_hold():
    assert decode_keys(b"w\x1b[C\x1b[Dx\x1b") == ["w", "right", "left", "x", "esc"]
    k = KeyboardTeleop(max_linear=0.05, hold=0.5)
    k.press("w", 10.0)
    np.testing.assert_allclose(k.twist(10.2), [0.05, 0, 0, 0, 0, 0])
    assert not k.twist(10.6).any()  # released: no auto-repeat arrived
    k.press("f", 11.0)
    k.press(" ", 11.1)
    assert not k.twist(11.2).any()
    k.press("g", 12.0)
    assert k.take_gripper() == 1 and k.take_gripper() == 0
    k.press("esc", 13.0)
    assert k.quit


def test_twist_integrator_integrates_from_its_reference_and_reanchors():
    from wam_ros.teleop.twist_integrator import TwistIntegrator

    integ = TwistIntegrator(ROBOT, DiffIK(ROBOT), 0.05, gripper_speed=0.02)
    measured = np.append(Q0, 0.01)
    q1 = integ.step(measured, np.array([0.05, 0, 0, 0, 0, 0]), +1, 0.1)
    q2 = integ.step(measured, np.array([0.05, 0, 0, 0, 0, 0]), +1, 0.1)  # measured lags: ignored
    x = [ROBOT.fk(q[:6])[0, 3] for q in (measured, q1, q2)]
    assert x[0] < x[1] < x[2]
    assert q2[6] == pytest.approx(0.014)
    for _ in range(100):
        q = integ.step(measured, np.zeros(6), +1, 0.1)
    assert q[6] == pytest.approx(0.036)  # gripper stops inside its margined limit
    integ.release()
    np.testing.assert_allclose(integ.step(measured, np.zeros(6), 0, 0.1), measured)
