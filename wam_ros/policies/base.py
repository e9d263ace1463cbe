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
    """What the nodes and tools call on a backend, and nothing else.

    Backends subclass it explicitly to inherit the defaults below (no device, no tunables,
    nothing to close), so a caller never has to probe a backend with ``hasattr``.
    """

    spec: PolicySpec
    #: where inference runs, for logs and diagnostics ("cpu", "cuda", ...; "n/a" when not applicable)
    device: str = "n/a"

    def infer(self, observation: Observation, decode_frames: bool = True) -> Prediction:
        """Predict an action chunk (and, if ``decode_frames``, the future frames)."""
        ...

    def reset(self) -> None:
        """Forget episode state (new episode / new instruction)."""
        ...

    def tunables(self) -> dict[str, Any]:
        """Settings that may change while the policy runs: name -> current value (see ``tune``)."""
        return {}

    def tune(self, name: str, value: Any) -> None:
        """Change one of ``tunables()`` for the next inference; PolicyError for an unknown name or a bad value."""
        raise PolicyError(f"{type(self).__name__} has no tunable '{name}' (has {sorted(self.tunables())})")

    def close(self) -> None:
        """Release connections and devices; idempotent. The default has nothing to release."""
        return None


class ForeignPolicy(Policy):
    """A third party's policy object (``spec``, ``infer``, ``reset``; e.g. from a wam-serve factory) as a Policy.

    Its own ``device`` and ``close`` are used when it has them; it has no tunables.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.device = str(getattr(inner, "device", "n/a"))

    @property
    def spec(self) -> PolicySpec:  # type: ignore[override]
        return self.inner.spec

    def infer(self, observation: Observation, decode_frames: bool = True) -> Prediction:
        return self.inner.infer(observation, decode_frames=decode_frames)

    def reset(self) -> None:
        self.inner.reset()

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()


def as_policy(obj: Any) -> Policy:
    """``obj`` itself when it is a Policy, a :class:`ForeignPolicy` around it when it has at least ``spec``,
    ``infer`` and ``reset``; TypeError naming what it lacks otherwise."""
    if isinstance(obj, Policy):
        return obj
    missing = [m for m in ("spec", "infer", "reset") if not hasattr(obj, m)]
    if missing:
        raise TypeError(f"a {type(obj).__name__} has no {', '.join(missing)}, so it is not a wam_ros Policy")
    return ForeignPolicy(obj)
