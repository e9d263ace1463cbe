"""PinholeCamera: projection checked against MuJoCo renders, file round trip, bad files named."""

from __future__ import annotations

import numpy as np
import pytest

from wam_ros.camera_calibration import CalibrationError, PinholeCamera
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
    assert np.allclose(shipped.K, live.K) and np.allclose(shipped.base_from_camera, live.base_from_camera, atol=1e-9)
    live.save(tmp_path / "cam.yaml")
    again = PinholeCamera.load(tmp_path / "cam.yaml")
    assert np.allclose(again.base_from_camera, live.base_from_camera)


def test_points_behind_or_outside_are_not_visible(scene):
    _, renderer = scene
    cam = renderer.calibration("scene")
    behind = cam.base_from_camera[:3, 3] - cam.base_from_camera[:3, 2]  # 1 m behind the lens
    far_left = cam.base_from_camera[:3, 3] + cam.base_from_camera[:3, 2] - 5 * cam.base_from_camera[:3, 0]
    _, visible = cam.normalized(np.stack([behind, far_left]), (64, 64))
    assert not visible.any()


def test_wrist_camera_has_no_single_calibration(scene):
    with pytest.raises(ValueError, match="wrist"):
        scene[1].calibration("wrist")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("K"), "missing"),
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
