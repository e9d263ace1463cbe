"""Replay a recorded episode's actions as a Policy, for bring-up without a model.

Sources: a LeRobot v3 dataset directory (``meta/info.json`` + ``data/**/*.parquet``
with ``action``, ``timestamp``, ``episode_index`` columns; read with pyarrow) or a
plain ``.npz`` with ``actions`` [N, J] and optionally ``period`` (s) or ``fps`` and
``joint_names``. The first ``infer`` fixes the episode start; each later one returns
the H actions that follow the observation time, holding the last action after the
end so the arm stops where the recording stopped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from wam_ros.policies.base import Observation, Policy, PolicyError, PolicySpec, Prediction
from wam_ros.resources import resolve


class ReplayError(ValueError):
    """The recording is missing or unusable; the message names why."""


def load_lerobot_actions(root: Path, episode: int) -> tuple[np.ndarray, float, tuple[str, ...] | None]:
    """(actions [N, J], period, joint names or None) of one episode of a LeRobot v3 dataset."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    info_file = root / "meta" / "info.json"
    if not info_file.is_file():
        raise ReplayError(f"'{root}' is not a LeRobot dataset: {info_file} missing")
    info = json.loads(info_file.read_text())
    names = (info.get("features", {}).get("action", {}) or {}).get("names")
    files = sorted((root / "data").rglob("*.parquet"))
    if not files:
        raise ReplayError(f"no parquet files under {root / 'data'}")
    rows_a, rows_t = [], []
    for f in files:
        table = pq.read_table(f, columns=["action", "timestamp", "episode_index"])
        table = table.filter(pc.equal(table["episode_index"], episode))
        if table.num_rows:
            rows_a.append(np.array(table["action"].to_pylist(), dtype=float))
            rows_t.append(np.asarray(table["timestamp"].to_pylist(), dtype=float).reshape(-1))
    if not rows_a:
        raise ReplayError(f"episode {episode} not found in {root}")
    t = np.concatenate(rows_t)
    order = np.argsort(t, kind="stable")
    actions = np.concatenate(rows_a)[order]
    fps = info.get("fps")
    period = 1.0 / float(fps) if fps else float(np.median(np.diff(t[order]))) if len(t) > 1 else 0.0
    return actions, period, tuple(names) if names else None


def load_npz_actions(path: Path) -> tuple[np.ndarray, float, tuple[str, ...] | None]:
    with np.load(path, allow_pickle=False) as z:
        if "actions" not in z:
            raise ReplayError(f"{path} has no 'actions' array (keys: {sorted(z.files)})")
        actions = np.asarray(z["actions"], dtype=float)
        period = float(z["period"]) if "period" in z else 1.0 / float(z["fps"]) if "fps" in z else 0.0
        names = tuple(str(n) for n in z["joint_names"]) if "joint_names" in z else None
    return actions, period, names


class ReplayPolicy(Policy):
    def __init__(
        self,
        path: str | Path,
        episode: int = 0,
        horizon: int = 16,
        period: float | None = None,
        joint_names: tuple[str, ...] | list[str] | None = None,
    ) -> None:
        p = resolve(path)
        if p.is_dir():
            actions, rec_period, rec_names = load_lerobot_actions(p, int(episode))
        elif p.is_file() and p.suffix == ".npz":
            actions, rec_period, rec_names = load_npz_actions(p)
        else:
            raise ReplayError(f"replay source '{p}' is neither a LeRobot dataset directory nor an .npz file")
        if actions.ndim != 2 or actions.shape[0] < 1 or not np.all(np.isfinite(actions)):
            raise ReplayError(f"recorded actions must be a finite (N>=1, J) array, got shape {actions.shape}")
        period = float(period) if period else rec_period
        if not period > 0:
            raise ReplayError("no step period: the recording has no fps/period; pass period=")
        if joint_names is not None and rec_names is not None and tuple(joint_names) != rec_names:
            raise ReplayError(f"joint names mismatch: recording has {list(rec_names)}, robot has {list(joint_names)}")
        names = tuple(joint_names) if joint_names is not None else rec_names
        if names is None:
            raise ReplayError("the recording names no joints; pass joint_names=")
        if len(names) != actions.shape[1]:
            raise ReplayError(f"{len(names)} joint names for {actions.shape[1]}-wide actions")
        self.actions = actions
        self.spec = PolicySpec(names, (), (0, 0), int(horizon), period)
        self._t0: float | None = None

    def reset(self) -> None:
        self._t0 = None

    def infer(self, observation: Observation, decode_frames: bool = True) -> Prediction:
        if not np.isfinite(observation.timestamp):
            raise PolicyError("observation timestamp is not finite")
        if self._t0 is None:
            self._t0 = observation.timestamp
        period, h = self.spec.action_period, self.spec.action_horizon
        # action i (0-based) is the target for t0 + (i + 1) * period.
        first = round((observation.timestamp - self._t0) / period)
        idx = np.clip(np.arange(first, first + h), 0, len(self.actions) - 1)
        done = first + h > len(self.actions)
        return Prediction(self.actions[idx].copy(), period, extras={"replay_index": int(first), "finished": done})
