"""The world head's cues, rollouts and trainer (no ROS; MuJoCo renders headless)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wam_ros.camera.pinhole import PinholeCamera
from wam_ros.resources import resolve
from wam_ros.tiny_wam import Normalization, TinyWam, TinyWamConfig, load_checkpoint, save_checkpoint
from wam_ros.tiny_wam.checkpoint import CheckpointMeta
from wam_ros.tiny_wam.image_metrics import changed_pixels
from wam_ros.tiny_wam.world_cues import WorldCues, WorldCuesError

torch.set_num_threads(2)
JOINTS = ("joint1", "joint2", "joint3", "joint4", "joint5", "joint6", "gripper_finger_joint")
CAMERAS = ("scene", "wrist")


def calibrations() -> dict[str, PinholeCamera]:
    return {c: PinholeCamera.load(resolve(f"config/sim_{c}_camera.yaml")) for c in CAMERAS}


@pytest.fixture(scope="module")
def cues() -> WorldCues:
    return WorldCues(CAMERAS, calibrations(), JOINTS, (64, 64), plane_z=0.02)


def home() -> np.ndarray:
    from wam_ros.robot.model import RobotModel
    from wam_ros.sim.mujoco_arm import initial_positions

    return initial_positions(RobotModel.load())


def test_no_motion_means_identity_warp_and_equal_arm_maps(cues):
    q = home()
    grids, maps = cues(q, np.stack([q, q]))
    assert grids.shape == (2, 2, 64, 64, 2) and maps.shape == (2, 2, 3, 64, 64)
    yy, xx = np.meshgrid(np.linspace(-1, 1, 64), np.linspace(-1, 1, 64), indexing="ij")
    identity = np.stack([xx, yy], -1)
    np.testing.assert_allclose(grids[0], np.broadcast_to(identity, grids[0].shape), atol=1e-6)  # static camera
    valid = maps[1, 0, 0] > 0
    assert valid.mean() > 0.5  # the wrist camera looks down at the table: most pixels find the plane
    np.testing.assert_allclose(grids[1, 0][valid], identity[valid], atol=1e-4)
    np.testing.assert_array_equal(maps[:, :, 1], maps[:, :, 2])  # the arm stays where it is
    assert maps[0, 0, 1].max() > 0.9  # the scene camera sees the arm


def test_arm_maps_mark_the_pixels_a_motion_changes(cues):
    """Rendered in the simulator: where the arm moves (changed pixels) is where the maps put it, now or then."""
    from wam_ros.params import defaults
    from wam_ros.params.sim_robot_node import PARAMS
    from wam_ros.sim.mujoco_arm import ArmRenderer
    from wam_ros.sim.sim_env import SimEnv
    from wam_ros.tiny_wam.data import resize_frame

    env = SimEnv()
    sim = defaults(PARAMS)
    renderer = ArmRenderer(env.arm.model, sim["image_width"], sim["image_height"])
    try:
        q0 = env.arm.actuated_positions()
        q1 = q0.copy()
        q1[0] += 0.5  # swing the base joint
        q1[1] += 0.3
        frames = []
        for q in (q0, q1):
            env.arm.set_joint_positions(q)
            frames.append(resize_frame(renderer.render(env.arm.data.qpos.copy())["scene"], (64, 64)))
    finally:
        renderer.close()
    _, maps = cues(q0, np.stack([q1, q1]))
    arm = (maps[0, 0, 1] > 0.5) | (maps[0, 0, 2] > 0.5)
    changed = changed_pixels(frames[0], frames[1], 0.1)
    assert arm.sum() > 20 and changed.sum() > 20
    assert (arm & changed).sum() / arm.sum() > 0.5  # most marked pixels did change
    assert (maps[0, 0, 1] != maps[0, 0, 2]).any()


def test_cues_refuse_a_camera_without_calibration():
    with pytest.raises(WorldCuesError, match=r"no.*\['top'\]|none for \['top'\]"):
        WorldCues(("scene", "top"), calibrations(), JOINTS, (64, 64))


@pytest.mark.slow
def test_world_training_keeps_the_action_half_and_the_policy_predicts_frames(tmp_path):
    """Rollouts -> a world head on a frozen checkpoint: every other weight is unchanged, the policy's actions are
    the same as before, and it now returns frames from the head."""
    from wam_ros.policies.base import Observation
    from wam_ros.policies.tiny_wam_policy import TinyWamPolicy
    from wam_ros.tiny_wam.world_data import WorldRollouts, collect
    from wam_ros.tiny_wam.world_training import WorldTrainOptions, train_world

    data = collect(episodes=2, first_seed=5, chunks=1, image_size=(32, 32), checkpoint=None, log_every=0)
    assert data.frames.shape == (2, 2, 25, 32, 32, 3) and data.actions.shape == (2, 24, 7)
    assert data.frames[:, 0, -1].astype(int).sum() != data.frames[:, 0, 0].astype(int).sum()  # the arm moved
    path = data.save(tmp_path / "rollouts.npz")
    assert WorldRollouts.load(path, path).frames.shape[0] == 4

    torch.manual_seed(0)
    cfg = TinyWamConfig(image_size=(32, 32), d_model=32, num_layers=2, num_heads=2, ae_channels=(8, 16, 16),
                        action_horizon=24, frame_stride=8, num_steps=2)
    init = tmp_path / "init"
    norm = Normalization(np.zeros(7), np.ones(7), np.zeros(7), np.full(7, 0.1))
    save_checkpoint(init, TinyWam(cfg), CheckpointMeta(JOINTS, CAMERAS, 0.1, cfg, norm))
    out = tmp_path / "world"
    train_world(WorldTrainOptions([path], init, out, calibrations(), steps=3, batch_size=2, eval_every=3, starts=2,
                                  val_fraction=0.5, model={"world_channels": [8, 8, 16]}))
    before, _ = load_checkpoint(init)
    after, meta = load_checkpoint(out)
    assert after.world_head is not None and sorted(meta.calibrations) == list(CAMERAS)
    assert meta.extra["world_head"]["history"][-1]["val"]["copy"] > 0
    trained = after.state_dict()
    for k, v in before.state_dict().items():
        assert torch.equal(v, trained[k]), k
    assert any(k.startswith("world_head.") for k in trained)

    rng = np.random.default_rng(0)
    obs = Observation({c: rng.integers(0, 256, (120, 160, 3), dtype=np.uint8) for c in CAMERAS},
                      data.states[0, 0], "reach the red cube", 0.0)
    old = TinyWamPolicy(init, device="cpu").infer(obs, decode_frames=True)
    new_policy = TinyWamPolicy(out, device="cpu")
    new = new_policy.infer(obs, decode_frames=True)
    np.testing.assert_allclose(new.actions, old.actions, atol=1e-5)
    assert set(new.frames) == set(CAMERAS) and new.frames["scene"].shape == (2, 32, 32, 3)
    assert new.frames["scene"].dtype == np.uint8 and list(new.frame_offsets) == pytest.approx([0.8, 1.6])
    new_policy.reset()
    np.testing.assert_allclose(new_policy.infer(obs, decode_frames=False).actions, new.actions, atol=1e-6)


def test_wam_train_refuses_a_new_model_with_a_world_head(tmp_path):
    """wam-train has demonstrations, not rollouts with cues: a world head it built would never train."""
    from wam_ros.tiny_wam.training import TrainingError, TrainOptions, build_model

    with pytest.raises(TrainingError, match="world_training"):
        build_model(TrainOptions(tmp_path, tmp_path / "out", model={"world_head": True}), JOINTS, CAMERAS)
