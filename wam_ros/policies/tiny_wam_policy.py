"""TinyWAM as a ``wam_ros.policies.base.Policy``: observation in, action chunk (+ future frames) out.

It owns the pre-processing the model was trained with (resize to the checkpoint's
image size, context-frame history, word hashing, normalisation from the checkpoint)
and the device choices (auto/cuda/cpu, bf16 autocast on CUDA only, optional
torch.compile). ``decode_frames=False`` is the action-only fast path. A checkpoint with a world
head predicts the frames with it after the actions (its cues from FK and the checkpoint's camera
calibrations, ``wam_ros.tiny_wam.world_cues``); without one, from the transformer's frame latents.

Episode state (the frame history and the noise generator) lives in a
:class:`TinyWamSession`: ``infer``/``reset`` use the policy's own, and a server with
several robots gives each its own (``new_session``) and runs their concurrent requests
as one forward pass (``infer_batch``), each getting the chunk it would have got alone.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wam_ros.policies.base import Observation, Policy, PolicyError, PolicySpec, Prediction
from wam_ros.resources import DEFAULT_CHECKPOINT, resolve
from wam_ros.tiny_wam.checkpoint import CheckpointError, check_compatible, load_checkpoint
from wam_ros.tiny_wam.data import frames_to_tensor, resize_frame, tensor_to_frames
from wam_ros.tiny_wam.defaults import DEVICE, DEVICES
from wam_ros.tiny_wam.model import tokenize
from wam_ros.tiny_wam.world_cues import WorldCues, WorldCuesError


def pick_device(device: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cuda' without a GPU is an error, not a silent fallback."""
    if device not in DEVICES:
        raise ValueError(f"device '{device}' must be one of {list(DEVICES)}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch sees no CUDA GPU")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _checked_num_steps(num_steps: int) -> int:
    if num_steps < 1:
        raise CheckpointError(f"num_steps must be >= 1, got {num_steps}")
    return num_steps


def _checked_noise_scale(noise_scale: float) -> float:
    if not 0.0 <= noise_scale <= 2.0:
        raise CheckpointError(f"noise_scale must be in [0, 2], got {noise_scale}")
    return float(noise_scale)


class TinyWamSession:
    """One robot's episode state: its context-frame history per camera and its own noise
    generator, so robots sharing a model neither see each other's frames nor shift each
    other's noise (a robot's chunks do not depend on who else is served)."""

    def __init__(self, cameras: Sequence[str], context_frames: int, device: torch.device, seed: int | None) -> None:
        self.history: dict[str, deque[np.ndarray]] = {c: deque(maxlen=context_frames) for c in cameras}
        self.generator = torch.Generator(device=device)
        if seed is None:
            self.generator.seed()  # non-deterministic
        else:
            self.generator.manual_seed(int(seed))

    def reset(self) -> None:
        """A new episode: forget the frames (the generator runs on, as it always has)."""
        for h in self.history.values():
            h.clear()


class TinyWamPolicy(Policy):
    """Load a TinyWAM checkpoint and refuse it if it does not fit the robot/cameras.

    Tunables (``tune``): ``num_steps`` (flow-matching Euler steps) and ``noise_scale``.
    """

    def __init__(
        self,
        checkpoint: str | Path = DEFAULT_CHECKPOINT,
        device: str = DEVICE,
        num_steps: int | None = None,
        compile: bool = False,
        joint_names: tuple[str, ...] | list[str] | None = None,
        cameras: tuple[str, ...] | list[str] | None = None,
        image_size: tuple[int, int] | list[int] | None = None,
        seed: int | None = 0,
        num_threads: int | None = None,
        noise_scale: float = 0.0,
    ) -> None:
        if num_threads:
            torch.set_num_threads(int(num_threads))
        self.torch_device = pick_device(device)
        self.device = str(self.torch_device)
        self.model, self.meta = load_checkpoint(resolve(checkpoint), self.torch_device)
        check_compatible(self.meta, joint_names, cameras, image_size)
        cfg = self.model.cfg
        self.num_steps = _checked_num_steps(int(num_steps) if num_steps else cfg.num_steps)
        self.noise_scale = _checked_noise_scale(noise_scale)
        self.spec = PolicySpec(
            joint_names=tuple(self.meta.joint_names),
            cameras=tuple(self.meta.cameras),
            image_size=tuple(cfg.image_size),  # type: ignore[arg-type]
            action_horizon=cfg.action_horizon,
            action_period=self.meta.action_period,
        )
        self.frame_offsets = np.array(cfg.frame_steps(), dtype=float) * self.meta.action_period
        self.world_cues: WorldCues | None = None  # the world head's geometry (FK + the checkpoint's calibrations)
        if self.model.world_head is not None:
            try:
                self.world_cues = WorldCues(self.spec.cameras, self.meta.cameras_calibrated(), self.spec.joint_names,
                                            self.spec.image_size, cfg.world_plane_z)
            except WorldCuesError as exc:
                raise CheckpointError(f"{checkpoint}: {exc}") from exc
        self.seed = None if seed is None else int(seed)
        self._session = self.new_session()
        if compile:
            self.model.denoise_cached = torch.compile(  # type: ignore[method-assign]
                self.model.denoise_cached, dynamic=False
            )

    def new_session(self, seed: int | None = None) -> TinyWamSession:
        """Fresh episode state for one more robot; its generator starts from ``seed`` (default: the policy's)."""
        return TinyWamSession(self.spec.cameras, self.model.cfg.context_frames, self.torch_device,
                              self.seed if seed is None else seed)

    def reset(self) -> None:
        self._session.reset()

    def tunables(self) -> dict[str, Any]:
        return {"num_steps": self.num_steps, "noise_scale": self.noise_scale}

    def tune(self, name: str, value: Any) -> None:
        try:
            if name == "num_steps":
                self.num_steps = _checked_num_steps(int(value))
            elif name == "noise_scale":
                self.noise_scale = _checked_noise_scale(value)
            else:
                super().tune(name, value)
        except CheckpointError as exc:
            raise PolicyError(str(exc)) from exc

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.torch_device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _checked(self, obs: Observation) -> np.ndarray:
        """The joint positions as float32, after checking the observation; PolicyError naming the problem."""
        for cam in self.spec.cameras:
            img = obs.images.get(cam)
            if img is None:
                raise PolicyError(f"observation lacks camera '{cam}' (has {sorted(obs.images)})")
            if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
                raise PolicyError(f"camera '{cam}' image must be uint8 HxWx3, got {img.dtype} {img.shape}")
        q = np.asarray(obs.joint_positions, dtype=np.float32).reshape(-1)
        if q.shape[0] != len(self.spec.joint_names) or not np.all(np.isfinite(q)):
            raise PolicyError(f"joint_positions must be {len(self.spec.joint_names)} finite values, got {q}")
        return q

    def _context_frames(self, obs: Observation, session: TinyWamSession | None = None) -> np.ndarray:
        """uint8 [C, T, H, W, 3]: the newest T frames per camera (the first frame repeated until T seen),
        from ``session``'s history (default: the policy's own)."""
        t = self.model.cfg.context_frames
        history = (session or self._session).history
        per_cam = []
        for cam in self.spec.cameras:
            hist = history[cam]
            hist.append(resize_frame(obs.images[cam], self.spec.image_size))
            frames = list(hist)
            per_cam.append(np.stack([frames[0]] * (t - len(frames)) + frames))
        return np.stack(per_cam)

    def _cues(self, state: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The world head's cues (warp grids, maps) for each row's joints and the chunk's targets at the frame times."""
        assert self.world_cues is not None
        steps = [s - 1 for s in self.model.cfg.frame_steps()]
        q, a = state.float().cpu().numpy(), actions.float().cpu().numpy()
        cues = [self.world_cues(q[r], a[r, steps]) for r in range(len(q))]
        dev = self.torch_device
        return (torch.from_numpy(np.stack([g for g, _ in cues])).to(dev),
                torch.from_numpy(np.stack([m for _, m in cues])).to(dev))

    def infer(self, observation: Observation, decode_frames: bool = True) -> Prediction:
        result = self.infer_batch([(observation, self._session)], decode_frames)[0]
        if isinstance(result, Exception):
            raise result
        return result

    @torch.inference_mode()
    def infer_batch(
        self, requests: Sequence[tuple[Observation, TinyWamSession]], decode_frames: bool = True
    ) -> list[Prediction | PolicyError]:
        """Several robots' observations (each with its session) in one forward pass.

        Each request's result is what ``infer`` with that session alone would give (same
        noise from the session's generator; equal up to float rounding). A request that
        fails its checks gets its own PolicyError and does not enter the batch; so does a
        second request of a session already in it (its frames would enter the other's history).
        """
        t0 = time.perf_counter()
        results: list[Prediction | PolicyError] = [PolicyError("not run") for _ in requests]
        ok: list[int] = []
        states: list[np.ndarray] = []
        for i, (obs, session) in enumerate(requests):
            try:
                if any(requests[j][1] is session for j in ok):
                    raise PolicyError("a session may have only one request in a batch")
                states.append(self._checked(obs))
                ok.append(i)
            except PolicyError as exc:
                results[i] = exc
        if not ok:
            return results
        cfg, dev = self.model.cfg, self.torch_device
        sessions = [requests[i][1] for i in ok]
        context = np.stack([self._context_frames(requests[i][0], s) for i, s in zip(ok, sessions)])
        images = frames_to_tensor(context).to(dev)
        state = torch.from_numpy(np.stack(states)).to(dev)
        text = tokenize([requests[i][0].instruction for i in ok], cfg.vocab_size, cfg.max_text_tokens).to(dev)
        # with a world head the frames come from it, after the actions: the transformer samples no frame tokens
        latent_frames = decode_frames and self.model.world_head is None
        draws = [self.model.draw_noise(1, latent_frames, s.generator, dev) for s in sessions]
        noise = (torch.cat([a for a, _ in draws]), torch.cat([f for _, f in draws]) if latent_frames else None)
        t1 = time.perf_counter()
        with self._autocast():
            actions, tokens = self.model.sample(images, state, text, self.num_steps, latent_frames, None,
                                                self.noise_scale, noise=noise)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        decoded = None
        if decode_frames:
            with self._autocast():
                frames = (self.model.decode_tokens(tokens.float()) if latent_frames
                          else self.model.predict_frames(images, state, actions, *self._cues(state, actions)))
            decoded = tensor_to_frames(frames)  # [B, C, K, H, W, 3]
        t3 = time.perf_counter()
        actions_np = actions.float().cpu().numpy().astype(np.float64)
        latency = {"preprocess": t1 - t0, "model": t2 - t1, "decode": t3 - t2, "total": t3 - t0}
        for row, i in enumerate(ok):
            frames = None if decoded is None else {cam: decoded[row, c] for c, cam in enumerate(self.spec.cameras)}
            pred = Prediction(
                actions=actions_np[row].copy(),
                action_period=self.spec.action_period,
                frames=frames,
                frame_offsets=self.frame_offsets.copy() if decoded is not None else None,
                extras={
                    "latency": dict(latency),
                    "device": self.device,
                    "num_steps": self.num_steps,
                    "noise_scale": self.noise_scale,
                    "batch_size": len(ok),
                },
            )
            try:
                results[i] = pred.validate(self.spec)
            except PolicyError as exc:
                results[i] = exc
        return results
