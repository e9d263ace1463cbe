"""Policy backends behind one factory, each imported only when asked for.

``make_policy(backend, **kwargs)``: "tiny_wam" (in-process TinyWAM), "remote" (an
openpi-protocol policy server), "replay" (a recorded episode's actions), "expert"
(the simulator's scripted expert). Lazy imports keep torch out of processes that
never run the tiny WAM.
"""

from __future__ import annotations

import importlib
from typing import Any

from wam_ros.policies.base import Policy

BACKENDS: dict[str, tuple[str, str]] = {
    "tiny_wam": ("wam_ros.policies.tiny_wam_policy", "TinyWamPolicy"),
    "remote": ("wam_ros.remote.client", "RemotePolicy"),
    "replay": ("wam_ros.policies.replay_policy", "ReplayPolicy"),
    "expert": ("wam_ros.sim.scripted_expert", "ScriptedExpertPolicy"),
}


def make_policy(backend: str, **kwargs: Any) -> Policy:
    """Build a backend by name; ValueError names an unknown backend."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown policy backend '{backend}' (known: {sorted(BACKENDS)})")
    module, cls = BACKENDS[backend]
    return getattr(importlib.import_module(module), cls)(**kwargs)


__all__ = ["BACKENDS", "make_policy"]
