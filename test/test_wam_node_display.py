"""wam_node's /wam/predicted_frames over real DDS: the chunk's path drawn into each calibrated camera,
and the real frames beside the predicted ones once they arrive. A random-init tiny_wam and a probe
that publishes uniform grey camera frames and the arm's home pose (the cameras and the arm are what
cannot exist here); the path is recognised by its colours on the grey frames."""

from __future__ import annotations

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from ros_harness import NodeProcess, wait_for
from sensor_msgs.msg import Image
from test_wam_node import MODULE, FakeRobot, make_checkpoint, node_params

from wam_ros.camera.pinhole import PinholeCamera
from wam_ros.resources import share_path
from wam_ros.robot.model import RobotModel
from wam_ros.ros.image_conversion import image_from_msg
from wam_ros.sim.mujoco_arm import initial_positions
from wam_ros.visualization.path_overlay import project_to_tile

T = 128  # filmstrip_tile
GREY = 128


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("ck") / "tiny_wam")


def tile(strip: np.ndarray, row: int, col: int) -> np.ndarray:
    return strip[row * T : (row + 1) * T, col * T : (col + 1) * T]


def path_pixels(t: np.ndarray) -> np.ndarray:
    """Mask of the path's colours (blue..red) on a grey frame."""
    rgb = t.astype(int)
    return (np.abs(rgb[..., 0] - rgb[..., 2]) > 60) & (rgb[..., 1] < 120)


def test_predicted_frames_carry_the_path_and_the_real_frames(ros, checkpoint):
    robot_model = RobotModel.load()
    home = initial_positions(robot_model)
    frames = ros.collect(Image, "/wam/predicted_frames")
    diags = ros.collect(DiagnosticArray, "/diagnostics")

    def compared():  # a strip whose scene +0.4 s real frame has arrived: 7 tiles wide, that tile grey
        for msg in reversed(frames):
            strip = image_from_msg(msg)
            if strip.shape[1] == 7 * T and np.median(tile(strip, 0, 2)) == GREY:
                return [strip]
        return []

    # one prediction per 1.25 s: a newer chunk replaces the shown one, so at node_params' 4 Hz the +0.8 s real
    # frames often arrived after their prediction had been replaced (the comparison never filled in under load)
    with FakeRobot(ros) as robot, NodeProcess(MODULE, node_params(checkpoint, trigger_rate=0.8)) as proc:
        robot.frame = np.full((48, 64, 3), GREY, np.uint8)
        robot.position = [*home, home[-1]]  # + the gripper's mirror joint
        try:
            strip = wait_for(compared, 90)[0]
        except TimeoutError:
            shapes = {image_from_msg(m).shape for m in frames}
            pytest.fail(f"no filmstrip with a real frame (strip shapes {shapes}); node output:\n{proc.output()}")
        try:  # /diagnostics says which cameras get the path (known from their first images)
            overlay = wait_for(lambda: [kv.value for d in diags for s in d.status if s.name.startswith("wam_node")
                                        for kv in s.values if kv.key == "path_overlay_cameras"][-1:], 30)
        except TimeoutError:
            pytest.fail(f"no path_overlay_cameras on /diagnostics; node output:\n{proc.output()}")
    assert overlay[-1] == "scene, wrist"

    assert strip.shape == (2 * T, 7 * T, 3)  # scene and wrist rows: obs, then (pred, real, diff) x 2 offsets
    # the scene camera sees the path start where the gripper is: the home pose's end effector, projected
    # through the shipped calibration into the observed tile, is coloured early-blue
    scene = PinholeCamera.load(share_path("config", "sim_scene_camera.yaml"))
    ee = robot_model.fk(home[: len(robot_model.arm_joints)])[:3, 3]
    x, y = project_to_tile(scene, ee[None], (T, T))[0][0]
    obs = tile(strip, 0, 0)
    window = obs[round(y) - 3 : round(y) + 4, round(x) - 3 : round(x) + 4].astype(int)
    assert ((window[..., 2] > window[..., 0] + 60) & path_pixels(window)).any(), window
    assert path_pixels(obs).sum() > 10
    # the wrist camera's path is drawn too (through forward kinematics), and the real frame tiles show the path
    assert path_pixels(tile(strip, 1, 0)).sum() > 10
    assert path_pixels(tile(strip, 0, 2)).sum() > 10
    # the difference tile is a heat map labelled with the PSNR (grey real vs a random model's prediction)
    diff = tile(strip, 0, 3)
    assert diff.std() > 0 and (diff[1:12, 2:30] == 0).any()


def test_an_unreadable_calibration_refuses_the_start(checkpoint, tmp_path):
    proc = NodeProcess(MODULE, node_params(checkpoint, camera_calibrations=[f"scene={tmp_path / 'nope.yaml'}"]))
    assert proc.wait(60) == 2
    assert "camera_calibrations" in proc.output() and "nope.yaml" in proc.output()
