"""Action spaces -> joint-position chunks (issue 18): every kind round-trips through the robot's
kinematics, the gripper conventions read as documented, and bad chunks are refused by name. ROS-free."""

from __future__ import annotations

import numpy as np
import pytest

from wam_ros.robot.action_spaces import (
    ACTION_SPACES,
    ActionConverter,
    ActionSpace,
    ActionSpaceError,
    GripperConvention,
    exp_so3,
    log_so3,
    rotation_from,
    rotation_to,
)
from wam_ros.robot.model import RobotModel

ROBOT = RobotModel.load()
LIM = ROBOT.limits()
Q0 = np.array([0.1, -0.4, 0.9, 0.0, 0.6, 0.2, 0.03])


def _path(n: int = 10) -> np.ndarray:
    """A smooth joint path away from Q0 (what a policy means), gripper closing half way."""
    t = np.linspace(0.1, 1.0, n)[:, None]
    target = Q0 + np.array([0.3, 0.2, -0.25, 0.15, -0.2, 0.3, -0.02])
    return Q0 + t * (target - Q0)


CASES = [(k, r) for k in ACTION_SPACES for r in (("axis_angle", "quaternion_xyzw", "euler_xyz")
                                                  if k.startswith("ee_") else ("axis_angle",))]


@pytest.mark.parametrize(("kind", "rotation"), CASES)
def test_every_space_round_trips_to_the_same_joint_path(kind, rotation):
    space = ActionSpace(kind=kind, rotation=rotation)
    conv = ActionConverter(ROBOT, space, period=0.1)
    q_path = _path()
    actions = conv.from_joint_positions(q_path, Q0)
    assert actions.shape == (10, space.width(6))
    back = conv.to_joint_positions(actions, Q0)
    if kind.startswith("ee_"):  # a 6-DoF arm: the pose fixes the joints (same branch, warm-started IK)
        fk = np.array([ROBOT.fk(q[:6])[:3, 3] for q in back])
        want = np.array([ROBOT.fk(q[:6])[:3, 3] for q in q_path])
        np.testing.assert_allclose(fk, want, atol=1e-4)
        np.testing.assert_allclose(back[:, :6], q_path[:, :6], atol=2e-3)
    else:
        np.testing.assert_allclose(back[:, :6], q_path[:, :6], atol=1e-9)
    np.testing.assert_allclose(back[:, 6], q_path[:, 6], atol=1e-9)


def test_joint_velocity_integrates_from_the_measured_state_and_clips_first():
    conv = ActionConverter(ROBOT, ActionSpace("joint_velocity", velocity_clip=1.0, gripper=None), period=0.1)
    v = np.zeros((3, 6))
    v[:, 0] = [0.5, 2.0, -0.5]  # 2.0 rad/s is clipped to 1.0 as DROID's client does
    q = conv.to_joint_positions(v, Q0)
    np.testing.assert_allclose(q[:, 0], Q0[0] + np.array([0.05, 0.15, 0.10]))
    np.testing.assert_allclose(q[:, 6], Q0[6])  # no gripper column: the gripper holds


def test_ee_pose_relative_is_relative_to_the_episode_start_until_reset():
    space = ActionSpace("ee_pose_relative", rotation="quaternion_xyzw", gripper=None)
    conv = ActionConverter(ROBOT, space, period=0.1)
    start = ROBOT.fk(Q0[:6])
    row = np.array([[0.0, 0.0, 0.05, 0.0, 0.0, 0.0, 1.0]])  # 5 cm up from the start pose
    q1 = conv.to_joint_positions(row, Q0)
    np.testing.assert_allclose(ROBOT.fk(q1[0, :6])[:3, 3], start[:3, 3] + [0, 0, 0.05], atol=1e-4)
    q_moved = q1[0]
    q2 = conv.to_joint_positions(row, q_moved)  # same episode: still relative to the first pose
    np.testing.assert_allclose(ROBOT.fk(q2[0, :6])[:3, 3], start[:3, 3] + [0, 0, 0.05], atol=1e-4)
    conv.reset()
    down = np.array([[0.0, 0.0, -0.05, 0.0, 0.0, 0.0, 1.0]])
    q3 = conv.to_joint_positions(down, q_moved)  # new episode: relative to where the arm is now
    np.testing.assert_allclose(ROBOT.fk(q3[0, :6])[:3, 3], ROBOT.fk(q_moved[:6])[:3, 3] - [0, 0, 0.05], atol=1e-4)
    assert not np.allclose(q3[0], q_moved)


def test_relative_quaternions_follow_the_wrist_past_pi_and_either_quaternion_sign():
    """LingBot-VA style rows while joint6 winds from -0.75 to 2.85 rad: the wrist's rotation relative to the
    episode's start passes pi (its log wraps), q and -q are the same rotation, and the warm-started IK follows
    joint6 step by step, chunk after chunk, with no jump at a chunk's first target."""
    space = ActionSpace("ee_pose_relative", rotation="quaternion_xyzw", gripper=None)
    conv = ActionConverter(ROBOT, space, period=0.05)
    q_start = np.array([0.1, 0.3, 1.6, 0.0, 1.24, -0.75, 0.04])
    path = np.repeat(q_start[None], 48, axis=0)
    path[:, 5] = np.linspace(-0.75, 2.85, 49)[1:]  # 0.075 rad per step; relative to the start, past pi at 2.39
    path[:, 0] = np.linspace(0.1, 0.4, 49)[1:]
    actions = conv.from_joint_positions(path, q_start)
    actions[1::2, 3:] *= -1.0  # every other quaternion with the other sign
    assert np.linalg.norm(log_so3(rotation_from(actions[-1, 3:], "quaternion_xyzw"))) < 3.0  # wrapped
    q_measured = q_start
    for i in range(0, 48, 8):
        out = conv.to_joint_positions(actions[i:i + 8], q_measured)
        np.testing.assert_allclose(out[:, :6], path[i:i + 8, :6], atol=2e-3)
        q_measured = out[-1]


def test_targets_out_of_reach_end_the_chunk_and_a_first_one_is_refused():
    """An unconverged IK solve lands anywhere (1-4 rad jumps): the chunk keeps its reachable prefix only."""
    space = ActionSpace("ee_pose_relative", rotation="quaternion_xyzw", gripper=GripperConvention())
    conv = ActionConverter(ROBOT, space, period=0.05)
    path = _path(6)
    actions = conv.from_joint_positions(path, Q0)
    far = actions.copy()
    far[3:, :3] += [1.5, 0.0, 0.0]  # rows 3.. ask for 1.5 m further out: beyond the arm's reach
    out = conv.to_joint_positions(far, Q0)
    assert out.shape == (3, 7) and conv.rows_out_of_reach == 3
    np.testing.assert_allclose(out[:, :6], path[:3, :6], atol=2e-3)
    np.testing.assert_allclose(out[:, 6], path[:3, 6], atol=1e-9)  # the gripper column cut with the rows
    assert conv.to_joint_positions(actions, Q0).shape == (6, 7) and conv.rows_out_of_reach == 0
    far[0, :3] += [1.5, 0.0, 0.0]
    with pytest.raises(ActionSpaceError, match=r"row 0: end-effector target out of reach \(the IK ends \d+ mm"):
        conv.to_joint_positions(far, Q0)


def test_libero_style_deltas_are_scaled_and_accumulate():
    space = ActionSpace("ee_delta", delta_scale=(0.05, 0.5), gripper=GripperConvention(-1.0, 1.0))
    conv = ActionConverter(ROBOT, space, period=0.1)
    rows = np.zeros((2, 7))
    rows[:, 0] = 0.2  # 0.2 x 0.05 m = 1 cm along x per step
    rows[:, 6] = [-1.0, 1.0]
    q = conv.to_joint_positions(rows, Q0)
    x0 = ROBOT.fk(Q0[:6])[0, 3]
    np.testing.assert_allclose([ROBOT.fk(qi[:6])[0, 3] for qi in q], [x0 + 0.01, x0 + 0.02], atol=1e-4)
    assert q[0, 6] == pytest.approx(LIM["upper"][6]) and q[1, 6] == pytest.approx(LIM["lower"][6])


def test_gripper_conventions():
    lo, hi = LIM["lower"][6:], LIM["upper"][6:]
    droid = GripperConvention(open_value=0.0, closed_value=1.0, binarize=True)
    np.testing.assert_allclose(droid.to_joints(np.array([0.2, 0.7]), lo, hi)[:, 0], [hi[0], lo[0]])
    libero = GripperConvention(open_value=-1.0, closed_value=1.0)
    np.testing.assert_allclose(libero.to_joints(np.array([-1.0, 0.0, 1.0]), lo, hi)[:, 0],
                               [hi[0], (hi[0] + lo[0]) / 2, lo[0]])
    assert libero.from_joints(hi, lo, hi) == pytest.approx(-1.0)
    with pytest.raises(ActionSpaceError, match="must be finite and differ"):
        GripperConvention(1.0, 1.0)


def test_results_stay_inside_the_urdf_limits():
    conv = ActionConverter(ROBOT, ActionSpace("joint_delta", gripper=None), period=0.1)
    q = conv.to_joint_positions(np.full((2, 6), 10.0), Q0)
    assert np.all(q <= LIM["upper"]) and np.all(q >= LIM["lower"])


def test_bad_chunks_and_definitions_are_refused_by_name():
    conv = ActionConverter(ROBOT, ActionSpace("joint_position"), period=0.1)
    with pytest.raises(ActionSpaceError, match=r"must be \(N, 7\)"):
        conv.to_joint_positions(np.zeros((4, 8)), Q0)
    bad = np.zeros((2, 7))
    bad[1, 3] = np.nan
    with pytest.raises(ActionSpaceError, match="non-finite"):
        conv.to_joint_positions(bad, Q0)
    with pytest.raises(ActionSpaceError, match="must be one of"):
        ActionSpace("cartesian_velocity")
    with pytest.raises(ActionSpaceError, match="unknown key"):
        ActionSpace.from_dict({"kind": "joint_position", "colour": 1})
    space = ActionSpace.from_dict({"kind": "joint_velocity", "velocity_clip": 1.0,
                                   "gripper": {"open_value": 0, "closed_value": 1, "binarize": True}})
    assert space.gripper.binarize and space.velocity_clip == 1.0


def test_rotation_conversions_round_trip():
    rng = np.random.default_rng(0)
    for _ in range(50):
        w = rng.normal(size=3)
        w *= rng.uniform(0, 3.1) / np.linalg.norm(w)
        r = exp_so3(w)
        np.testing.assert_allclose(log_so3(r), w, atol=1e-7)
        for rot in ("axis_angle", "quaternion_xyzw", "euler_xyz"):
            np.testing.assert_allclose(rotation_from(rotation_to(r, rot), rot), r, atol=1e-7)
