"""The policy interface: one call, ``infer(observation) -> prediction``.

Every backend (the in-process tiny WAM, a remote policy server, episode replay, the
scripted expert) implements ``Policy``; the nodes and tools only ever see this, as in
openpi's client/server split. Values are plain numpy so they cross process and
network boundaries unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np


class PolicyError(RuntimeError):
    """Inference failed or returned something unusable; no chunk may be published."""


@dataclass
class Observation:
    images: dict[str, np.ndarray]  # camera name -> HxWx3 uint8 (rgb)
    joint_positions: np.ndarray  # (J,) in PolicySpec.joint_names order
    instruction: str
    timestamp: float  # seconds, node clock: the observation time the chunk is aligned to


@dataclass
class Prediction:
    actions: np.ndarray  # (H, J) joint position targets, in PolicySpec.joint_names order
    action_period: float  # seconds between consecutive actions; action i is at (i + 1) * period
    frames: dict[str, np.ndarray] | None = None  # camera -> (K, H, W, 3) uint8 predicted future frames
    frame_offsets: np.ndarray | None = None  # (K,) seconds after the observation of each predicted frame
    extras: dict[str, Any] = field(default_factory=dict)  # values, latency breakdown, ...

    def validate(self, spec: PolicySpec) -> Prediction:
        """Raise PolicyError naming the problem (shape, dtype, non-finite values)."""
        a = self.actions
        if not isinstance(a, np.ndarray) or a.dtype.kind != "f":
            raise PolicyError(f"actions must be a float array, got {type(a).__name__} {getattr(a, 'dtype', '')}")
        if a.ndim != 2 or a.shape[1] != len(spec.joint_names) or a.shape[0] < 1:
            raise PolicyError(f"actions have shape {a.shape}, expected (H>=1, {len(spec.joint_names)})")
        if not np.all(np.isfinite(a)):
            raise PolicyError("actions contain non-finite values")
        if not (np.isfinite(self.action_period) and self.action_period > 0):
            raise PolicyError(f"action_period must be positive, got {self.action_period}")
        if self.frames is not None:
            if self.frame_offsets is None:
                raise PolicyError("frames given without frame_offsets")
            k = len(self.frame_offsets)
            for cam, f in self.frames.items():
                if not isinstance(f, np.ndarray) or f.dtype != np.uint8 or f.ndim != 4 or f.shape[0] != k:
                    raise PolicyError(
                        f"predicted frames for '{cam}' must be uint8 (K={k}, H, W, 3), got "
                        f"{getattr(f, 'dtype', type(f).__name__)} {getattr(f, 'shape', '')}"
                    )
        return self


@dataclass(frozen=True)
class PolicySpec:
    """What a policy expects and produces; checked against the robot at configure."""

    joint_names: tuple[str, ...]
    cameras: tuple[str, ...]
    image_size: tuple[int, int]  # (height, width) the policy consumes
    action_horizon: int
    action_period: float


@runtime_checkable
class Policy(Protocol):
    spec: PolicySpec

    def infer(self, observation: Observation, decode_frames: bool = True) -> Prediction:
        """Predict an action chunk (and, if ``decode_frames``, the future frames)."""
        ...

    def reset(self) -> None:
        """Forget episode state (new episode / new instruction)."""
        ...
