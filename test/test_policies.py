"""Policy backends (tiny_wam, replay, factory), the filmstrip and the inference scheduler (no ROS)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from wam_ros.control.inference_scheduler import InferenceScheduler
from wam_ros.policies import make_policy
from wam_ros.policies.base import Observation, Policy, PolicyError
from wam_ros.policies.replay_policy import ReplayError
from wam_ros.tiny_wam import CheckpointError, CheckpointMeta, Normalization, TinyWam, TinyWamConfig, save_checkpoint
from wam_ros.visualization.filmstrip import make_filmstrip, observed_only_strip

torch.set_num_threads(2)
JOINTS = ("joint1", "joint2", "joint3", "joint4", "joint5", "joint6", "gripper_finger_joint")


def make_checkpoint(path, **cfg_kw):
    """A small random-init TinyWAM checkpoint (the trained one comes with issue 8)."""
    torch.manual_seed(0)
    cfg = TinyWamConfig(**{"image_size": (32, 32), "d_model": 32, "num_layers": 1, "num_heads": 2,
                           "ae_channels": (8, 8, 8), "action_horizon": 8, "frame_stride": 4, "num_steps": 2,
                           **cfg_kw})
    norm = Normalization(np.zeros(7), np.ones(7), np.full(7, 0.3), np.full(7, 0.01))
    return save_checkpoint(path, TinyWam(cfg), CheckpointMeta(JOINTS, ("scene", "wrist"), 0.1, cfg, norm))


def obs(t=1.0, size=(48, 40), cams=("scene", "wrist")):
    rng = np.random.default_rng(0)
    return Observation({c: rng.integers(0, 256, (*size, 3), dtype=np.uint8) for c in cams}, np.zeros(7),
                       "reach the red cube", t)


def test_tiny_wam_policy_predicts_chunk_and_frames(tmp_path):
    p = make_policy("tiny_wam", checkpoint=make_checkpoint(tmp_path / "ck"), device="cpu", joint_names=JOINTS,
                    cameras=("wrist", "scene"), image_size=(32, 32))
    assert isinstance(p, Policy)
    assert p.spec.joint_names == JOINTS and p.spec.action_horizon == 8 and p.spec.action_period == 0.1
    pred = p.infer(obs())  # camera images of another size are resized to the model's
    assert pred.actions.shape == (8, 7) and pred.actions.dtype == np.float64
    # normalisation from the checkpoint: actions are around action_mean with action_std's spread
    assert np.all(np.abs(pred.actions - 0.3) < 0.2)
    assert set(pred.frames) == {"scene", "wrist"} and pred.frames["scene"].shape == (2, 32, 32, 3)
    np.testing.assert_allclose(pred.frame_offsets, [0.4, 0.8])
    lat = pred.extras["latency"]
    assert lat["total"] >= lat["model"] > 0 and pred.extras["device"] == "cpu"
    fast = p.infer(obs(), decode_frames=False)
    assert fast.frames is None and fast.frame_offsets is None and fast.actions.shape == (8, 7)


def test_tiny_wam_policy_refuses_mismatch_and_bad_observation(tmp_path):
    ck = make_checkpoint(tmp_path / "ck")
    with pytest.raises(CheckpointError, match="joint names mismatch"):
        make_policy("tiny_wam", checkpoint=ck, device="cpu", joint_names=JOINTS[:6])
    with pytest.raises(CheckpointError, match="cameras mismatch"):
        make_policy("tiny_wam", checkpoint=ck, device="cpu", cameras=("scene",))
    with pytest.raises(CheckpointError, match="image size mismatch"):
        make_policy("tiny_wam", checkpoint=ck, device="cpu", image_size=(64, 64))
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        make_policy("tiny_wam", checkpoint=tmp_path / "missing", device="cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="cuda"):
            make_policy("tiny_wam", checkpoint=ck, device="cuda")
    p = make_policy("tiny_wam", checkpoint=ck, device="cpu")
    with pytest.raises(PolicyError, match="wrist"):
        p.infer(obs(cams=("scene",)))
    bad = obs()
    bad.joint_positions = np.full(7, np.nan)
    with pytest.raises(PolicyError, match="joint_positions"):
        p.infer(bad)


def test_context_history_uses_previous_frames(tmp_path):
    p = make_policy("tiny_wam", checkpoint=make_checkpoint(tmp_path / "ck", context_frames=2), device="cpu")
    o1, o2 = obs(), obs()
    o2.images = {c: 255 - im for c, im in o1.images.items()}
    p.infer(o1, decode_frames=False)
    ctx = p._context_frames(o2)
    assert ctx.shape == (2, 2, 32, 32, 3)
    assert not np.array_equal(ctx[0, 0], ctx[0, 1])  # oldest = o1's frame, newest = o2's
    p.reset()
    ctx = p._context_frames(o1)
    np.testing.assert_array_equal(ctx[0, 0], ctx[0, 1])  # after reset the first frame is repeated


def test_unknown_backend_is_named():
    with pytest.raises(ValueError, match="unknown policy backend 'nope'"):
        make_policy("nope")


# ---------------------------------------------------------------------------- replay
def write_lerobot(root, episodes):
    """A minimal LeRobot v3 layout: meta/info.json + data/chunk-000/file-000.parquet."""
    (root / "meta").mkdir(parents=True)
    (root / "meta" / "info.json").write_text(json.dumps(
        {"codebase_version": "v3.0", "fps": 10, "features": {"action": {"dtype": "float32", "shape": [7],
                                                                         "names": list(JOINTS)}}}))
    rows = {"action": [], "observation.state": [], "timestamp": [], "episode_index": []}
    for ep, acts in episodes.items():
        for i, a in enumerate(acts):
            rows["action"].append(a.tolist())
            rows["observation.state"].append(a.tolist())
            rows["timestamp"].append(i * 0.1)
            rows["episode_index"].append(ep)
    (root / "data" / "chunk-000").mkdir(parents=True)
    pq.write_table(pa.table(rows), root / "data" / "chunk-000" / "file-000.parquet")


def test_replay_lerobot_episode_follows_observation_time(tmp_path):
    ep1 = np.arange(20 * 7, dtype=float).reshape(20, 7)
    write_lerobot(tmp_path / "ds", {0: np.zeros((5, 7)), 1: ep1})
    p = make_policy("replay", path=tmp_path / "ds", episode=1, horizon=4, joint_names=JOINTS)
    assert p.spec.action_period == pytest.approx(0.1) and p.spec.joint_names == JOINTS
    np.testing.assert_array_equal(p.infer(obs(t=5.0)).actions, ep1[0:4])
    np.testing.assert_array_equal(p.infer(obs(t=5.3)).actions, ep1[3:7])
    end = p.infer(obs(t=6.8))  # index 18: the last action is held after the end
    np.testing.assert_array_equal(end.actions, ep1[[18, 19, 19, 19]])
    assert end.extras["finished"]
    p.reset()
    np.testing.assert_array_equal(p.infer(obs(t=9.0)).actions, ep1[0:4])
    with pytest.raises(ReplayError, match="episode 7 not found"):
        make_policy("replay", path=tmp_path / "ds", episode=7)
    with pytest.raises(ReplayError, match="joint names mismatch"):
        make_policy("replay", path=tmp_path / "ds", joint_names=("a",) * 7)


def test_replay_npz(tmp_path):
    acts = np.random.default_rng(0).normal(size=(6, 7))
    np.savez(tmp_path / "a.npz", actions=acts, period=0.05)
    with pytest.raises(ReplayError, match="joint_names"):
        make_policy("replay", path=tmp_path / "a.npz")
    p = make_policy("replay", path=tmp_path / "a.npz", horizon=3, joint_names=JOINTS)
    assert p.spec.action_period == 0.05
    np.testing.assert_array_equal(p.infer(obs(t=0.0)).actions, acts[:3])
    np.savez(tmp_path / "b.npz", actions=np.full((3, 7), np.nan), fps=10)
    with pytest.raises(ReplayError, match="finite"):
        make_policy("replay", path=tmp_path / "b.npz", joint_names=JOINTS)
    with pytest.raises(ReplayError, match="neither"):
        make_policy("replay", path=tmp_path / "missing.npz", joint_names=JOINTS)


# ---------------------------------------------------------------------------- filmstrip
def test_filmstrip_layout_and_labels():
    observed = {"scene": np.zeros((64, 64, 3), np.uint8), "wrist": np.zeros((48, 64, 3), np.uint8)}
    predicted = {c: np.full((2, 32, 32, 3), 200, np.uint8) for c in observed}
    img = make_filmstrip(observed, predicted, [0.8, 1.6], tile_size=(96, 96))
    assert img.shape == (2 * 96, 3 * 96, 3) and img.dtype == np.uint8
    # the label box (black with white text) sits in the top-left of each predicted tile
    label = img[2:14, 96 + 2 : 96 + 30]
    assert (label == 255).any() and (label == 0).any()
    assert (img[60:90, 96 + 40 : 96 + 90] == 200).all()  # body of the tile is the prediction
    with pytest.raises(ValueError, match="offsets"):
        make_filmstrip(observed, predicted, [0.8])


def test_a_backend_without_predicted_frames_gets_a_strip_that_says_so():
    observed = {"scene": np.full((64, 64, 3), 90, np.uint8), "wrist": np.full((48, 64, 3), 90, np.uint8)}
    img = observed_only_strip(observed, "no predicted frames from this policy server", tile_size=(96, 96))
    assert img.shape == (2 * 96, 2 * 96, 3)
    assert (img[60:90, 40:90] == 90).all()  # the observed frame
    note = img[:96, 96:]
    assert (note == 40).mean() > 0.8 and (note > 200).any()  # a dark tile with text on it


# ---------------------------------------------------------------------------- scheduler
def test_threshold_trigger():
    s = InferenceScheduler("threshold", threshold=0.5, min_interval=0.0)
    assert s.should_start(0.0)  # no chunk yet
    s.started(0.0)
    assert not s.should_start(0.1)  # one inference at a time
    s.finished(0.3, stamp=0.0, duration=1.6)  # chunk covers until 1.6
    assert s.remaining(0.3) == pytest.approx(1.3)
    assert not s.should_start(1.0)
    assert s.should_start(1.11)  # 0.49 s left
    s.started(1.11)
    s.finished(1.2)  # failed: no chunk; the old one still counts
    assert s.should_start(1.2)


def test_rate_trigger_and_min_interval():
    s = InferenceScheduler("rate", rate=2.0, min_interval=0.2)
    s.started(0.0)
    s.finished(0.1, 0.0, 1.6)
    assert not s.should_start(0.4) and s.should_start(0.5)
    s.started(0.5)
    s.finished(0.55)  # failure: retried no faster than min_interval, and here the rate
    assert not s.should_start(0.6) and s.should_start(1.0)


def test_sync_waits_until_chunk_fully_executed():
    s = InferenceScheduler("sync", min_interval=0.0)
    s.started(0.0)
    s.finished(0.7, stamp=0.0, duration=1.6)  # arrived 0.7 s after its observation
    assert not s.should_start(1.6)  # executed from arrival: until 2.3
    assert not s.should_start(2.29) and s.should_start(2.3)
    s.reset()
    assert s.should_start(0.0)


def test_scheduler_rejects_bad_values():
    with pytest.raises(ValueError, match="trigger mode"):
        InferenceScheduler("sometimes")
    with pytest.raises(ValueError, match="rate"):
        InferenceScheduler("rate", rate=0.0)
