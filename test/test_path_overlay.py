"""The chunk's end-effector path projected into calibrated camera images (no ROS)."""

from __future__ import annotations

import numpy as np
import pytest

from wam_ros.camera.pinhole import CalibrationError, PinholeCamera, load_calibrations
from wam_ros.resources import resolve, share_path
from wam_ros.robot.model import RobotModel
from wam_ros.sim.mujoco_arm import initial_positions
from wam_ros.visualization.path_overlay import ChunkPath, draw_path, overlay_problem, project_to_tile, time_rgb

ROBOT = RobotModel.load()
SCENE = PinholeCamera.load(share_path("config", "sim_scene_camera.yaml"))
WRIST = PinholeCamera.load(share_path("config", "sim_wrist_camera.yaml"))
HOME = initial_positions(ROBOT)[: len(ROBOT.arm_joints)]
GREY = 128


SWEEP = np.array([0.5, 0.3, -0.3, 0.0, 0.2, 0.0])


def reach_q(n: int = 25) -> np.ndarray:
    """From the home pose, a 2.4 s sweep of the arm (shoulder and elbow turning)."""
    return np.linspace(HOME, HOME + SWEEP, n)


def reach_path(n: int = 25) -> ChunkPath:
    return ChunkPath.from_joints(ROBOT.fk, reach_q(n), np.arange(n) * 0.1)


def grey(h: int = 120, w: int = 160) -> np.ndarray:
    return np.full((h, w, 3), GREY, np.uint8)


def test_a_known_point_lands_at_the_expected_pixel():
    # a camera at (1, 0, 0.5) looking along -x (optical z) with y down = base -z
    pose = np.eye(4)
    pose[:3, :3] = np.column_stack([[0, 1, 0], [0, 0, -1], [-1, 0, 0]])  # optical x, y, z in the base frame
    pose[:3, 3] = [1.0, 0.0, 0.5]
    cam = PinholeCamera("front", 160, 120, np.array([[100.0, 0, 79.5], [0, 100.0, 59.5], [0, 0, 1]]), pose)
    # 1 m in front, 0.1 m to the camera's right (base +y) and 0.05 m below (base -z)
    xy, front = project_to_tile(cam, np.array([[0.0, 0.1, 0.45]]), (120, 160))
    assert front[0]
    np.testing.assert_allclose(xy[0], [79.5 + 10.0, 59.5 + 5.0], atol=1e-9)
    # the same point in a tile of another size: the same place in the image, in that tile's pixels
    xy2, _ = project_to_tile(cam, np.array([[0.0, 0.1, 0.45]]), (240, 320))
    np.testing.assert_allclose(xy2[0], (xy[0] + 0.5) * 2 - 0.5, atol=1e-9)
    _, front = project_to_tile(cam, np.array([[2.0, 0.0, 0.5]]), (120, 160))  # behind the camera
    assert not front[0]


def test_the_scene_camera_sees_the_path_where_the_gripper_is():
    # the home pose's end effector projects near the image centre of the shipped scene calibration
    path = reach_path()
    xy, front = project_to_tile(SCENE, path.positions, (120, 160))
    assert front.all()
    assert 60 < xy[0, 0] < 90 and 40 < xy[0, 1] < 65
    tile = draw_path(grey(), SCENE, path, at_time=0.0)
    first, last = np.round(xy[0]).astype(int), np.round(xy[-1]).astype(int)
    r, _, b = tile[first[1], first[0]].astype(int)
    assert b > r + 60  # early = blue
    r, _, b = tile[last[1], last[0]].astype(int)
    assert r > b + 60  # late = red
    assert (tile != GREY).any(axis=2).sum() > 100


def test_the_ring_marks_the_point_nearest_the_tiles_time():
    path = reach_path()
    assert path.nearest(0.84) == 8 and path.nearest(99.0) == len(path.times) - 1
    xy, _ = project_to_tile(SCENE, path.positions, (240, 320))
    early = draw_path(grey(240, 320), SCENE, path, at_time=0.0)
    late = draw_path(grey(240, 320), SCENE, path, at_time=2.4)
    changed = np.argwhere((early != late).any(axis=2))[:, ::-1]  # (x, y)
    assert len(changed)
    # only the rings differ (the static camera's path does not move): every changed pixel is within a ring's
    # reach (radius 12 px at this tile size, plus its width) of the first or the last point
    near = np.minimum(np.linalg.norm(changed - xy[0], axis=1), np.linalg.norm(changed - xy[-1], axis=1))
    assert near.max() < 17
    white = (late >= 200).all(axis=2)  # the ring's white outline
    ys, xs = np.nonzero(white)
    assert len(ys) and np.linalg.norm(np.array([xs.mean(), ys.mean()]) - xy[-1]) < 4  # the ring centres there


def test_the_wrist_cameras_overlay_moves_with_the_arm():
    path = reach_path()
    for k in (0, 12, 24):
        xy, front = project_to_tile(WRIST, path.positions, (120, 160), path.poses[k])
        # the camera pose is the end effector's at that time times the calibration's ee_from_camera
        expected, _ = WRIST.project(path.positions, ROBOT.fk(reach_q()[k]))
        np.testing.assert_allclose(xy[front], expected[front], atol=1e-9)
    at_start = project_to_tile(WRIST, path.positions, (120, 160), path.poses[0])[0]
    at_end = project_to_tile(WRIST, path.positions, (120, 160), path.poses[-1])[0]
    assert np.abs(at_start - at_end).max() > 10  # the same world points, seen from where the arm has moved
    a = draw_path(grey(), WRIST, path, at_time=0.0)
    b = draw_path(grey(), WRIST, path, at_time=2.4)
    assert (a != b).any(axis=2).sum() > 50
    # the scene camera's path does not move; only its ring does
    s0 = draw_path(grey(), SCENE, path, at_time=0.0)
    s1 = draw_path(grey(), SCENE, path, at_time=2.4)
    assert (s0 != s1).any(axis=2).sum() < (a != b).any(axis=2).sum()


def test_points_behind_the_camera_draw_nothing():
    pose = SCENE.base_from_camera()
    behind = pose[:3, 3] - np.outer(np.linspace(0.5, 1.0, 5), pose[:3, 2])
    path = ChunkPath(np.arange(5) * 0.1, np.stack([np.eye(4)] * 5))
    path.poses[:, :3, 3] = behind
    tile = draw_path(grey(), SCENE, path, at_time=0.0)
    assert (tile == GREY).all()


def test_time_colours_and_path_checks():
    assert time_rgb(0.0) == (0.0, 0.2, 1.0) and time_rgb(1.0) == (1.0, 0.2, 0.0)
    assert time_rgb(2.0) == time_rgb(1.0)
    with pytest.raises(ValueError, match="3 path points for 2 times"):
        ChunkPath.from_joints(ROBOT.fk, np.zeros((3, 6)), np.zeros(2))
    np.testing.assert_allclose(reach_path(5).fractions(), [0, 0.25, 0.5, 0.75, 1.0])


def test_a_calibration_of_another_aspect_ratio_is_refused_with_the_reason():
    assert overlay_problem(SCENE, (120, 160, 3)) == ""
    assert overlay_problem(SCENE, (480, 640, 3)) == ""  # same aspect, another resolution: scales
    problem = overlay_problem(SCENE, (720, 1280, 3))
    assert "'scene'" in problem and "160x120" in problem and "1280x720" in problem


def test_calibration_entries_load_by_camera_name(tmp_path):
    cals = load_calibrations(["scene=config/sim_scene_camera.yaml", "", "front = config/sim_wrist_camera.yaml"],
                             resolve)
    assert set(cals) == {"scene", "front"} and cals["front"].parent == "ee" and cals["scene"].parent == "base"
    with pytest.raises(CalibrationError, match=r"'scene\.yaml': expected camera=file"):
        load_calibrations(["scene.yaml"])
    with pytest.raises(CalibrationError, match="'scene' is given twice"):
        load_calibrations(["scene=config/sim_scene_camera.yaml"] * 2, resolve)
    with pytest.raises(CalibrationError, match=r"missing\.yaml"):
        load_calibrations([f"scene={tmp_path / 'missing.yaml'}"])
