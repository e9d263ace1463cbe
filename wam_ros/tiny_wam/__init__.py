"""TinyWAM: a small, real World-Action Model (frames + actions by joint flow matching).

``model`` (the network), ``data`` (batch format, normalisation), ``checkpoint``
(safetensors + config.json, compatibility checks). The Policy wrapper is
``wam_ros.policies.tiny_wam_policy.TinyWamPolicy``.
"""

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
