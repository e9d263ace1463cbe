"""TinyWAM: a small, real World-Action Model (frames + actions by joint flow matching).

``model`` (the network), ``data`` (batch format, normalisation), ``checkpoint``
(safetensors + config.json, compatibility checks). The Policy wrapper is
``wam_ros.policies.tiny_wam_policy.TinyWamPolicy``.

The names below load on first use, so ``wam_ros.tiny_wam.defaults`` (the sizes and device
that parameters and tools share) imports without torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wam_ros.tiny_wam.checkpoint import (
        CheckpointError,
        CheckpointMeta,
        check_compatible,
        load_checkpoint,
        load_meta,
        save_checkpoint,
    )
    from wam_ros.tiny_wam.data import Normalization, collate, example_batch
    from wam_ros.tiny_wam.model import TinyWam, TinyWamConfig, TinyWamConfigError, tokenize

_HOME = {
    "checkpoint": ("CheckpointError", "CheckpointMeta", "check_compatible", "load_checkpoint", "load_meta",
                   "save_checkpoint"),
    "data": ("Normalization", "collate", "example_batch"),
    "model": ("TinyWam", "TinyWamConfig", "TinyWamConfigError", "tokenize"),
}
_MODULE = {name: module for module, names in _HOME.items() for name in names}

__all__ = [
    "CheckpointError",
    "CheckpointMeta",
    "Normalization",
    "TinyWam",
    "TinyWamConfig",
    "TinyWamConfigError",
    "check_compatible",
    "collate",
    "example_batch",
    "load_checkpoint",
    "load_meta",
    "save_checkpoint",
    "tokenize",
]


def __getattr__(name: str) -> Any:
    module = _MODULE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
