"""wam-train on a small LeRobot v3 dataset written by the project's own writer."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch

from wam_ros.dataset.lerobot_v3 import DatasetSpec
from wam_ros.dataset.writer import LeRobotDatasetWriter
from wam_ros.policies.base import Observation
from wam_ros.policies.tiny_wam_policy import TinyWamPolicy
from wam_ros.tiny_wam.training import TrainOptions, make_sample, split_episodes, train

JOINTS = ("j1", "j2", "j3")
TINY = {"image_size": [16, 16], "d_model": 32, "num_layers": 1, "num_heads": 2, "ae_channels": [8, 8, 8],
        "action_horizon": 4, "future_frames": 1, "frame_stride": 4, "num_steps": 2}  # fmt: skip


def _write_dataset(root, episodes=6, length=12):
    """Each episode: a bright square whose column encodes the direction the joints then move."""
    w = LeRobotDatasetWriter(root, DatasetSpec(fps=10, joint_names=JOINTS, cameras={"scene": (16, 16)}))
    for e in range(episodes):
        direction = 1.0 if e % 2 else -1.0
        w.start_episode("reach the red cube" if e % 2 else "reach the blue cube")
        for t in range(length):
            img = np.zeros((16, 16, 3), np.uint8)
            img[4:12, (10 if direction > 0 else 2) : (14 if direction > 0 else 6)] = 255
            q = np.full(3, direction * 0.05 * t, np.float32)
            w.add_frame(q, q + direction * 0.05, {"scene": img}, stamp=t / 10)
        w.save_episode()
    w.close()


@pytest.mark.slow
def test_train_writes_a_checkpoint_that_the_policy_loads(tmp_path):
    _write_dataset(tmp_path / "ds")
    out = tmp_path / "ckpt"
    train(TrainOptions(tmp_path / "ds", out, steps=60, batch_size=8, lr=3e-3, eval_every=20, checkpoint_every=30,
                       val_episodes=2, num_threads=1, model=TINY))
    meta = json.loads((out / "config.json").read_text())
    assert meta["joint_names"] == list(JOINTS) and meta["cameras"] == ["scene"]
    assert meta["action_period"] == pytest.approx(0.1)
    hist = meta["extra"]["history"]
    assert [h["step"] for h in hist] == [20, 40, 60]
    assert hist[-1]["train"]["loss"] < hist[0]["train"]["loss"] * 1.5  # finite and not diverging
    assert all(np.isfinite(h["val"]["loss"]) for h in hist)
    policy = TinyWamPolicy(out, device="cpu", joint_names=JOINTS, cameras=["scene"])
    pred = policy.infer(Observation({"scene": np.zeros((48, 64, 3), np.uint8)}, np.zeros(3), "reach", 0.0))
    assert pred.actions.shape == (4, 3) and np.all(np.isfinite(pred.actions))


def test_resume_continues_from_the_saved_step(tmp_path):
    _write_dataset(tmp_path / "ds", episodes=3)
    out = tmp_path / "ckpt"
    opts = dict(batch_size=4, eval_every=10, checkpoint_every=10, val_episodes=1, num_threads=1, model=TINY)
    train(TrainOptions(tmp_path / "ds", out, steps=10, **opts))
    train(TrainOptions(tmp_path / "ds", out, steps=20, resume=True, **opts))
    hist = json.loads((out / "config.json").read_text())["extra"]["history"]
    assert [h["step"] for h in hist] == [10, 20]


def test_windows_align_actions_to_the_next_frames():
    from wam_ros.tiny_wam.model import TinyWamConfig
    from wam_ros.tiny_wam.training import Episode

    cfg = TinyWamConfig(**{**TINY, "num_joints": 1, "num_cameras": 1, "context_frames": 2})
    frames = np.arange(5, dtype=np.uint8)[None, :, None, None, None] * np.ones((1, 5, 16, 16, 3), np.uint8)
    ep = Episode("t", np.arange(5.0)[:, None], 10 + np.arange(5.0)[:, None], frames)
    s = make_sample(ep, 1, cfg)
    assert s["actions"][:, 0].tolist() == [12, 13, 14, 14]  # action i is the command at frame t+1+i
    assert s["images"][0, :, 0, 0, 0].tolist() == [0, 1]  # context: frames t-1, t
    assert s["future_frames"][0, :, 0, 0, 0].tolist() == [4]  # frame step 4 -> clipped to the last frame
    assert s["state"].tolist() == [1.0]
    assert s["goal"].tolist() == [4.0]  # the goal token's target: the state the episode ends in


def test_colour_augmented_windows_rename_the_target_with_its_pixels():

    from wam_ros.tiny_wam.color_permutation import COLOR_WORDS
    from wam_ros.tiny_wam.model import TinyWamConfig, tokenize
    from wam_ros.tiny_wam.training import Episode, WindowSampler

    cfg = TinyWamConfig(**{**TINY, "num_joints": 1, "num_cameras": 1})
    frames = np.full((1, 3, 16, 16, 3), 128, np.uint8)
    frames[:, :, 4:8, 4:8] = (220, 20, 20)  # the red cube, which the instruction names
    ep = Episode("reach the red cube", np.zeros((3, 1)), np.ones((3, 1)), frames)
    sampler = WindowSampler([ep], cfg, seed=0, augment_colors=True)
    seen = set()
    for _ in range(12):
        b = sampler.batch(4)
        cube = b["images"][:, 0, 0, :, 5, 5]  # [B, 3] in [-1, 1]
        for ids, rgb, fut in zip(b["instruction_ids"], cube, b["future_frames"][:, 0, 0, :, 5, 5], strict=True):
            named = COLOR_WORDS[int(rgb.argmax())]
            assert torch.equal(ids, tokenize([f"reach the {named} cube"], cfg.vocab_size, cfg.max_text_tokens)[0])
            assert torch.equal(rgb, fut)  # context and future frames permuted alike
            seen.add(named)
        assert (b["images"][:, 0, 0, :, 0, 0] == b["images"][0, 0, 0, :, 0, 0]).all()  # the grey scene stays
        assert (b["actions"] == 1).all()
    assert seen == set(COLOR_WORDS)


def test_split_is_by_episode_and_deterministic():
    a = split_episodes(20, 0.1, seed=3)
    assert a == split_episodes(20, 0.1, seed=3)
    assert len(a[1]) == 2 and not set(a[0]) & set(a[1])


@pytest.mark.parametrize("fraction", [0.0, 0.5, 1.0])
def test_start_fraction_draws_that_share_of_windows_from_episode_starts(fraction):
    """Each frame's state encodes its index, so the batch's states say which windows were drawn."""
    from wam_ros.tiny_wam.model import TinyWamConfig
    from wam_ros.tiny_wam.training import Episode, WindowSampler

    cfg = TinyWamConfig(**{**TINY, "num_joints": 1, "num_cameras": 1})
    length = 40
    frames = np.zeros((1, length, 16, 16, 3), np.uint8)
    ep = Episode("t", np.arange(length, dtype=float)[:, None], np.zeros((length, 1)), frames)
    sampler = WindowSampler([ep], cfg, seed=0, start_fraction=fraction, start_frames=2)
    t = np.concatenate([sampler.batch(50)["state"][:, 0].numpy() for _ in range(8)])
    share = float(np.mean(t < 2))
    # uniform windows land on frames 0-1 with p = 2/40 as well
    expected = fraction + (1 - fraction) * 2 / length
    assert share == pytest.approx(expected, abs=0.07)


def test_bad_start_fraction_is_refused():
    from wam_ros.tiny_wam.model import TinyWamConfig
    from wam_ros.tiny_wam.training import TrainingError, WindowSampler

    with pytest.raises(TrainingError, match="start_fraction"):
        WindowSampler([], TinyWamConfig(**TINY), seed=0, start_fraction=1.5)


@pytest.mark.slow
def test_init_from_fine_tunes_a_checkpoint_that_predates_a_new_head(tmp_path):
    """--init-from: the checkpoint's weights, normalisation and config are the start, a head the code
    added since (here: the pointer-goal head, removed from the file) starts fresh; the same file is
    refused by the strict loader, and a file with weights the model lacks is refused by both."""
    from safetensors.torch import load_file, save_file

    from wam_ros.tiny_wam.checkpoint import CheckpointError, load_checkpoint

    _write_dataset(tmp_path / "ds", episodes=3)
    opts = dict(batch_size=4, eval_every=10, checkpoint_every=10, val_episodes=1, num_threads=1, model=TINY)
    old = tmp_path / "old"
    train(TrainOptions(tmp_path / "ds", old, steps=10, **opts))
    weights = old / "model.safetensors"
    state = load_file(str(weights))
    trained = {k: v for k, v in state.items() if not k.startswith("pointer_goal_out.")}
    assert len(trained) < len(state)
    save_file(trained, str(weights))
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(old)
    new = tmp_path / "new"
    train(TrainOptions(tmp_path / "ds", new, steps=10, init_from=old, **opts))
    tuned, _ = load_checkpoint(new)
    start, _ = load_checkpoint(old, allow_new_modules=True)
    assert tuned.cfg == start.cfg
    assert torch.equal(tuned.state_mean, start.state_mean)  # the normalisation came along
    moved = [k for k, v in tuned.state_dict().items() if k in trained and not torch.equal(v, trained[k])]
    assert moved, "fine-tuning changed no weight"
    save_file({**state, "extra.weight": torch.zeros(1)}, str(weights))
    with pytest.raises(CheckpointError, match=r"extra\.weight"):
        load_checkpoint(old, allow_new_modules=True)


def test_pointer_targets_land_on_the_named_cube(tmp_path):
    """The label for the target pointer is the episode's final end-effector position (here moved down by the
    hover height, to the cube) projected into the calibrated cameras: the static scene camera, and the wrist
    camera at each frame's arm pose. When the arm ends at the named cube (as the expert's episodes do), it
    lands on that cube's pixels in the model's 64x64 frames (checked against MuJoCo renders)."""
    from wam_ros.camera.pinhole import PinholeCamera
    from wam_ros.resources import share_path
    from wam_ros.robot.model import RobotModel
    from wam_ros.sim.mujoco_arm import ArmRenderer
    from wam_ros.sim.reach_task import goal_point
    from wam_ros.sim.scripted_expert import ScriptedExpert
    from wam_ros.sim.sim_env import SimEnv
    from wam_ros.tiny_wam.color_permutation import saturated_mask
    from wam_ros.tiny_wam.data import resize_frame
    from wam_ros.tiny_wam.model import TinyWamConfig
    from wam_ros.tiny_wam.training import Episode, TrainingError, attach_pointer_targets

    env = SimEnv()
    renderer = ArmRenderer(env.arm.model, 160, 120)
    expert = ScriptedExpert(env.robot)
    joints = RobotModel.load().actuated_joints
    cfg = TinyWamConfig()
    cams = ("scene", "wrist")
    calib = {c: PinholeCamera.load(share_path("config", f"sim_{c}_camera.yaml")) for c in cams}
    grid = np.array(cfg.image_size) // 2  # the pointer's coordinates: pixel centres of its feature grid
    checked = {c: 0 for c in cams}
    try:
        for seed in (3, 11, 20, 29):
            env.reset(seed)
            q = env.arm.actuated_positions()
            shot = renderer.render(env.arm.data.qpos.copy(), cams)
            goal = np.array(q)
            for _ in range(6):
                goal[:6] = expert.ik(goal_point(env.episode.objects[env.episode.target]), goal[:6], iterations=20)
            ep = Episode(env.episode.instruction, np.stack([q, goal]), np.stack([goal, goal]),
                         np.zeros((2, 2, *cfg.image_size, 3), np.uint8))
            assert attach_pointer_targets([ep], joints, cams, calib, cfg, (0.0, 0.0, -0.04)) >= 2
            channel = ["red_cube", "green_cube", "blue_cube"].index(env.episode.target)
            rendered = [int((saturated_mask(shot[c]) & (shot[c].argmax(-1) == channel)).sum()) for c in cams]
            assert ep.target_visible[0].tolist() == [n > 0 for n in rendered], rendered
            assert np.array_equal(ep.target_yx[0, 0], ep.target_yx[1, 0])  # static camera: one pixel
            assert not np.allclose(ep.target_yx[0, 1], ep.target_yx[1, 1])  # wrist camera: moves with the arm
            for c, cam in enumerate(cams):
                if not rendered[c]:
                    continue
                checked[cam] += 1
                frame = resize_frame(shot[cam], cfg.image_size)
                v, u = np.nonzero(saturated_mask(frame) & (frame.argmax(-1) == channel))
                share = (np.array([v.mean(), u.mean()]) + 0.5) / np.array(cfg.image_size)
                cube_yx = 2 * (share * grid - 0.5) / (grid - 1) - 1
                # within ~1.5 pixels of the 64x64 frame; the cubes are >= 9 cm (several pixels) apart
                assert np.linalg.norm(ep.target_yx[0, c] - cube_yx) < 1.5 * 2 / 63, (cam, ep.target_yx[0, c], cube_yx)
    finally:
        renderer.close()
    assert min(checked.values()) >= 1, checked
    with pytest.raises(TrainingError, match="top"):
        attach_pointer_targets([ep], joints, ("scene",), {"top": calib["scene"]}, cfg)


def test_init_from_may_change_loss_weights_not_the_architecture(tmp_path):
    from wam_ros.tiny_wam.training import TrainingError

    _write_dataset(tmp_path / "ds", episodes=3)
    opts = dict(batch_size=4, eval_every=10, checkpoint_every=10, val_episodes=1, num_threads=1)
    train(TrainOptions(tmp_path / "ds", tmp_path / "old", steps=5, model=TINY, **opts))
    train(TrainOptions(tmp_path / "ds", tmp_path / "new", steps=5, init_from=tmp_path / "old",
                       model={"goal_teacher_forcing": 0.5}, **opts))
    assert json.loads((tmp_path / "new" / "config.json").read_text())["model"]["goal_teacher_forcing"] == 0.5
    with pytest.raises(TrainingError, match="d_model"):
        train(TrainOptions(tmp_path / "ds", tmp_path / "bad", steps=5, init_from=tmp_path / "old",
                           model={"d_model": 64}, **opts))


def test_a_bad_calibration_file_is_refused_before_loading_the_dataset(tmp_path):
    from wam_ros.tiny_wam.training import main

    _write_dataset(tmp_path / "ds", episodes=2)
    bad = tmp_path / "cam.yaml"
    bad.write_text("camera: scene\nwidth: 16\nheight: 16\nK: [1, 0, 8, 0, 1, 8, 0, 0, 1]\n")
    with pytest.raises(SystemExit, match="base_from_camera / ee_from_camera"):
        main([str(tmp_path / "ds"), "--out", str(tmp_path / "o"), "--calibration", f"scene={bad}"])
    with pytest.raises(SystemExit, match="CAMERA=FILE"):
        main([str(tmp_path / "ds"), "--out", str(tmp_path / "o"), "--calibration", str(bad)])
    assert not (tmp_path / "o").exists()  # nothing written


# ------------------------------------------------------------------ train's named steps
def _opts(tmp_path, **kw):
    return TrainOptions(tmp_path / "ds", tmp_path / "out", steps=3, batch_size=2, **{"model": dict(TINY), **kw})


def test_learning_rate_warms_up_then_decays_to_zero():
    from wam_ros.tiny_wam.training import learning_rate

    lrs = [learning_rate(s, 1e-3, 1000) for s in range(1001)]
    assert lrs[0] == pytest.approx(1e-3 / 101) and lrs[100] == pytest.approx(1e-3)  # warm-up: steps // 10 + 1
    assert all(b <= a for a, b in itertools.pairwise(lrs[100:])) and lrs[1000] == pytest.approx(0.0)
    assert learning_rate(500, 1e-3, 10_000) == pytest.approx(1e-3 * 0.5 * (1 + np.cos(np.pi * 300 / 9800)))


def test_build_model_new_or_refused_when_the_dataset_does_not_fit(tmp_path):
    from wam_ros.tiny_wam.training import TrainingError, build_model

    model, meta = build_model(_opts(tmp_path), JOINTS, ("scene",))
    assert meta is None and model.cfg.num_joints == 3 and model.cfg.num_cameras == 1
    with pytest.raises(TrainingError, match="model has 3 joints/2 cameras"):
        build_model(_opts(tmp_path, model={**TINY, "num_cameras": 2}), JOINTS, ("scene",))


def test_build_model_from_init_from_checks_its_layout(tmp_path):
    from wam_ros.tiny_wam.checkpoint import CheckpointMeta, save_checkpoint
    from wam_ros.tiny_wam.data import Normalization
    from wam_ros.tiny_wam.model import TinyWam, TinyWamConfig
    from wam_ros.tiny_wam.training import TrainingError, build_model

    cfg = TinyWamConfig(**{**TINY, "num_joints": 3, "num_cameras": 1})
    norm = Normalization(np.zeros(3), np.ones(3), np.zeros(3), np.ones(3))

    ck = save_checkpoint(tmp_path / "ck", TinyWam(cfg), CheckpointMeta(JOINTS, ("scene",), 0.1, cfg, norm))
    _, meta = build_model(_opts(tmp_path, init_from=ck), JOINTS, ("scene",))
    assert meta is not None and tuple(meta.joint_names) == JOINTS
    with pytest.raises(TrainingError, match="--init-from"):
        build_model(_opts(tmp_path, init_from=ck), ("a", "b", "c"), ("scene",))


def test_samplers_without_validation_episodes():
    from wam_ros.tiny_wam.model import TinyWamConfig
    from wam_ros.tiny_wam.training import Episode, make_samplers

    cfg = TinyWamConfig(**{**TINY, "num_joints": 3, "num_cameras": 1})
    ep = Episode("t", np.zeros((5, 3)), np.zeros((5, 3)), np.zeros((1, 5, 16, 16, 3), np.uint8))
    opts = TrainOptions(None, None, start_fraction=0.5, start_frames=2)
    s = make_samplers([ep], [], cfg, opts)
    assert s.val is None and s.val_start is None and s.train.start_fraction == 0.5
    s = make_samplers([ep], [ep], cfg, opts)
    assert s.val.start_fraction == 0.0 and s.val_start.start_fraction == 1.0 and len(s.val_start.start_index) == 2


def test_train_step_moves_the_weights_at_the_given_rate_and_state_round_trips(tmp_path):
    from wam_ros.tiny_wam.model import TinyWam, TinyWamConfig
    from wam_ros.tiny_wam.training import Episode, WindowSampler, restore_train_state, train_step

    torch.manual_seed(0)
    cfg = TinyWamConfig(**{**TINY, "num_joints": 3, "num_cameras": 1})
    model = TinyWam(cfg)
    rng = np.random.default_rng(0)
    ep = Episode("reach", rng.normal(size=(6, 3)), rng.normal(size=(6, 3)),
                 rng.integers(0, 256, (1, 6, 16, 16, 3), dtype=np.uint8))
    optim = torch.optim.AdamW(model.parameters(), lr=1.0)
    before = [p.detach().clone() for p in model.parameters()]
    losses = train_step(model, optim, WindowSampler([ep], cfg, 0).batch(2), 0.0)
    assert "loss" in losses and optim.param_groups[0]["lr"] == 0.0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))  # lr 0: no change
    train_step(model, optim, WindowSampler([ep], cfg, 0).batch(2), 1e-3)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    path = tmp_path / "state.pt"
    torch.save({"optimizer": optim.state_dict(), "step": 7, "torch_rng": torch.get_rng_state(),
                "history": json.dumps([{"step": 7}])}, path)
    fresh = torch.optim.AdamW(model.parameters(), lr=1.0)
    assert restore_train_state(path, fresh) == (7, [{"step": 7}])
    assert fresh.state_dict()["state"].keys() == optim.state_dict()["state"].keys()


def test_history_entry_has_validation_only_with_validation_windows():
    from wam_ros.tiny_wam.model import TinyWam, TinyWamConfig
    from wam_ros.tiny_wam.training import Episode, Samplers, WindowSampler, history_entry

    torch.manual_seed(0)
    cfg = TinyWamConfig(**{**TINY, "num_joints": 3, "num_cameras": 1})
    model = TinyWam(cfg)
    ep = Episode("reach", np.zeros((6, 3)), np.zeros((6, 3)), np.zeros((1, 6, 16, 16, 3), np.uint8))
    losses = {"loss": torch.tensor(1.5)}
    train_only = history_entry(3, losses, model, Samplers(WindowSampler([ep], cfg, 0), None, None), 2, 0, 1.23)
    assert train_only == {"step": 3, "train": {"loss": 1.5}, "elapsed_s": 1.2}
    val = WindowSampler([ep], cfg, 1)
    start = WindowSampler([ep], cfg, 1, start_fraction=1.0)
    entry = history_entry(3, losses, model, Samplers(val, val, start), 2, 0, 0.0)
    assert {"action", "goal"} <= set(entry["val"]) and {"action", "goal"} <= set(entry["val_start"])
    assert model.training  # evaluation puts the model back into training mode
