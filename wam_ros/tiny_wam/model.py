"""TinyWAM: a small World-Action Model — one transformer that generates future-frame
latents and the action chunk together, trained by flow matching on both.

The recipe is the one DreamZero, UVA and Cosmos Policy use at 2B-14B scale, shrunk to
run on a laptop CPU:

* Frames live in a compact latent space: a small conv autoencoder (8x down-sampling,
  ``latent_channels`` channels) trained jointly with a reconstruction loss. Latent
  grids are cut into ``latent_patch`` x ``latent_patch`` patches, one token each.
* The sequence is ``[instruction words | joint state | goal token | context frames |
  noisy action chunk | noisy future-frame latents]``. Actions are predicted relative to
  the measured state (``action_mode="delta"``); the goal token is trained to predict the
  state the episode ends in (an auxiliary loss) and the actions attend to it.
* Rectified flow: ``x_t = (1 - t) * noise + t * data``, the network predicts the
  velocity ``data - noise`` for both noisy modalities, each with its own ``t`` during
  training (so frames learn to follow clean or noisy actions); sampling integrates
  the ODE with ``num_steps`` Euler steps from ``t = 0`` to ``t = 1``.
* Block attention: the prefix sees only itself, actions see the prefix and the
  actions, future frames see everything. Future frames are thus a world model
  conditioned on the planned actions, and the action chunk never depends on the
  frame tokens — so the action-only fast path (``decode_frames=False``) simply drops
  them and returns exactly the same actions, at roughly half the cost. The prefix
  sees nothing after it either, so its keys/values are computed once per chunk and
  reused by every flow step (a KV cache), not recomputed ``num_steps`` times.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike
from torch import nn

from wam_ros.tiny_wam.defaults import ACTION_HORIZON, IMAGE_SIZE, NUM_STEPS
from wam_ros.tiny_wam.world_cues import MAP_CHANNELS
from wam_ros.tiny_wam.world_head import WorldHead


class TinyWamConfigError(ValueError):
    """A TinyWamConfig value is inconsistent; the message names the field."""


@dataclass
class TinyWamConfig:
    """Sizes of the model. The defaults run in a few tens of ms per chunk on one CPU core."""

    image_size: tuple[int, int] = IMAGE_SIZE  # (height, width) frames are resized to
    num_cameras: int = 2
    context_frames: int = 1  # observed frames per camera (the newest last)
    future_frames: int = 2  # predicted frames per camera
    frame_stride: int = 8  # action steps between predicted frames: frame k is at action (k+1)*stride
    action_horizon: int = ACTION_HORIZON  # 2.4 s at 0.1 s: covers 2x an 800 ms inference delay without a stall
    num_joints: int = 7
    latent_channels: int = 4
    ae_channels: tuple[int, int, int] = (16, 32, 32)  # three stride-2 stages: 8x down-sampling
    latent_patch: int = 2  # latent patch (in latent pixels) per token
    d_model: int = 128
    num_layers: int = 4
    num_heads: int = 4
    mlp_ratio: float = 4.0
    vocab_size: int = 1024  # hashed word buckets (0 = padding)
    max_text_tokens: int = 16
    num_steps: int = NUM_STEPS  # default Euler steps at inference
    frame_loss_weight: float = 1.0
    recon_loss_weight: float = 1.0
    recon_frames: int = 32  # frames per batch the reconstruction loss decodes (0 = all)
    context_encoder: str = "conv"  # conv: d_model tokens on an 8x8-pixel grid | latent: the autoencoder's latents
    coord_channels: bool = True  # conv context encoder sees pixel x/y as two extra input channels (CoordConv)
    action_mode: str = "delta"  # delta: actions are predicted relative to the measured state | absolute
    goal_loss_weight: float = 0.5  # auxiliary: a goal token predicts the state the episode ends in (0: off)
    keypoints: int = 16  # spatial-softmax keypoint tokens per context frame (0: off)
    target_pointer: bool = True  # per context frame, one token at the image position the instruction names
    pointer_pixel_weight: float = 1.0  # loss on the pointer's image position where the batch has a target pixel
    goal_teacher_forcing: float = 0.0  # share of training samples whose goal token gets the true goal (+ noise)
    goal_teacher_noise: float = 0.1  # std of that noise, in normalised state units
    # Future frames from the world head (world_head.py: a residual U-Net over the current frame, told by world_cues.py
    # where the chunk's joint targets put the arm in each camera) instead of the transformer's latent frame tokens.
    world_head: bool = False
    world_channels: tuple[int, ...] = (16, 32, 48, 64)  # U-Net channels per level (64, 32, 16, 8 px at 64x64)
    world_plane_z: float = 0.02  # m, base frame: the plane a wrist camera's view is warped over (table + cubes)
    world_loss_weight: float = 1.0
    world_changed_weight: float = 2.0  # extra loss weight on the pixels that change (|future - current| > 10 %)

    # Fields added after checkpoints were first written, with the value that reproduces the
    # model those checkpoints were trained as (a config.json without the key predates it).
    LEGACY_DEFAULTS: ClassVar[dict[str, Any]] = {"keypoints": 0, "target_pointer": False}
    # Fields that shape only the training loss or sampling, not the weights: fine-tuning may change them.
    TRAINING_FIELDS: ClassVar[tuple[str, ...]] = (
        "num_steps", "frame_loss_weight", "recon_loss_weight", "recon_frames", "goal_loss_weight",
        "pointer_pixel_weight", "goal_teacher_forcing", "goal_teacher_noise", "world_loss_weight",
        "world_changed_weight",
    )

    def __post_init__(self) -> None:
        self.image_size = tuple(int(v) for v in self.image_size)  # type: ignore[assignment]
        self.ae_channels = tuple(int(v) for v in self.ae_channels)  # type: ignore[assignment]
        self.world_channels = tuple(int(v) for v in self.world_channels)  # type: ignore[assignment]
        self.validate()

    def validate(self) -> None:
        h, w = self.image_size
        down = 2 ** len(self.ae_channels) * self.latent_patch
        if h % down or w % down or h <= 0 or w <= 0:
            raise TinyWamConfigError(f"image_size {self.image_size} must be positive multiples of {down}")
        for name in ("num_cameras", "context_frames", "future_frames", "frame_stride", "action_horizon",
                     "num_joints", "latent_channels", "d_model", "num_layers", "num_heads", "num_steps"):
            if int(getattr(self, name)) < 1:
                raise TinyWamConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.future_frames * self.frame_stride > self.action_horizon:
            raise TinyWamConfigError(
                f"future_frames * frame_stride = {self.future_frames * self.frame_stride} exceeds "
                f"action_horizon {self.action_horizon}"
            )
        if self.action_mode not in ("delta", "absolute"):
            raise TinyWamConfigError(f"action_mode must be 'delta' or 'absolute', got {self.action_mode!r}")
        if self.context_encoder not in ("conv", "latent"):
            raise TinyWamConfigError(f"context_encoder must be 'conv' or 'latent', got {self.context_encoder!r}")
        if self.keypoints < 0:
            raise TinyWamConfigError(f"keypoints must be >= 0, got {self.keypoints}")
        if not 0.0 <= self.goal_teacher_forcing <= 1.0:
            raise TinyWamConfigError(f"goal_teacher_forcing must be in [0, 1], got {self.goal_teacher_forcing}")
        if self.world_head:
            down = 2 ** (len(self.world_channels) - 1)
            if not self.world_channels or h % down or w % down or any(c < 8 or c % 8 for c in self.world_channels):
                raise TinyWamConfigError(f"world_channels {list(self.world_channels)}: need multiples of 8 per level "
                                         f"and image_size {self.image_size} divisible by {down}")
        for name in ("pointer_pixel_weight", "goal_teacher_noise", "goal_loss_weight", "world_loss_weight",
                     "world_changed_weight"):
            if not float(getattr(self, name)) >= 0.0:
                raise TinyWamConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.d_model % self.num_heads:
            raise TinyWamConfigError(f"d_model {self.d_model} is not divisible by num_heads {self.num_heads}")

    @property
    def latent_hw(self) -> tuple[int, int]:
        f = 2 ** len(self.ae_channels)
        return self.image_size[0] // f, self.image_size[1] // f

    @property
    def tokens_per_frame(self) -> int:
        lh, lw = self.latent_hw
        return (lh // self.latent_patch) * (lw // self.latent_patch)

    @property
    def token_dim(self) -> int:
        return self.latent_channels * self.latent_patch**2

    def frame_steps(self) -> list[int]:
        """Action-step index (1-based: step i is at i * period) of each predicted frame."""
        return [(k + 1) * self.frame_stride for k in range(self.future_frames)]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["image_size"] = list(self.image_size)
        d["ae_channels"] = list(self.ae_channels)
        d["world_channels"] = list(self.world_channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TinyWamConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise TinyWamConfigError(f"unknown TinyWamConfig field(s) {unknown}")
        return cls(**{**cls.LEGACY_DEFAULTS, **d})


# ---------------------------------------------------------------------------- text
def tokenize(texts: Sequence[str], vocab_size: int, max_len: int) -> torch.Tensor:
    """Hash lower-cased words into ``vocab_size - 1`` buckets (0 = padding): no vocabulary to download.

    crc32 is stable across processes and machines (Python's ``hash`` is salted).
    """
    out = torch.zeros(len(texts), max_len, dtype=torch.long)
    for i, text in enumerate(texts):
        words = text.lower().replace(",", " ").replace(".", " ").split()[:max_len]
        for j, w in enumerate(words):
            out[i, j] = 1 + zlib.crc32(w.encode()) % (vocab_size - 1)
    return out


# ---------------------------------------------------------------------------- frames
class FrameAutoencoder(nn.Module):
    """64x64x3 frame <-> 8x8xC latent (tanh-bounded, so the flow's data scale is fixed)."""

    def __init__(self, cfg: TinyWamConfig) -> None:
        super().__init__()
        c = cfg.ae_channels
        enc: list[nn.Module] = []
        prev = 3
        for ch in c:
            enc += [nn.Conv2d(prev, ch, 4, stride=2, padding=1), nn.SiLU(), nn.Conv2d(ch, ch, 3, padding=1), nn.SiLU()]
            prev = ch
        enc.append(nn.Conv2d(prev, cfg.latent_channels, 1))
        self.encoder = nn.Sequential(*enc)
        dec: list[nn.Module] = [nn.Conv2d(cfg.latent_channels, c[-1], 3, padding=1), nn.SiLU()]
        rev = list(reversed(c))
        for i, ch in enumerate(rev):
            nxt = rev[i + 1] if i + 1 < len(rev) else c[0]
            dec += [nn.ConvTranspose2d(ch, nxt, 4, stride=2, padding=1), nn.SiLU(), nn.Conv2d(nxt, nxt, 3, padding=1),
                    nn.SiLU()]
        dec.append(nn.Conv2d(c[0], 3, 3, padding=1))
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 3, H, W] in [-1, 1] -> [N, C, h, w] in (-1, 1)."""
        return torch.tanh(self.encoder(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """[N, C, h, w] -> [N, 3, H, W] in (-1, 1)."""
        return torch.tanh(self.decoder(z))


def pixel_grid(h: int, w: int) -> torch.Tensor:
    """[2 (y, x), h, w] pixel-centre coordinates in [-1, 1]."""
    return torch.stack(torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij"))


class ContextEncoder(nn.Module):
    """Observed frame -> d_model tokens on an 8x8-pixel grid.

    The policy must find 2-3 pixel objects (which cube is red, where it is). A latent
    trained for reconstruction spends its few channels on the large surfaces and blurs
    such objects away, so the observed frames get their own encoder, trained only by the
    action and frame losses; the autoencoder stays the space the future is predicted in.
    With ``coord_channels`` the pixel coordinates are two more input channels
    (CoordConv, Liu et al. 2018): a token can then say where inside its 8x8 cell an
    object lies, which a 3 cm success radius needs and plain convolutions learn slowly.

    With ``keypoints`` > 0 a spatial-softmax head (Levine et al. 2016, as in robomimic and
    Diffusion Policy) adds one token per keypoint: the expected image (x, y) of a learned
    feature map at half resolution. "Where is the red blob" becomes a soft argmax the
    head learns in a few hundred steps, with sub-pixel precision, instead of a location
    the transformer must read out of 64 grid tokens.

    With ``target_pointer`` a :class:`TargetPointer` adds one more token per frame: where
    the thing the instruction names is in this image.
    """

    def __init__(self, cfg: TinyWamConfig) -> None:
        super().__init__()
        c1, c2 = 32, 64
        h, w = cfg.image_size
        coords = pixel_grid(h, w)
        self.register_buffer("coords", coords[None] if cfg.coord_channels else coords[:0][None], persistent=False)
        c_in = 3 + self.coords.shape[1]
        self.stem = nn.Sequential(nn.Conv2d(c_in, c1, 4, stride=2, padding=1), nn.SiLU())  # H/2 x W/2
        self.net = nn.Sequential(
            nn.Conv2d(c1, c1, 3, padding=1), nn.SiLU(),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.SiLU(), nn.Conv2d(c2, c2, 3, padding=1), nn.SiLU(),
            nn.Conv2d(c2, cfg.d_model, 4, stride=2, padding=1),
        )
        k = cfg.keypoints
        self.keypoints = k
        self.pointer = TargetPointer(c1, cfg.d_model, (h // 2, w // 2)) if cfg.target_pointer else None
        # per image: grid tokens, then keypoint tokens, then the pointer token
        self.num_tokens = (h // 8) * (w // 8) + k + (self.pointer is not None)
        if k:
            self.kp_net = nn.Sequential(nn.Conv2d(c1, c1, 3, padding=1), nn.SiLU(), nn.Conv2d(c1, k, 1))
            self.kp_log_temp = nn.Parameter(torch.zeros(1))
            self.register_buffer("kp_grid", pixel_grid(h // 2, w // 2).flatten(1), persistent=False)  # [2, h*w/4]
            self.kp_in = nn.Linear(2, cfg.d_model)
            self.kp_embed = nn.Parameter(torch.randn(k, cfg.d_model) * 0.02)

    def keypoint_positions(self, h: torch.Tensor) -> torch.Tensor:
        """Stem features [N, c1, H/2, W/2] -> expected (y, x) in [-1, 1] per keypoint, [N, K, 2]."""
        logits = self.kp_net(h).flatten(2) * self.kp_log_temp.exp()
        return torch.softmax(logits.float(), -1).to(h.dtype) @ self.kp_grid.to(h.dtype).T

    def forward(self, x: torch.Tensor, instruction: torch.Tensor | None = None) -> torch.Tensor:
        """[N, 3, H, W] (and a pooled instruction embedding [N, d_model]) -> [N, num_tokens, d_model]:
        (H/8)*(W/8) grid tokens, the keypoint tokens, then the pointer token."""
        return self.encode(x, instruction)[0]

    def encode(
        self, x: torch.Tensor, instruction: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``forward``, and the target pointer's image position (y, x) in [-1, 1], [N, 2] (None without one)."""
        rgb = x
        if self.coords.shape[1]:
            x = torch.cat([x, self.coords.to(x.dtype).expand(x.shape[0], -1, -1, -1)], 1)
        h = self.stem(x)
        tokens = [self.net(h).flatten(2).transpose(1, 2)]
        if self.keypoints:
            tokens.append(self.kp_in(self.keypoint_positions(h)) + self.kp_embed)
        position = None
        if self.pointer is not None:
            if instruction is None:
                raise ValueError("this encoder has a target pointer: pass the instruction embedding")
            token, position = self.pointer(h, rgb, instruction)
            tokens.append(token[:, None])
        return torch.cat(tokens, 1), position


class TargetPointer(nn.Module):
    """Where in the image is the thing the instruction names? An instruction-queried spatial softmax.

    The pooled instruction embedding becomes a query vector; its dot product with every
    pixel's features is a heat map, and the softmax-weighted mean of the pixel coordinates
    (and features) is the token: "the red cube is at (x, y) and looks like this". It is
    the language-conditioned attention pooling of CLIPort/PerAct reduced to one point,
    and the shortest path from a colour word to a position.

    Two choices make it learn (measured on a synthetic "home-pose frames + instruction ->
    goal joints" task, 300 layouts, colour-permutation augmentation; docs/wam.md):

    * The pixel features include the colour-opponent channels ``rgb - mean(rgb)`` of the
      input: a saturated 2-pixel cube stands out there ~4x more than the tan table, so
      from the first step the heat map has weight on the cubes and the gradient can turn
      the query toward the named one. Learned features alone start with no weight on
      2-pixel objects and never find them (33 % = chance after 1500 steps; with the
      opponent channels 78 % nearest the named cube, median error 2 cm after 750).
    * The softmax temperature starts at ``TEMPERATURE_INIT``: at 1 the heat map of a fresh
      network is flat over the 32x32 grid, every point is the image centre, and the
      gradient that would sharpen it is too weak to get going.
    """

    TEMPERATURE_INIT = 20.0

    def __init__(self, channels: int, d_model: int, feature_hw: tuple[int, int]) -> None:
        super().__init__()
        c = channels
        self.feat = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.SiLU(), nn.Conv2d(c, c, 1))
        self.query = nn.Linear(d_model, c + 3)
        self.log_temp = nn.Parameter(torch.full((1,), math.log(self.TEMPERATURE_INIT)))
        self.register_buffer("grid", pixel_grid(*feature_hw).flatten(1), persistent=False)  # [2, h*w]
        self.out = nn.Linear(2 + c + 3, d_model)

    @staticmethod
    def opponent_colors(rgb: torch.Tensor, feature_hw: tuple[int, int]) -> torch.Tensor:
        """[N, 3, H, W] -> per-pixel deviation from grey, pooled to the feature grid [N, 3, h, w]."""
        return F.adaptive_avg_pool2d(rgb - rgb.mean(1, keepdim=True), feature_hw)

    def heatmap(
        self, h: torch.Tensor, rgb: torch.Tensor, instruction: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(softmax weights [N, h*w], pixel features [N, c + 3, h*w]) of stem features [N, c, h, w] and the
        input image [N, 3, H, W]."""
        g = torch.cat([self.feat(h), self.opponent_colors(rgb, h.shape[-2:]).to(h.dtype)], 1).flatten(2)
        logits = torch.einsum("ncp,nc->np", g, self.query(instruction).to(g.dtype)) * self.log_temp.exp()
        return torch.softmax(logits.float(), -1).to(g.dtype), g

    def forward(
        self, h: torch.Tensor, rgb: torch.Tensor, instruction: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Stem features, input image and pooled instruction [N, d_model] -> (one token [N, d_model], the
        expected image position (y, x) in [-1, 1] on the feature grid's pixel centres [N, 2])."""
        w, g = self.heatmap(h, rgb, instruction)
        position = w @ self.grid.to(g.dtype).T
        return self.out(torch.cat([position, torch.einsum("np,ncp->nc", w, g)], 1)), position


# ---------------------------------------------------------------------------- transformer
class Block(nn.Module):
    def __init__(self, d: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d)
        hidden = int(d * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d))

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """``past``: cached keys/values of earlier tokens (the prefix) that ``x`` also attends to."""
        b, s, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, s, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if past is not None:
            k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + self.proj(a.transpose(1, 2).reshape(b, s, d))
        return x + self.mlp(self.norm2(x))

    def kv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, s, d = x.shape
        _, k, v = self.qkv(self.norm1(x)).view(b, s, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        return k, v


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of flow times in [0, 1]: [B] -> [B, dim]."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    ang = t.float()[:, None] * 1000.0 * freqs[None]
    return torch.cat([torch.sin(ang), torch.cos(ang)], dim=-1)


class TinyWam(nn.Module):
    """The model. ``loss(batch)`` trains it (see ``wam_ros.tiny_wam.data`` for the batch);
    ``sample(...)`` generates an action chunk and, optionally, the future frames."""

    def __init__(self, cfg: TinyWamConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        d = cfg.d_model
        self.autoencoder = FrameAutoencoder(cfg)
        self.text_embed = nn.Embedding(cfg.vocab_size, d, padding_idx=0)
        self.state_in = nn.Linear(cfg.num_joints, d)
        self.goal_query = nn.Parameter(torch.randn(1, 1, d) * 0.02)  # the goal token of the prefix
        self.goal_out = nn.Linear(d, cfg.num_joints)
        # The goal from the target-pointer tokens alone (trained by its own loss, see ``loss``), fed to the
        # goal token: the actions then get "where the named cube's goal is" without a detour through attention.
        self.pointer_goal_out = self.goal_in = None
        if cfg.target_pointer and cfg.context_encoder == "conv":
            self.pointer_goal_out = nn.Sequential(
                nn.Linear(cfg.num_cameras * d, 2 * d), nn.SiLU(), nn.Linear(2 * d, cfg.num_joints)
            )
            self.goal_in = nn.Linear(cfg.num_joints, d)
            nn.init.zeros_(self.goal_in.weight)  # starts as the plain goal query (fine-tuning keeps its behaviour)
            nn.init.zeros_(self.goal_in.bias)
        self.frame_in = nn.Linear(cfg.token_dim, d)
        self.noisy_frame_in = nn.Linear(cfg.token_dim, d)
        self.action_in = nn.Linear(cfg.num_joints, d)
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.modality_time = nn.Parameter(torch.zeros(2, d))  # distinguishes t_action / t_frame embeddings
        p = cfg.tokens_per_frame
        self.n_text = cfg.max_text_tokens
        if cfg.context_encoder == "conv":
            self.context_encoder = ContextEncoder(cfg)
            per_frame = self.context_encoder.num_tokens
        else:
            self.context_encoder = None
            per_frame = p
        self.n_ctx = cfg.num_cameras * cfg.context_frames * per_frame
        self.n_act = cfg.action_horizon
        self.n_fut = cfg.num_cameras * cfg.future_frames * p
        self.n_prefix = self.n_text + 2 + self.n_ctx  # text | state | goal | context frames
        self.goal_index = self.n_text + 1
        self.pos = nn.Parameter(torch.randn(1, self.n_prefix + self.n_act + self.n_fut, d) * 0.02)
        self.blocks = nn.ModuleList([Block(d, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.num_layers)])
        self.norm = nn.LayerNorm(d)
        self.action_out = nn.Linear(d, cfg.num_joints)
        self.frame_out = nn.Linear(d, cfg.token_dim)
        for head in (self.action_out, self.frame_out):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
        # joints now, joint targets at the predicted time, their difference, camera and offset one-hots
        self.world_cond_dim = 3 * cfg.num_joints + cfg.num_cameras + cfg.future_frames
        self.world_head = None
        if cfg.world_head:
            self.world_head = WorldHead(self.world_cond_dim, 3 + len(MAP_CHANNELS), cfg.image_size, cfg.world_channels)
        j = cfg.num_joints
        # Normalisation stats live in the checkpoint's config (human-readable), not the weights.
        self.register_buffer("state_mean", torch.zeros(j), persistent=False)
        self.register_buffer("state_std", torch.ones(j), persistent=False)
        self.register_buffer("action_mean", torch.zeros(j), persistent=False)
        self.register_buffer("action_std", torch.ones(j), persistent=False)

    # ------------------------------------------------------------------ helpers
    def set_normalization(
        self, state_mean: ArrayLike, state_std: ArrayLike, action_mean: ArrayLike, action_std: ArrayLike
    ) -> None:
        for name, v in (("state_mean", state_mean), ("state_std", state_std), ("action_mean", action_mean),
                        ("action_std", action_std)):
            t = torch.as_tensor(v, dtype=torch.float32).reshape(-1)
            if t.numel() != self.cfg.num_joints:
                raise TinyWamConfigError(f"{name} has {t.numel()} values for {self.cfg.num_joints} joints")
            getattr(self, name).copy_(t)

    def _patchify(self, z: torch.Tensor) -> torch.Tensor:
        """[N, C, h, w] -> [N, P, C*p*p]."""
        return F.pixel_unshuffle(z, self.cfg.latent_patch).flatten(2).transpose(1, 2)

    def _unpatchify(self, tok: torch.Tensor) -> torch.Tensor:
        """[N, P, C*p*p] -> [N, C, h, w]."""
        lh, lw = self.cfg.latent_hw
        p = self.cfg.latent_patch
        return F.pixel_shuffle(tok.transpose(1, 2).reshape(tok.shape[0], -1, lh // p, lw // p), p)

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """[B, C, T, 3, H, W] in [-1, 1] -> tokens [B, C*T*P, token_dim]."""
        b = frames.shape[0]
        z = self.autoencoder.encode(frames.flatten(0, 2))
        return self._patchify(z).reshape(b, -1, self.cfg.token_dim)

    def decode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Future tokens [B, C*K*P, token_dim] -> frames [B, C, K, 3, H, W] in [-1, 1]."""
        cfg = self.cfg
        b = tokens.shape[0]
        z = self._unpatchify(tokens.reshape(b * cfg.num_cameras * cfg.future_frames, cfg.tokens_per_frame, -1))
        x = self.autoencoder.decode(z)
        return x.reshape(b, cfg.num_cameras, cfg.future_frames, 3, *cfg.image_size)

    def _mask(self, with_frames: bool, text_ids: torch.Tensor) -> torch.Tensor:
        """Boolean [B, 1, S, S] attention mask (True = may attend)."""
        n_pre, n_act = self.n_prefix, self.n_act
        s = n_pre + n_act + (self.n_fut if with_frames else 0)
        m = torch.zeros(s, s, dtype=torch.bool, device=text_ids.device)
        m[:, :n_pre] = True  # everyone sees the prefix
        m[:n_pre, n_pre:] = False  # the prefix sees only itself
        m[n_pre:, n_pre : n_pre + n_act] = True  # actions and frames see the actions
        if with_frames:
            m[n_pre + n_act :, n_pre + n_act :] = True  # frames see the frames
        key_ok = torch.ones(text_ids.shape[0], s, dtype=torch.bool, device=text_ids.device)
        key_ok[:, : self.n_text] = text_ids != 0  # padding words are invisible
        return (m[None] & key_ok[:, None, :])[:, None]

    def instruction_embedding(self, text_ids: torch.Tensor) -> torch.Tensor:
        """Mean word embedding of each instruction (padding excluded): [B, L] -> [B, d_model]."""
        valid = (text_ids != 0).unsqueeze(-1).to(self.pos.dtype)
        return (self.text_embed(text_ids) * valid).sum(1) / valid.sum(1).clamp(min=1.0)

    def context_tokens(self, frames: torch.Tensor, text_ids: torch.Tensor) -> torch.Tensor:
        """Observed frames [B, C, T, 3, H, W] (and the instruction) -> d_model tokens for the prefix."""
        return self.encode_context(frames, text_ids)[0]

    def encode_context(
        self, frames: torch.Tensor, text_ids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``context_tokens``, and where the target pointer looks in every frame, (y, x) [B, C, T, 2] (or None)."""
        if self.context_encoder is None:
            return self.frame_in(self.encode_frames(frames)), None
        per_sample = frames.shape[1] * frames.shape[2]
        instruction = None
        if self.context_encoder.pointer is not None:
            instruction = self.instruction_embedding(text_ids).repeat_interleave(per_sample, 0)
        tokens, position = self.context_encoder.encode(frames.flatten(0, 2), instruction)
        if position is not None:
            position = position.reshape(*frames.shape[:3], 2)
        return tokens.reshape(frames.shape[0], self.n_ctx, self.cfg.d_model), position

    def _prefix(
        self,
        ctx_tokens: torch.Tensor,
        state_n: torch.Tensor,
        text_ids: torch.Tensor,
        goal_estimate: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``goal_estimate``: the normalised goal fed to the goal token instead of the pointer's (teacher forcing)."""
        goal = self.goal_query.expand(state_n.shape[0], -1, -1)
        if self.goal_in is not None:
            estimate = self.pointer_goal(ctx_tokens) if goal_estimate is None else goal_estimate
            goal = goal + self.goal_in(estimate)[:, None]
        return torch.cat([self.text_embed(text_ids), self.state_in(state_n)[:, None], goal, ctx_tokens], 1)

    def _actions_to_flow(self, actions: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """Joint targets [B, H, J] -> the normalised space the flow runs in (relative to the state in delta mode)."""
        if self.cfg.action_mode == "delta":
            actions = actions - state[:, None]
        return (actions - self.action_mean) / self.action_std

    def _flow_to_actions(self, x: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        actions = x.float() * self.action_std + self.action_mean
        return actions + state[:, None] if self.cfg.action_mode == "delta" else actions

    def _suffix(
        self, x_act: torch.Tensor, t_act: torch.Tensor, x_fut: torch.Tensor | None, t_fut: torch.Tensor | None
    ) -> torch.Tensor:
        """Embed the noisy actions (and frame tokens), each with its flow-time embedding."""
        d = self.cfg.d_model
        ta = self.time_mlp(timestep_embedding(t_act, d)) + self.modality_time[0]
        parts = [self.action_in(x_act) + ta[:, None]]
        if x_fut is not None:
            tf = self.time_mlp(timestep_embedding(t_fut, d)) + self.modality_time[1]
            parts.append(self.noisy_frame_in(x_fut) + tf[:, None])
        return torch.cat(parts, 1)

    def denoise(
        self,
        prefix: torch.Tensor,
        mask: torch.Tensor,
        x_act: torch.Tensor,
        t_act: torch.Tensor,
        x_fut: torch.Tensor | None,
        t_fut: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One network evaluation: velocities for the noisy actions (and frame tokens)."""
        v_act, v_fut, _ = self._denoise_with_goal(prefix, mask, x_act, t_act, x_fut, t_fut)
        return v_act, v_fut

    def _denoise_with_goal(
        self,
        prefix: torch.Tensor,
        mask: torch.Tensor,
        x_act: torch.Tensor,
        t_act: torch.Tensor,
        x_fut: torch.Tensor | None,
        t_fut: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        h = torch.cat([prefix, self._suffix(x_act, t_act, x_fut, t_fut)], 1)
        h = h + self.pos[:, : h.shape[1]]
        for blk in self.blocks:
            h = blk(h, mask)
        h = self.norm(h)
        n_pre, n_act = self.n_prefix, self.n_act
        v_act = self.action_out(h[:, n_pre : n_pre + n_act])
        v_fut = self.frame_out(h[:, n_pre + n_act :]) if x_fut is not None else None
        return v_act, v_fut, self.goal_out(h[:, self.goal_index])

    def encode_prefix(self, prefix: torch.Tensor, mask: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per-layer keys/values of the prefix. The prefix attends only to itself, so these
        are the same at every flow step: sampling computes them once (a KV cache)."""
        cache: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._run_prefix(prefix, mask, cache)
        return cache

    def _run_prefix(
        self, prefix: torch.Tensor, mask: torch.Tensor, cache: list[tuple[torch.Tensor, torch.Tensor]] | None = None
    ) -> torch.Tensor:
        """The prefix through every block (it attends only to itself); collects keys/values into ``cache``."""
        n = self.n_prefix
        h = prefix + self.pos[:, :n]
        for blk in self.blocks:
            if cache is not None:
                cache.append(blk.kv(h))
            h = blk(h, mask[:, :, :n, :n])
        return h

    def denoise_cached(
        self,
        cache: list[tuple[torch.Tensor, torch.Tensor]],
        mask: torch.Tensor,
        x_act: torch.Tensor,
        t_act: torch.Tensor,
        x_fut: torch.Tensor | None,
        t_fut: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``denoise`` with the prefix taken from ``encode_prefix``: same result, suffix tokens only."""
        n_pre, n_act = self.n_prefix, self.n_act
        h = self._suffix(x_act, t_act, x_fut, t_fut)
        h = h + self.pos[:, n_pre : n_pre + h.shape[1]]
        suffix_mask = mask[:, :, n_pre:, :]
        for blk, past in zip(self.blocks, cache):
            h = blk(h, suffix_mask, past)
        h = self.norm(h)
        v_act = self.action_out(h[:, :n_act])
        v_fut = self.frame_out(h[:, n_act:]) if x_fut is not None else None
        return v_act, v_fut

    # ------------------------------------------------------------------ training
    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Flow-matching loss on actions and future-frame latents, plus frame reconstruction.

        Returns ``{"loss": total, "action": ..., "frame": ..., "recon": ..., "goal": ...,
        "pointer_goal": ..., "pointer_pixel": ...}``; call ``out["loss"].backward()``. Batch format:
        ``wam_ros.tiny_wam.data``. The goal loss (the goal token regresses the normalised
        state the episode ends in) gives the image encoder and the instruction a clean, dense
        signal for *where* to go, which the noisy flow targets alone teach slowly.

        The pointer-goal loss asks the same of the target-pointer tokens alone (a small MLP
        whose estimate also enters the goal token). The goal token can lower its loss from the joint state
        whenever the arm is already under way, so it never has to read the instruction;
        the pointer tokens see no state, so the only way they predict the goal is by
        finding the named cube (measured: the goal token alone left the pointer unused for
        1500 steps of real training; docs/wam.md, grounding).
        """
        cfg = self.cfg
        images, future = batch["images"], batch["future_frames"]
        b = images.shape[0]
        ctx_tok, pointer_yx = self.encode_context(images, batch["instruction_ids"])
        with torch.no_grad():  # flow target: no gradient into the encoder (and no graph to keep)
            fut_tok = self.encode_frames(future)
        state_n = (batch["state"] - self.state_mean) / self.state_std
        act_n = self._actions_to_flow(batch["actions"], batch["state"])
        text = batch["instruction_ids"]
        t_act = torch.rand(b, device=images.device)
        t_fut = torch.rand(b, device=images.device)
        n_act, n_fut = torch.randn_like(act_n), torch.randn_like(fut_tok)
        x_act = (1 - t_act)[:, None, None] * n_act + t_act[:, None, None] * act_n
        x_fut = (1 - t_fut)[:, None, None] * n_fut + t_fut[:, None, None] * fut_tok
        goal_n = (batch["goal"] - self.state_mean) / self.state_std
        zero = torch.zeros((), device=images.device)
        pointer_goal_loss, forced = zero, None
        if self.pointer_goal_out is not None:
            pointer_goal = self.pointer_goal(ctx_tok)
            pointer_goal_loss = F.mse_loss(pointer_goal, goal_n)
            if cfg.goal_teacher_forcing > 0:
                # Some samples get the true goal (noised): the actions learn to follow the goal token
                # precisely, instead of learning to distrust an estimate that is poor early in training.
                pick = torch.rand(b, 1, device=images.device) < cfg.goal_teacher_forcing
                truth = goal_n + cfg.goal_teacher_noise * torch.randn_like(goal_n)
                forced = torch.where(pick, truth, pointer_goal)
        prefix = self._prefix(ctx_tok, state_n, text, forced)
        v_act, v_fut, goal = self._denoise_with_goal(prefix, self._mask(True, text), x_act, t_act, x_fut, t_fut)
        action_loss = F.mse_loss(v_act, act_n - n_act)
        goal_loss = F.mse_loss(goal, goal_n)
        pixel_loss = zero
        if pointer_yx is not None and "target_yx" in batch:
            # where the named thing is in each calibrated camera (training.py projects the demonstration's
            # target point, with the frame's arm pose for a wrist camera); the newest frame's pointer looks there
            seen = batch["target_visible"].to(pointer_yx.dtype)
            err = ((pointer_yx[:, :, -1] - batch["target_yx"]) ** 2).sum(-1)
            pixel_loss = (err * seen).sum() / seen.sum().clamp(min=1.0)
        frame_loss = F.mse_loss(v_fut, fut_tok - n_fut)
        all_frames = torch.cat([images.flatten(0, 2), future.flatten(0, 2)], 0)
        if cfg.recon_frames and all_frames.shape[0] > cfg.recon_frames:  # a random subset keeps the decoder cheap
            all_frames = all_frames[torch.randperm(all_frames.shape[0], device=all_frames.device)[: cfg.recon_frames]]
        recon_loss = F.mse_loss(self.autoencoder.decode(self.autoencoder.encode(all_frames)), all_frames)
        world_loss = self.world_loss(batch) if self.world_head is not None and "world_grids" in batch else zero
        total = (action_loss + cfg.frame_loss_weight * frame_loss + cfg.recon_loss_weight * recon_loss
                 + cfg.goal_loss_weight * (goal_loss + pointer_goal_loss) + cfg.pointer_pixel_weight * pixel_loss
                 + cfg.world_loss_weight * world_loss)
        return {"loss": total, "action": action_loss.detach(), "frame": frame_loss.detach(),
                "recon": recon_loss.detach(), "goal": goal_loss.detach(), "pointer_goal": pointer_goal_loss.detach(),
                "pointer_pixel": pixel_loss.detach(), "world": world_loss.detach()}

    # ------------------------------------------------------------------ world head
    #: a pixel "changed" when any channel moved by more than this, in [-1, 1] units (10 % of the range)
    CHANGED_THRESHOLD = 0.2

    def world_condition(self, state: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The world head's conditioning [B, C, K, cond_dim] from the joints now [B, J] and the chunk [B, H, J]:
        per camera and predicted frame, the normalised joints now, the chunk's joint targets at that frame's time
        (action step ``frame_steps()[k]``), their difference, and one-hots of the camera and the offset."""
        cfg = self.cfg
        b, c, k = state.shape[0], cfg.num_cameras, cfg.future_frames
        now = (state - self.state_mean) / self.state_std
        target = (actions[:, [s - 1 for s in cfg.frame_steps()]] - self.state_mean) / self.state_std  # [B, K, J]
        joints = torch.cat([now[:, None].expand(-1, k, -1), target, target - now[:, None]], -1)  # [B, K, 3J]
        eye_c = torch.eye(c, device=state.device, dtype=joints.dtype)
        eye_k = torch.eye(k, device=state.device, dtype=joints.dtype)
        return torch.cat([joints[:, None].expand(-1, c, -1, -1), eye_c[None, :, None].expand(b, -1, k, -1),
                          eye_k[None, None].expand(b, c, -1, -1)], -1)

    def predict_frames(
        self, images: torch.Tensor, state: torch.Tensor, actions: torch.Tensor, grids: torch.Tensor, maps: torch.Tensor
    ) -> torch.Tensor:
        """The world head's frames [B, C, K, 3, H, W] (unclamped, ~[-1, 1]) at ``frame_steps()`` of the chunk
        ``actions`` [B, H, J] (joint units), from the newest context frame of ``images`` [B, C, T, 3, H, W] and the
        chunk's cues (``world_cues.WorldCues``: warp ``grids`` [B, C, K, H, W, 2], ``maps`` [B, C, K, 3, H, W])."""
        if self.world_head is None:
            raise TinyWamConfigError("this model has no world head (world_head: false): decode the frame tokens")
        k = self.cfg.future_frames
        current = images[:, :, -1, None].expand(-1, -1, k, -1, -1, -1).flatten(0, 2)  # [B*C*K, 3, H, W]
        warped = F.grid_sample(current, grids.flatten(0, 2).to(current.dtype), align_corners=True,
                               padding_mode="border")
        cues = torch.cat([warped, maps.flatten(0, 2).to(current.dtype)], 1)
        cond = self.world_condition(state, actions).to(current.dtype).flatten(0, 2)
        return self.world_head(current, cues, cond).view(*images.shape[:2], k, *images.shape[3:])

    def world_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Pixel MSE of the world head's frames against the real future frames, the changed pixels weighted
        ``1 + world_changed_weight``; the batch's own actions and cues (``world_grids``, ``world_maps``) condition
        it."""
        pred = self.predict_frames(batch["images"], batch["state"], batch["actions"], batch["world_grids"],
                                   batch["world_maps"])
        future = batch["future_frames"]
        current = batch["images"][:, :, -1:]
        changed = ((future - current).abs().amax(-3, keepdim=True) > self.CHANGED_THRESHOLD).to(pred.dtype)
        return ((1 + self.cfg.world_changed_weight * changed) * (pred - future) ** 2).mean()

    def pointer_goal(self, ctx_tokens: torch.Tensor) -> torch.Tensor:
        """The normalised goal state from the newest context frame's target-pointer token of every camera."""
        cfg = self.cfg
        per_frame = ctx_tokens.reshape(ctx_tokens.shape[0], cfg.num_cameras, cfg.context_frames, -1, cfg.d_model)
        return self.pointer_goal_out(per_frame[:, :, -1, -1].flatten(1))

    # ------------------------------------------------------------------ inference
    def goal_token(self, images: torch.Tensor, state: torch.Tensor, instruction_ids: torch.Tensor) -> torch.Tensor:
        """The goal token's output, normalised like the state, [B, J] (differentiable: for training it alone).

        The goal token attends only to the prefix, so no action sampling is needed.
        """
        state_n = (state - self.state_mean) / self.state_std
        prefix = self._prefix(self.context_tokens(images, instruction_ids), state_n, instruction_ids)
        h = self.norm(self._run_prefix(prefix, self._mask(False, instruction_ids)))
        return self.goal_out(h[:, self.goal_index])

    @torch.no_grad()
    def predict_goal(self, images: torch.Tensor, state: torch.Tensor, instruction_ids: torch.Tensor) -> torch.Tensor:
        """The goal token's estimate of the joint state the episode ends in, [B, J] in joint units.

        A diagnostic: it shows where the model thinks the instruction sends the arm, and whether
        that changes with the instruction at all (``bench/probe_grounding.py``).
        """
        return self.goal_token(images, state, instruction_ids).float() * self.state_std + self.state_mean

    @torch.no_grad()
    def predict_pointer_goal(self, images: torch.Tensor, instruction_ids: torch.Tensor) -> torch.Tensor | None:
        """The target pointer's own goal estimate (what ``goal_in`` feeds the goal token), [B, J] in joint
        units; None for a model without one. A diagnostic beside ``predict_goal``."""
        if self.pointer_goal_out is None:
            return None
        ctx = self.context_tokens(images, instruction_ids)
        return self.pointer_goal(ctx).float() * self.state_std + self.state_mean

    @torch.no_grad()
    def sample(
        self,
        images: torch.Tensor,
        state: torch.Tensor,
        instruction_ids: torch.Tensor,
        num_steps: int | None = None,
        with_frames: bool = True,
        generator: torch.Generator | None = None,
        noise_scale: float = 1.0,
        noise: tuple[torch.Tensor, torch.Tensor | None] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Generate ``(actions [B, H, J] in joint units, future tokens or None)`` by Euler
        integration of the learned flow. Decode tokens with ``decode_tokens``.

        ``with_frames=False`` drops the future-frame tokens; by the attention mask the
        actions are the same as with them (given the same generator state). ``noise_scale``
        scales the actions' starting noise: 1 samples the learned distribution, 0 makes the
        chunk deterministic (the flow from the distribution's centre), a common trade of
        diversity for precision when one mode is wanted.

        ``noise``: the starting points (``draw_noise``'s pair) instead of drawing them from
        ``generator``. A server batching several clients draws each client's from that
        client's own generator and stacks them, so every row gets the chunk an unbatched
        call would have given it.
        """
        cfg = self.cfg
        steps = int(num_steps or cfg.num_steps)
        b, dev = images.shape[0], images.device
        dtype = self.pos.dtype
        state_n = (state - self.state_mean) / self.state_std
        prefix = self._prefix(self.context_tokens(images, instruction_ids), state_n, instruction_ids)
        mask = self._mask(with_frames, instruction_ids)
        cache = self.encode_prefix(prefix, mask)
        act_noise, x_fut = noise if noise is not None else self.draw_noise(b, with_frames, generator, dev)
        if act_noise.shape != (b, cfg.action_horizon, cfg.num_joints) or (x_fut is None) == with_frames:
            raise ValueError(f"noise does not fit a batch of {b} (with_frames={with_frames})")
        x_act = noise_scale * act_noise.to(dtype)
        x_fut = x_fut.to(dtype) if x_fut is not None else None
        dt = 1.0 / steps
        for i in range(steps):
            t = torch.full((b,), i * dt, device=dev)
            v_act, v_fut = self.denoise_cached(cache, mask, x_act, t, x_fut, t)
            x_act = x_act + dt * v_act
            if x_fut is not None:
                x_fut = x_fut + dt * v_fut
        return self._flow_to_actions(x_act, state), x_fut

    def draw_noise(
        self, batch: int, with_frames: bool, generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The flow's standard-normal starting points, drawn in ``sample``'s order: actions
        [B, H, J], then (with frames) future tokens [B, n_fut, token_dim], else None."""
        cfg, dtype = self.cfg, self.pos.dtype
        dev = self.pos.device if device is None else device
        act = torch.randn(batch, cfg.action_horizon, cfg.num_joints, generator=generator, device=dev, dtype=dtype)
        fut = None
        if with_frames:
            fut = torch.randn(batch, self.n_fut, cfg.token_dim, generator=generator, device=dev, dtype=dtype)
        return act, fut
