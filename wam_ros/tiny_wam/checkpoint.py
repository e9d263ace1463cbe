"""TinyWAM checkpoints: ``model.safetensors`` (weights) + ``config.json`` (everything else).

config.json records what the model was trained for — joint names, cameras, image
size, action horizon and step period — plus the model config and normalisation
stats, so loading can refuse a checkpoint that does not fit the robot instead of
driving the wrong joints. safetensors never executes code on load (unlike pickle).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from wam_ros.camera.pinhole import CalibrationError, PinholeCamera
from wam_ros.tiny_wam.data import Normalization
from wam_ros.tiny_wam.model import TinyWam, TinyWamConfig, TinyWamConfigError

FORMAT = "wam_ros.tiny_wam/1"
WEIGHTS = "model.safetensors"
CONFIG = "config.json"


class CheckpointError(ValueError):
    """The checkpoint is missing, unreadable or does not fit the robot; the message names why."""


@dataclass
class CheckpointMeta:
    joint_names: tuple[str, ...]
    cameras: tuple[str, ...]
    action_period: float
    model: TinyWamConfig
    normalization: Normalization
    extra: dict[str, Any] = field(default_factory=dict)  # training info (dataset, steps, losses...)
    # camera -> calibration (``PinholeCamera.to_dict()``): where the world head's cues come from (world_cues.py)
    calibrations: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.model.image_size)  # type: ignore[return-value]

    @property
    def action_horizon(self) -> int:
        return self.model.action_horizon

    def validate(self) -> CheckpointMeta:
        if len(self.joint_names) != self.model.num_joints:
            raise CheckpointError(f"{len(self.joint_names)} joint_names for a model of {self.model.num_joints} joints")
        if len(self.cameras) != self.model.num_cameras:
            raise CheckpointError(f"{len(self.cameras)} cameras for a model of {self.model.num_cameras} cameras")
        if not self.action_period > 0:
            raise CheckpointError(f"action_period must be positive, got {self.action_period}")
        if self.model.world_head:
            missing = [c for c in self.cameras if c not in self.calibrations]
            if missing:
                raise CheckpointError(f"the world head needs every camera's calibration; {CONFIG} has none for "
                                      f"{missing} (under 'calibrations')")
            try:
                for name, d in self.calibrations.items():
                    PinholeCamera.from_dict(d, f"{CONFIG} calibrations.{name}")
            except CalibrationError as exc:
                raise CheckpointError(str(exc)) from exc
        return self

    def cameras_calibrated(self) -> dict[str, PinholeCamera]:
        """The stored calibrations as cameras (empty without any)."""
        return {name: PinholeCamera.from_dict(d, f"{CONFIG} calibrations.{name}")
                for name, d in self.calibrations.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "joint_names": list(self.joint_names),
            "cameras": list(self.cameras),
            "image_size": list(self.image_size),
            "action_horizon": self.action_horizon,
            "action_period": self.action_period,
            "model": self.model.to_dict(),
            "normalization": self.normalization.to_dict(),
            "extra": self.extra,
        } | ({"calibrations": self.calibrations} if self.calibrations else {})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CheckpointMeta:
        if d.get("format") != FORMAT:
            raise CheckpointError(f"unknown checkpoint format {d.get('format')!r}, expected {FORMAT!r}")
        try:
            model = TinyWamConfig.from_dict(d["model"])
            meta = cls(tuple(d["joint_names"]), tuple(d["cameras"]), float(d["action_period"]), model,
                       Normalization.from_dict(d["normalization"]), dict(d.get("extra", {})),
                       dict(d.get("calibrations", {})))
        except (KeyError, TypeError, ValueError, TinyWamConfigError) as exc:
            raise CheckpointError(f"bad {CONFIG}: {type(exc).__name__}: {exc}") from exc
        if list(meta.image_size) != list(d.get("image_size", meta.image_size)):
            raise CheckpointError(f"image_size {d['image_size']} disagrees with model.image_size {meta.image_size}")
        if int(d.get("action_horizon", meta.action_horizon)) != meta.action_horizon:
            raise CheckpointError(f"action_horizon {d['action_horizon']} disagrees with the model's")
        return meta.validate()


def save_checkpoint(path: str | Path, model: TinyWam, meta: CheckpointMeta) -> Path:
    """Write ``path/model.safetensors`` and ``path/config.json``; returns the directory."""
    meta.validate()
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / WEIGHTS), metadata={"format": FORMAT})
    (out / CONFIG).write_text(json.dumps(meta.to_dict(), indent=2) + "\n")
    return out


def load_meta(path: str | Path) -> CheckpointMeta:
    """Read only config.json (cheap: for checks before loading weights)."""
    p = Path(path)
    cfg_file = p / CONFIG
    if not p.is_dir() or not cfg_file.is_file() or not (p / WEIGHTS).is_file():
        raise CheckpointError(f"checkpoint not found: '{p}' must be a directory with {CONFIG} and {WEIGHTS}")
    try:
        d = json.loads(cfg_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read {cfg_file}: {exc}") from exc
    return CheckpointMeta.from_dict(d)


def load_checkpoint(
    path: str | Path, device: str | torch.device = "cpu", allow_new_modules: bool = False
) -> tuple[TinyWam, CheckpointMeta]:
    """Model (eval mode, on ``device``, normalisation set) and its meta.

    ``allow_new_modules`` (fine-tuning): parameters the current code has and the checkpoint
    lacks (a head added since) keep their fresh initialisation; every weight the checkpoint
    does have must still fit.
    """
    meta = load_meta(path)
    model = TinyWam(meta.model)
    try:
        state = load_file(str(Path(path) / WEIGHTS))
        missing, unexpected = model.load_state_dict(state, strict=not allow_new_modules)
    except (RuntimeError, OSError, ValueError) as exc:
        raise CheckpointError(f"weights in '{path}' do not fit its {CONFIG}: {exc}") from exc
    if unexpected:
        raise CheckpointError(f"weights in '{path}' have parameters the model does not: {sorted(unexpected)}")
    n = meta.normalization
    model.set_normalization(n.state_mean, n.state_std, n.action_mean, n.action_std)
    if missing:
        print(f"[checkpoint] {path}: freshly initialised {sorted({k.split('.')[0] for k in missing})}")
    return model.to(device).eval(), meta


def check_compatible(
    meta: CheckpointMeta,
    joint_names: tuple[str, ...] | list[str] | None = None,
    cameras: tuple[str, ...] | list[str] | None = None,
    image_size: tuple[int, int] | list[int] | None = None,
) -> None:
    """Raise CheckpointError naming the first mismatch with the robot/camera configuration.

    Joint names must match in order (actions are emitted in that order); cameras as
    a set (the policy looks frames up by name).
    """
    if joint_names is not None and tuple(joint_names) != tuple(meta.joint_names):
        raise CheckpointError(
            f"joint names mismatch: checkpoint has {list(meta.joint_names)}, robot has {list(joint_names)}"
        )
    if cameras is not None and set(cameras) != set(meta.cameras):
        missing = sorted(set(meta.cameras) - set(cameras))
        extra = sorted(set(cameras) - set(meta.cameras))
        raise CheckpointError(
            f"cameras mismatch: checkpoint expects {list(meta.cameras)}, configured {list(cameras)}"
            f" (missing {missing}, unexpected {extra})"
        )
    if image_size is not None and tuple(int(v) for v in image_size) != tuple(meta.image_size):
        raise CheckpointError(
            f"image size mismatch: checkpoint expects {list(meta.image_size)} (h, w), configured {list(image_size)}"
        )
