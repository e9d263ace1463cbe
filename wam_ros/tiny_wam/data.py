"""The TinyWAM batch format, and the normalisation stats a checkpoint carries.

A training batch is a ``dict[str, torch.Tensor]`` (what ``TinyWam.loss`` takes):

==================  =================================  =========================================
key                 shape / dtype                      meaning
==================  =================================  =========================================
images              [B, C_cams, T_ctx, 3, H, W] float  context frames in [-1, 1], oldest first,
                                                       cameras in checkpoint ``cameras`` order
state               [B, J] float                       measured joint positions (actuated order)
instruction_ids     [B, L] long                        ``tokenize(instruction)``; 0 = padding
actions             [B, H, J] float                    joint targets; action i at (i+1) * period
future_frames       [B, C_cams, K, 3, H, W] float      frames at action steps ``cfg.frame_steps()``
                                                       (k-th frame at (k+1)*frame_stride*period)
goal                [B, J] float                       joint positions the episode ends in (the
                                                       goal token's auxiliary target)
target_yx           [B, C_cams, 2] float (optional)    where the goal is in each camera's image,
                                                       (y, x) in the pointer's [-1, 1] coordinates
target_visible      [B, C_cams] bool (optional)        which cameras have ``target_yx`` (calibrated,
                                                       goal in front of the camera and in the image)
==================  =================================  =========================================

``frames_to_tensor`` turns uint8 HxWx3 frames into the float layout; ``collate``
stacks per-sample numpy dicts (what a dataset reader yields) into a batch. A trainer
computes ``Normalization.from_data`` over its training set and stores it in the
checkpoint, so the policy normalises exactly as training did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from wam_ros.tiny_wam.model import TinyWamConfig, tokenize

BATCH_KEYS = ("images", "state", "instruction_ids", "actions", "future_frames", "goal")


@dataclass
class Normalization:
    """Per-joint mean/std for the state input and the action output."""

    state_mean: np.ndarray
    state_std: np.ndarray
    action_mean: np.ndarray
    action_std: np.ndarray

    @classmethod
    def identity(cls, num_joints: int) -> Normalization:
        z, o = np.zeros(num_joints), np.ones(num_joints)
        return cls(z, o, z.copy(), o.copy())

    @classmethod
    def from_data(
        cls, states: np.ndarray, actions: np.ndarray, min_std: float = 1e-3, min_state_std: float = 0.02
    ) -> Normalization:
        """Stats over ``states`` [N, J] and ``actions`` [N, H, J] or [N, J]; std floored so a
        joint that never moved (e.g. a gripper in reach-only data) does not blow up. The
        state floor is larger (about a degree): on the robot such a joint still drifts by
        tracking error, and a 1e-3 floor would turn that into a far out-of-distribution input."""
        s = np.asarray(states, dtype=float).reshape(-1, np.shape(states)[-1])
        a = np.asarray(actions, dtype=float).reshape(-1, np.shape(actions)[-1])
        return cls(s.mean(0), np.maximum(s.std(0), min_state_std), a.mean(0), np.maximum(a.std(0), min_std))

    def to_dict(self) -> dict[str, list[float]]:
        return {k: np.asarray(getattr(self, k), dtype=float).tolist()
                for k in ("state_mean", "state_std", "action_mean", "action_std")}

    @classmethod
    def from_dict(cls, d: dict) -> Normalization:
        out = cls(*(np.asarray(d[k], dtype=float) for k in ("state_mean", "state_std", "action_mean", "action_std")))
        if any(not np.all(np.isfinite(v)) for v in (out.state_mean, out.state_std, out.action_mean, out.action_std)):
            raise ValueError("normalization stats contain non-finite values")
        if np.any(out.state_std <= 0) or np.any(out.action_std <= 0):
            raise ValueError("normalization std must be positive")
        return out


def resize_frame(frame: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """HxWx3 uint8 -> image_size (h, w) uint8; INTER_AREA, the right filter for shrinking."""
    h, w = image_size
    if frame.shape[:2] == (h, w):
        return frame
    return cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)


def frames_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 [..., H, W, 3] -> float [..., 3, H, W] in [-1, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(frames))
    return t.movedim(-1, -3).float().div_(127.5).sub_(1.0)


def tensor_to_frames(x: torch.Tensor) -> np.ndarray:
    """float [..., 3, H, W] in [-1, 1] -> uint8 [..., H, W, 3]."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).movedim(-3, -1).cpu().numpy()


def collate(samples: Sequence[dict], cfg: TinyWamConfig) -> dict[str, torch.Tensor]:
    """Stack samples into a batch. Each sample: ``images`` uint8 [C, T, H, W, 3], ``state``
    [J], ``instruction`` str, ``actions`` [H, J], ``future_frames`` uint8 [C, K, H, W, 3], ``goal`` [J],
    and optionally ``target_yx`` [C, 2] with ``target_visible`` [C] (every sample or none)."""
    batch = {
        "images": frames_to_tensor(np.stack([s["images"] for s in samples])),
        "state": torch.as_tensor(np.stack([s["state"] for s in samples]), dtype=torch.float32),
        "instruction_ids": tokenize([s["instruction"] for s in samples], cfg.vocab_size, cfg.max_text_tokens),
        "actions": torch.as_tensor(np.stack([s["actions"] for s in samples]), dtype=torch.float32),
        "future_frames": frames_to_tensor(np.stack([s["future_frames"] for s in samples])),
        "goal": torch.as_tensor(np.stack([s["goal"] for s in samples]), dtype=torch.float32),
    }
    if samples and "target_yx" in samples[0]:
        batch["target_yx"] = torch.as_tensor(np.stack([s["target_yx"] for s in samples]), dtype=torch.float32)
        batch["target_visible"] = torch.as_tensor(np.stack([s["target_visible"] for s in samples]), dtype=torch.bool)
    return batch


def example_batch(cfg: TinyWamConfig, batch_size: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random batch of the right shapes (for shape checks and benchmarks, not training)."""
    rng = np.random.default_rng(seed)
    c, h, w = cfg.num_cameras, *cfg.image_size
    samples = [
        {
            "images": rng.integers(0, 256, (c, cfg.context_frames, h, w, 3), dtype=np.uint8),
            "state": rng.normal(size=cfg.num_joints),
            "instruction": "reach the red cube",
            "actions": rng.normal(size=(cfg.action_horizon, cfg.num_joints)),
            "future_frames": rng.integers(0, 256, (c, cfg.future_frames, h, w, 3), dtype=np.uint8),
            "goal": rng.normal(size=cfg.num_joints),
        }
        for _ in range(batch_size)
    ]
    return collate(samples, cfg)
