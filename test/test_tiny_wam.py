"""TinyWAM model, batch format and checkpoints (no ROS)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from wam_ros.tiny_wam import (
    CheckpointError,
    CheckpointMeta,
    Normalization,
    TinyWam,
    TinyWamConfig,
    TinyWamConfigError,
    check_compatible,
    example_batch,
    load_checkpoint,
    load_meta,
    save_checkpoint,
    tokenize,
)
from wam_ros.tiny_wam.data import frames_to_tensor

torch.set_num_threads(2)
JOINTS = ("joint1", "joint2", "joint3", "joint4", "joint5", "joint6", "gripper_finger_joint")
SMALL = dict(image_size=(32, 32), d_model=32, num_layers=2, num_heads=2, ae_channels=(8, 16, 16),
             action_horizon=8, frame_stride=4, num_steps=3)


def small_model(**kw) -> TinyWam:
    torch.manual_seed(0)
    return TinyWam(TinyWamConfig(**{**SMALL, **kw}))


@pytest.mark.slow
def test_loss_forward_backward_shapes_and_gradients():
    m = small_model()
    batch = example_batch(m.cfg, batch_size=3)
    assert batch["images"].shape == (3, 2, 1, 3, 32, 32)
    assert batch["future_frames"].shape == (3, 2, 2, 3, 32, 32)
    assert batch["actions"].shape == (3, 8, 7) and batch["instruction_ids"].dtype == torch.long
    out = m.loss(batch)
    assert set(out) == {"loss", "action", "frame", "recon", "goal", "pointer_goal", "pointer_pixel", "world"}
    assert out["world"] == 0  # no world head by default
    assert out["pointer_pixel"] == 0  # no target pixels in this batch
    assert all(torch.isfinite(v) for v in out.values())
    out["loss"].backward()
    torch.optim.SGD(m.parameters(), lr=0.1).step()  # the output heads start at zero (as in DiT): move them once
    m.zero_grad()
    m.loss(batch)["loss"].backward()
    # every learned part gets gradient: encoder, transformer, both heads, text embedding
    for name in ("autoencoder.encoder.0.weight", "autoencoder.decoder.0.weight", "blocks.0.qkv.weight",
                 "action_out.weight", "frame_out.weight", "text_embed.weight", "state_in.weight",
                 "context_encoder.net.0.weight", "goal_query", "goal_out.weight"):
        g = dict(m.named_parameters())[name].grad
        assert g is not None and g.abs().sum() > 0, name


def test_sample_shapes_and_action_only_path_gives_same_actions():
    m = small_model().eval()
    b = example_batch(m.cfg, batch_size=2)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    a_full, tok = m.sample(b["images"], b["state"], b["instruction_ids"], 4, True, g1)
    a_fast, none = m.sample(b["images"], b["state"], b["instruction_ids"], 4, False, g2)
    assert a_full.shape == (2, 8, 7) and none is None
    frames = m.decode_tokens(tok)
    assert frames.shape == (2, 2, 2, 3, 32, 32) and frames.abs().max() <= 1
    torch.testing.assert_close(a_full, a_fast)


def test_instruction_changes_the_actions():
    m = small_model()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    for _ in range(3):  # break the zero-initialised heads' symmetry
        opt.zero_grad()
        m.loss(example_batch(m.cfg, 2))["loss"].backward()
        opt.step()
    m.eval()
    b = example_batch(m.cfg, 1)
    other = tokenize(["reach the blue cube"], m.cfg.vocab_size, m.cfg.max_text_tokens)
    a1, _ = m.sample(b["images"], b["state"], b["instruction_ids"], 2, False, torch.Generator().manual_seed(0))
    a2, _ = m.sample(b["images"], b["state"], other, 2, False, torch.Generator().manual_seed(0))
    assert not torch.allclose(a1, a2)


@pytest.mark.slow
def test_overfits_a_tiny_batch():
    """Loss (evaluated at fixed flow times/noise) falls on one fixed batch in a few dozen steps."""
    m = small_model()
    batch = example_batch(m.cfg, batch_size=2, seed=1)

    def evaluate() -> dict[str, float]:
        torch.manual_seed(123)
        with torch.no_grad():
            outs = [m.loss(batch) for _ in range(4)]
        return {k: float(np.mean([float(o[k]) for o in outs])) for k in outs[0]}

    before = evaluate()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for _ in range(40):
        opt.zero_grad()
        m.loss(batch)["loss"].backward()
        opt.step()
    after = evaluate()
    assert after["loss"] < 0.85 * before["loss"], (before, after)
    assert after["action"] < 0.95 * before["action"] and after["frame"] < 0.8 * before["frame"], (before, after)
    assert after["goal"] < 0.5 * before["goal"], (before, after)


@pytest.mark.parametrize("mode", ["delta", "absolute"])
def test_action_mode_sets_what_the_chunk_is_relative_to(mode):
    """A fresh model's flow heads are zero, so the sampled chunk is the noise mapped through the action
    normalisation: shifting the measured state shifts a delta-mode chunk by exactly that much."""
    m = small_model(action_mode=mode).eval()
    b = example_batch(m.cfg, batch_size=1)
    shift = torch.linspace(-0.3, 0.3, m.cfg.num_joints)
    a0, _ = m.sample(b["images"], b["state"], b["instruction_ids"], 2, False, torch.Generator().manual_seed(1))
    a1, _ = m.sample(b["images"], b["state"] + shift, b["instruction_ids"], 2, False, torch.Generator().manual_seed(1))
    expected = shift.expand_as(a0) if mode == "delta" else torch.zeros_like(a0)
    torch.testing.assert_close(a1 - a0, expected)


def test_coord_channels_let_the_context_encoder_see_where_a_pixel_is():
    """Without coordinates a conv encoder is translation-equivariant: a uniform image gives the same
    token in every interior cell. With them, the cells differ."""
    flat = torch.zeros(1, 3, 64, 64)  # cells (3, 3) and (4, 4) see no padding (receptive field 34 px)
    for coords, same in ((False, True), (True, False)):
        enc = small_model(coord_channels=coords, image_size=(64, 64), target_pointer=False).context_encoder
        tok = enc(flat)[0, :64].reshape(8, 8, -1)  # the grid tokens (keypoint tokens follow)
        assert torch.allclose(tok[3, 3], tok[4, 4], atol=1e-6) is same


def test_keypoint_tokens_are_the_soft_argmax_of_their_feature_maps():
    """Spatial softmax: a feature map with one strong peak puts its keypoint on that pixel, in
    [-1, 1] image coordinates; each context frame gets (H/8)*(W/8) grid tokens + K keypoint tokens."""
    m = small_model(image_size=(64, 64), keypoints=3, target_pointer=False)
    enc = m.context_encoder
    assert enc(torch.zeros(2, 3, 64, 64)).shape == (2, 64 + 3, m.cfg.d_model)
    peaks = [(5, 20), (31, 0), (16, 16)]  # (row, col) on the 32x32 stem grid

    def spikes(h: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(h.shape[0], 3, 32, 32)
        for i, (r, c) in enumerate(peaks):
            out[:, i, r, c] = 30.0
        return out

    object.__setattr__(enc, "kp_net", spikes)  # a stand-in head with known maps (not a Module)
    pos = enc.keypoint_positions(torch.zeros(1, 32, 32, 32))[0]
    expected = torch.tensor([[-1 + 2 * r / 31, -1 + 2 * c / 31] for r, c in peaks])
    assert torch.allclose(pos, expected, atol=1e-3)
    assert m.n_ctx == m.cfg.num_cameras * m.cfg.context_frames * (64 + 3)


def test_instruction_moves_only_the_pointer_token():
    """Two instructions over the same frame give the same grid and keypoint tokens and different pointer
    tokens (the last of each frame); without ``target_pointer`` the instruction never reaches the encoder."""
    frames = torch.rand(1, 2, 1, 3, 64, 64).expand(2, -1, -1, -1, -1, -1)
    ids = tokenize(["reach the red cube", "reach the blue cube"], SMALL.get("vocab_size", 1024), 16)
    for pointer in (True, False):
        m = small_model(image_size=(64, 64), keypoints=4, target_pointer=pointer).eval()
        per_frame = 64 + 4 + pointer
        assert m.context_encoder.num_tokens == per_frame
        with torch.no_grad():
            tok = m.context_tokens(frames, ids).reshape(2, 2, per_frame, -1)
        assert torch.allclose(tok[0, :, :68], tok[1, :, :68], atol=1e-6)  # grid + keypoints: the image only
        if pointer:
            assert not torch.allclose(tok[0, :, 68], tok[1, :, 68], atol=1e-4)
    with pytest.raises(ValueError, match="instruction"):
        small_model(image_size=(64, 64)).context_encoder(torch.zeros(1, 3, 64, 64))


def test_target_pointer_points_at_the_pixel_whose_features_match_the_query():
    """The pointer's position is the soft argmax of query . features: with a feature map that has one
    bright pixel per channel, a query selecting channel i lands on channel i's pixel; a query on the
    colour-opponent channels finds the one red pixel of a grey image."""
    m = small_model(image_size=(64, 64), d_model=64, target_pointer=True)  # the query is a slice of the embedding
    ptr = m.context_encoder.pointer
    peaks = [(5, 20), (31, 0), (16, 16)]  # (row, col) on the 32x32 stem grid

    def spikes(h: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(h.shape[0], h.shape[1], 32, 32)
        for i, (r, c) in enumerate(peaks):
            out[:, i, r, c] = 1.0
        return out

    object.__setattr__(ptr, "feat", spikes)  # a stand-in feature net with known maps (not a Module)
    d, h_channels = m.cfg.d_model, 32
    object.__setattr__(ptr, "query", lambda e: e[:, : h_channels + 3])  # the instruction *is* the query
    for i, (r, c) in enumerate(peaks):
        query = torch.zeros(1, d)
        query[0, i] = 1.0
        weights, _ = ptr.heatmap(torch.zeros(1, h_channels, 32, 32), torch.zeros(1, 3, 64, 64), query)
        position = weights @ ptr.grid.T
        assert torch.allclose(position[0], torch.tensor([-1 + 2 * r / 31, -1 + 2 * c / 31]), atol=1e-3)
    grey = torch.zeros(1, 3, 64, 64)
    grey[0, :, 40:42, 10:12] = torch.tensor([1.0, -1.0, -1.0])[:, None, None]  # a 2x2-pixel red patch
    query = torch.zeros(1, d)
    query[0, h_channels] = 1.0  # "red minus grey"
    weights, _ = ptr.heatmap(torch.zeros(1, h_channels, 32, 32), grey, query)
    assert torch.allclose((weights @ ptr.grid.T)[0], torch.tensor([-1 + 2 * 20 / 31, -1 + 2 * 5 / 31]), atol=0.05)


def test_config_keys_missing_from_old_checkpoints_take_the_legacy_value():
    """A config.json written before keypoints existed describes a model without them."""
    d = TinyWamConfig(**SMALL).to_dict()
    for key in TinyWamConfig.LEGACY_DEFAULTS:
        d.pop(key)
    old = TinyWamConfig.from_dict(d)
    assert old.keypoints == 0 and old.target_pointer is False
    assert TinyWamConfig().target_pointer is True  # new models have the pointer


def test_tokenizer_is_stable_and_pads():
    ids = tokenize(["Reach the red cube.", ""], 1024, 6)
    assert ids.shape == (2, 6)
    assert (ids[0, :4] > 0).all() and (ids[0, 4:] == 0).all() and (ids[1] == 0).all()
    assert torch.equal(ids[0, :4], tokenize(["reach the red cube"], 1024, 6)[0, :4])


@pytest.mark.parametrize(
    ("kw", "field"),
    [({"image_size": (30, 32)}, "image_size"), ({"future_frames": 3, "frame_stride": 4}, "future_frames"),
     ({"d_model": 30, "num_heads": 4}, "d_model"), ({"num_steps": 0}, "num_steps"),
     ({"action_mode": "velocity"}, "action_mode"), ({"keypoints": -1}, "keypoints")],
)
def test_bad_config_names_the_field(kw, field):
    with pytest.raises(TinyWamConfigError, match=field):
        TinyWamConfig(**{**SMALL, **kw})


def _meta(m: TinyWam, **kw) -> CheckpointMeta:
    norm = Normalization(np.arange(7.0), np.full(7, 2.0), np.full(7, -1.0), np.full(7, 0.5))
    return CheckpointMeta(kw.get("joints", JOINTS), kw.get("cameras", ("scene", "wrist")), 0.1, m.cfg, norm,
                          {"note": "test"})


def test_checkpoint_round_trip(tmp_path):
    m = small_model().eval()
    save_checkpoint(tmp_path / "ck", m, _meta(m))
    assert (tmp_path / "ck" / "model.safetensors").is_file()
    cfg = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert cfg["joint_names"] == list(JOINTS) and cfg["image_size"] == [32, 32] and cfg["action_horizon"] == 8
    assert cfg["action_period"] == 0.1 and cfg["normalization"]["state_std"] == [2.0] * 7
    m2, meta = load_checkpoint(tmp_path / "ck")
    assert meta.joint_names == JOINTS and meta.cameras == ("scene", "wrist") and meta.extra == {"note": "test"}
    for (k, v), (k2, v2) in zip(m.state_dict().items(), m2.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    torch.testing.assert_close(m2.action_mean, torch.full((7,), -1.0))
    b = example_batch(m.cfg, 1)
    m.set_normalization(*(torch.as_tensor(getattr(meta.normalization, k)) for k in
                          ("state_mean", "state_std", "action_mean", "action_std")))
    a1, _ = m.sample(b["images"], b["state"], b["instruction_ids"], 2, False, torch.Generator().manual_seed(1))
    a2, _ = m2.sample(b["images"], b["state"], b["instruction_ids"], 2, False, torch.Generator().manual_seed(1))
    torch.testing.assert_close(a1, a2)


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"joint_names": ("a", "b", "c", "d", "e", "f", "g")}, "joint names mismatch"),
        ({"cameras": ("scene",)}, r"cameras mismatch.*missing \['wrist'\]"),
        ({"cameras": ("scene", "wrist", "top")}, r"unexpected \['top'\]"),
        ({"image_size": (64, 64)}, "image size mismatch"),
    ],
)
def test_check_compatible_names_each_mismatch(tmp_path, kw, needle):
    m = small_model()
    save_checkpoint(tmp_path, m, _meta(m))
    meta = load_meta(tmp_path)
    check_compatible(meta, JOINTS, ("wrist", "scene"), (32, 32))  # matching (camera order free) passes
    args = {"joint_names": JOINTS, "cameras": ("scene", "wrist"), "image_size": (32, 32), **kw}
    with pytest.raises(CheckpointError, match=needle):
        check_compatible(meta, **args)


def test_missing_or_corrupt_checkpoint_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope")
    m = small_model()
    save_checkpoint(tmp_path, m, _meta(m))
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["model"]["d_model"] = 64  # weights no longer fit
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(tmp_path)
    cfg["model"]["d_model"] = 32
    cfg["normalization"]["action_std"] = [0.0] * 7
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="std must be positive"):
        load_meta(tmp_path)
    with pytest.raises(CheckpointError, match="joint_names"):
        save_checkpoint(tmp_path / "x", m, _meta(m, joints=("a", "b")))


def test_cached_prefix_sampling_equals_full_denoiser():
    """sample() reuses the prefix keys/values across flow steps; the full network gives the same velocities."""
    m = small_model()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    for _ in range(2):
        opt.zero_grad()
        m.loss(example_batch(m.cfg, 2))["loss"].backward()
        opt.step()
    m.eval()
    b = example_batch(m.cfg, 2, seed=3)
    with torch.no_grad():
        prefix = m._prefix(m.context_tokens(b["images"], b["instruction_ids"]), b["state"], b["instruction_ids"])
        mask = m._mask(True, b["instruction_ids"])
        x_act, x_fut = torch.randn(2, 8, 7), torch.randn(2, m.n_fut, m.cfg.token_dim)
        t = torch.tensor([0.2, 0.7])
        full = m.denoise(prefix, mask, x_act, t, x_fut, t)
        cached = m.denoise_cached(m.encode_prefix(prefix, mask), mask, x_act, t, x_fut, t)
    torch.testing.assert_close(full[0], cached[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(full[1], cached[1], rtol=1e-4, atol=1e-5)


def test_both_context_encoders_train_and_sample():
    """conv: own 8x8-pixel-grid tokens for the observed frames; latent: the autoencoder's latents."""
    for kind, per_frame in (("conv", 4 + 16 + 1), ("latent", 1)):  # conv: 4 grid, 16 keypoint, 1 pointer token
        cfg = TinyWamConfig(image_size=(16, 16), d_model=32, num_layers=1, num_heads=2, ae_channels=(8, 8, 8),
                            action_horizon=8, future_frames=1, frame_stride=4, context_encoder=kind)
        m = TinyWam(cfg)
        assert m.n_ctx == cfg.num_cameras * cfg.context_frames * per_frame
        b = example_batch(cfg, 2)
        m.loss(b)["loss"].backward()
        actions, _ = m.sample(b["images"], b["state"], b["instruction_ids"], 2, with_frames=False)
        assert actions.shape == (2, 8, 7) and torch.isfinite(actions).all()
    with pytest.raises(TinyWamConfigError, match="context_encoder"):
        TinyWamConfig(context_encoder="resnet")


def test_zero_noise_scale_makes_chunks_deterministic():
    """noise_scale=0: the chunk no longer depends on the generator; at 1 it does."""
    m = small_model().eval()
    b = example_batch(m.cfg, batch_size=1)
    torch.nn.init.normal_(m.action_out.weight, std=0.1)  # a fresh model's zero head would hide the flow
    for scale, same in ((0.0, True), (1.0, False)):
        a = [m.sample(b["images"], b["state"], b["instruction_ids"], 3, False, torch.Generator().manual_seed(s),
                      noise_scale=scale)[0] for s in (1, 2)]
        assert torch.allclose(a[0], a[1]) is same


def test_predict_goal_is_the_goal_token_of_the_full_network():
    """predict_goal runs the prefix alone; the goal token sees only the prefix, so it must equal the goal
    output of a full forward pass with any action/frame suffix."""
    m = small_model(keypoints=2).eval()
    torch.nn.init.normal_(m.goal_out.weight, std=0.1)
    b = example_batch(m.cfg, batch_size=2)
    goal = m.predict_goal(b["images"], b["state"], b["instruction_ids"])
    with torch.no_grad():
        prefix = m._prefix(m.context_tokens(b["images"], b["instruction_ids"]),
                           (b["state"] - m.state_mean) / m.state_std, b["instruction_ids"])
        x = torch.randn(2, m.cfg.action_horizon, m.cfg.num_joints)
        _, _, g = m._denoise_with_goal(prefix, m._mask(False, b["instruction_ids"]), x, torch.rand(2), None, None)
    torch.testing.assert_close(goal, g * m.state_std + m.state_mean)


@pytest.mark.slow
def test_pointer_pixel_loss_teaches_the_pointer_where_the_named_colour_is():
    """Frames with a red and a blue 3x3 blob; the batch says where the named one is (as training.py does from a
    calibrated camera). A few dozen steps with the pixel loss (and the action loss) move the pointer onto the named
    blob."""
    m = small_model(frame_loss_weight=0.0, recon_loss_weight=0.0, goal_loss_weight=0.0)
    cfg = m.cfg
    rng = np.random.default_rng(0)
    h, w = cfg.image_size
    grid = (h // 2, w // 2)

    def batch(n: int) -> dict:
        b = example_batch(cfg, batch_size=n)
        imgs = np.full((n, cfg.num_cameras, 1, h, w, 3), 200, np.uint8)
        target = np.zeros((n, cfg.num_cameras, 2))
        words = []
        for i in range(n):
            spots = rng.choice(h // 3 - 1, size=(2, 2), replace=False) * 3 + 1
            name = rng.integers(2)
            for k, colour in enumerate(([230, 20, 20], [20, 20, 230])):
                imgs[i, :, 0, spots[k, 0] : spots[k, 0] + 3, spots[k, 1] : spots[k, 1] + 3] = colour
            words.append(("red", "blue")[name])
            centre = spots[name] + 1.0  # the blob's middle pixel
            target[i] = 2 * ((centre + 0.5) / np.array([h, w]) * np.array(grid) - 0.5) / (np.array(grid) - 1) - 1
        b["images"] = frames_to_tensor(imgs)
        b["instruction_ids"] = tokenize([f"reach the {c} cube" for c in words], cfg.vocab_size, cfg.max_text_tokens)
        b["target_yx"] = torch.as_tensor(target, dtype=torch.float32)
        b["target_visible"] = torch.ones(n, cfg.num_cameras, dtype=torch.bool)
        return b

    def error(b: dict) -> float:
        with torch.no_grad():
            _, yx = m.encode_context(b["images"], b["instruction_ids"])
        return float((yx[:, :, -1] - b["target_yx"]).norm(dim=-1).mean())

    held_out = batch(32)
    before = error(held_out)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for _ in range(60):
        out = m.loss(batch(16))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    after = error(held_out)
    # one grid cell is 2 / (grid - 1) ~ 0.13: the pointer ends within about a cell of the named blob
    assert after < 0.5 * before and after < 0.2, (before, after)
    assert m.loss(held_out)["pointer_pixel"] > 0
    held_out["target_visible"][:] = False  # a camera marked invisible adds nothing
    assert m.loss(held_out)["pointer_pixel"] == 0


@pytest.mark.parametrize("forcing", [0.0, 1.0])
def test_goal_teacher_forcing_feeds_the_true_goal_to_the_goal_token(forcing):
    """With every sample forced, the action loss reaches the pointer-goal head only through its own loss."""
    m = small_model(goal_teacher_forcing=forcing, goal_teacher_noise=0.0, goal_loss_weight=0.0)
    torch.nn.init.normal_(m.goal_in.weight, std=0.1)  # zero-initialised: open the path
    torch.nn.init.normal_(m.action_out.weight, std=0.1)
    m.loss(example_batch(m.cfg, batch_size=3))["loss"].backward()
    grad = m.pointer_goal_out[0].weight.grad
    assert (grad is None or float(grad.abs().sum()) == 0) == (forcing == 1.0)


def test_goal_teacher_forcing_must_be_a_share():
    with pytest.raises(TinyWamConfigError, match="goal_teacher_forcing"):
        TinyWamConfig(goal_teacher_forcing=1.5)


# ---------------------------------------------------------------------------- world head
def _world_inputs(m: TinyWam, batch_size: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    """A batch with identity warp grids and random arm maps (the cues' shapes, without a robot)."""
    cfg = m.cfg
    b = example_batch(cfg, batch_size, seed)
    c, k, (h, w) = cfg.num_cameras, cfg.future_frames, cfg.image_size
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    b["world_grids"] = torch.stack([xx, yy], -1).expand(batch_size, c, k, h, w, 2).clone()
    b["world_maps"] = torch.rand(batch_size, c, k, 3, h, w, generator=torch.Generator().manual_seed(seed))
    return b


def test_untrained_world_head_predicts_the_current_frame():
    """The residual's last layer starts at zero: before training, every predicted frame is the copy baseline."""
    m = small_model(world_head=True, world_channels=(8, 8, 16)).eval()
    b = _world_inputs(m)
    frames = m.predict_frames(b["images"], b["state"], b["actions"], b["world_grids"], b["world_maps"])
    assert frames.shape == (2, 2, 2, 3, 32, 32)
    torch.testing.assert_close(frames, b["images"][:, :, -1:].expand_as(frames))


def test_world_head_conditions_on_the_chunk_and_its_cues():
    """Once trained a little, the frame depends on the joint targets at its time and on the arm maps."""
    m = small_model(world_head=True, world_channels=(8, 8, 16))
    b = _world_inputs(m)
    opt = torch.optim.Adam(m.world_head.parameters(), lr=1e-2)
    first = None
    for _ in range(30):
        loss = m.world_loss(b)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(m.world_loss(b).detach()) < 0.5 * first  # it fits the batch's future frames
    m.eval()
    with torch.no_grad():
        base = m.predict_frames(b["images"], b["state"], b["actions"], b["world_grids"], b["world_maps"])
        moved = m.predict_frames(b["images"], b["state"], b["actions"] + 0.5, b["world_grids"], b["world_maps"])
        other = m.predict_frames(b["images"], b["state"], b["actions"], b["world_grids"], b["world_maps"].flip(-1))
    assert (base - moved).abs().max() > 1e-3 and (base - other).abs().max() > 1e-3


def test_world_condition_takes_the_targets_at_each_frame_time():
    m = small_model(world_head=True, world_channels=(8, 8, 16))
    state = torch.zeros(1, 7)
    actions = torch.arange(8.0)[None, :, None].expand(1, 8, 7)  # action i = i (steps 4, 8 -> values 3, 7)
    cond = m.world_condition(state, actions)
    assert cond.shape == (1, 2, 2, m.world_cond_dim)
    torch.testing.assert_close(cond[0, 0, :, 7:14], torch.tensor([[3.0] * 7, [7.0] * 7]))  # targets (identity norm)
    torch.testing.assert_close(cond[0, 1, 1, 21:], torch.tensor([0.0, 1.0, 0.0, 1.0]))  # wrist one-hot, offset 2


def test_world_head_needs_calibrations_in_the_checkpoint(tmp_path):
    from wam_ros.camera.pinhole import PinholeCamera

    m = small_model(world_head=True, world_channels=(8, 8, 16))
    with pytest.raises(CheckpointError, match=r"world head needs every camera's calibration.*\['scene', 'wrist'\]"):
        save_checkpoint(tmp_path / "a", m, _meta(m))
    meta = _meta(m)
    cam = PinholeCamera("scene", 160, 120, np.array([[100.0, 0, 80], [0, 100, 60], [0, 0, 1]]), np.eye(4))
    meta.calibrations = {"scene": cam.to_dict(), "wrist": {**cam.to_dict(), "camera": "wrist"}}
    save_checkpoint(tmp_path / "b", m, meta)
    m2, meta2 = load_checkpoint(tmp_path / "b")
    assert m2.world_head is not None and meta2.cameras_calibrated()["scene"].K[0, 0] == 100.0


def test_checkpoints_from_before_the_world_head_load_without_one(tmp_path):
    m = small_model()
    save_checkpoint(tmp_path, m, _meta(m))
    cfg = json.loads((tmp_path / "config.json").read_text())
    for key in [k for k in cfg["model"] if k.startswith("world_")]:
        del cfg["model"][key]  # as written before the world head existed
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    m2, _ = load_checkpoint(tmp_path)
    assert m2.world_head is None
    with pytest.raises(TinyWamConfigError, match="no world head"):
        m2.predict_frames(*(torch.zeros(1) for _ in range(5)))
