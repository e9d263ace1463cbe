"""PinholeCamera: projection checked against MuJoCo renders, file round trip, bad files named."""

from __future__ import annotations

import numpy as np
import pytest

from wam_ros.camera.pinhole import CalibrationError, PinholeCamera
from wam_ros.resources import share_path
from wam_ros.sim.mujoco_arm import CUBE_NAMES, ArmRenderer
from wam_ros.sim.sim_env import SimEnv
from wam_ros.tiny_wam.color_permutation import saturated_mask
from wam_ros.tiny_wam.data import resize_frame


@pytest.fixture(scope="module")
def scene():
    env = SimEnv()
    renderer = ArmRenderer(env.arm.model, 160, 120)
    yield env, renderer
    renderer.close()


def _cube_pixels(image: np.ndarray, name: str) -> np.ndarray:
    """(u, v) centroid of the saturated pixels whose dominant channel is the cube's colour."""
    channel = {"red_cube": 0, "green_cube": 1, "blue_cube": 2}[name]
    m = saturated_mask(image) & (image.argmax(-1) == channel)
    v, u = np.nonzero(m)
    assert len(u) >= 3, f"{name} not visible"
    return np.array([u.mean(), v.mean()])


@pytest.mark.parametrize("seed", [0, 7, 1234])
def test_projection_lands_on_the_rendered_cubes(scene, seed):
    env, renderer = scene
    env.reset(seed)
    cam = renderer.calibration("scene")
    image = renderer.render(env.arm.data.qpos.copy(), ("scene",))["scene"]
    small = resize_frame(image, (64, 64))
    for name in CUBE_NAMES:
        centre = env.episode.objects[name]
        uv, front = cam.project(centre[None])
        assert front[0]
        # the visible faces' centroid is within ~1.5 px of the projected centre (160x120)
        assert np.linalg.norm(uv[0] - _cube_pixels(image, name)) < 1.5
        # and in the model's [-1, 1] coordinates of the 64x64 resize
        yx, visible = cam.normalized(centre[None], (64, 64))
        u, v = _cube_pixels(small, name)
        assert visible[0]
        assert np.allclose(yx[0], [2 * v / 63 - 1, 2 * u / 63 - 1], atol=2 * 1.5 / 63)


def test_shipped_sim_calibration_matches_the_simulator(scene, tmp_path):
    _, renderer = scene
    shipped = PinholeCamera.load(share_path("config", "sim_scene_camera.yaml"))
    live = renderer.calibration("scene")
    assert shipped.camera == "scene" and (shipped.width, shipped.height) == (live.width, live.height)
    assert np.allclose(shipped.K, live.K) and np.allclose(shipped.pose, live.pose, atol=1e-9)
    live.save(tmp_path / "cam.yaml")
    again = PinholeCamera.load(tmp_path / "cam.yaml")
    assert np.allclose(again.pose, live.pose) and again.parent == "base"
    wrist = PinholeCamera.load(share_path("config", "sim_wrist_camera.yaml"))
    assert wrist.parent == "ee" and np.allclose(wrist.pose, renderer.calibration("wrist").pose, atol=1e-9)


def test_points_behind_or_outside_are_not_visible(scene):
    _, renderer = scene
    cam = renderer.calibration("scene")
    pose = cam.base_from_camera()
    behind = pose[:3, 3] - pose[:3, 2]  # 1 m behind the lens
    far_left = pose[:3, 3] + pose[:3, 2] - 5 * pose[:3, 0]
    _, visible = cam.normalized(np.stack([behind, far_left]), (64, 64))
    assert not visible.any()


@pytest.mark.parametrize("seed", [2, 5])
def test_wrist_camera_projection_follows_the_arm(scene, seed):
    """The wrist camera is calibrated relative to the end effector; with the robot model's FK of the moment
    its projection lands on the cubes it renders, at home and with the arm moved."""
    env, renderer = scene
    env.reset(seed)
    cam = renderer.calibration("wrist")
    assert cam.parent == "ee"
    with pytest.raises(CalibrationError, match="base_from_ee"):
        cam.project(np.zeros((1, 3)))
    for dq in (np.zeros(6), np.array([0.15, 0.1, -0.1, 0.0, 0.1, 0.2])):
        qpos = env.arm.data.qpos.copy()
        q = env.arm.actuated_positions()[:6] + dq
        qpos[env.arm._act_q[:6]] = q
        image = renderer.render(qpos, ("wrist",))["wrist"]
        base_from_ee = env.robot.fk(q)
        for name in CUBE_NAMES:
            uv, front = cam.project(env.episode.objects[name][None], base_from_ee)
            if not (front[0] and 4 <= uv[0, 0] < 156 and 4 <= uv[0, 1] < 116):
                continue
            # the top face (2 cm nearer than the centre) is what the camera sees: ~1 px of parallax
            assert np.linalg.norm(uv[0] - _cube_pixels(image, name)) < 2.5, name


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("K"), "missing"),
        (lambda d: d.update(ee_from_camera=d["base_from_camera"]), "exactly one"),
        (lambda d: d.update(K=[1, 0, 0, 0, 1]), "9 entries"),
        (lambda d: d.update(width=0), "width/height"),
        (lambda d: d["base_from_camera"][0].__setitem__(0, 2.0), "rotation"),
        (lambda d: d["base_from_camera"][1].__setitem__(3, float("nan")), "finite"),
    ],
)
def test_bad_calibration_is_refused_naming_the_field(scene, tmp_path, edit, message):
    d = scene[1].calibration("scene").to_dict()
    edit(d)
    with pytest.raises(CalibrationError, match=message):
        PinholeCamera.from_dict(d)
