"""What ``/wam/predicted_frames`` shows: the latest prediction, filled in as its real frames arrive.

The node hands over each prediction (``show``) and each batch of (predicted, real) frame
pairs the matcher finds (``add_pairs``); this keeps the latest prediction, the real frames
that have arrived for its times, and which cameras can have the path drawn, and composes
the filmstrip (``wam_ros.visualization.filmstrip``). Pairs of older predictions are not
drawn, but once any pair has arrived the strip keeps the comparison layout (waiting tiles
until the real frames come), so its size does not jump with every chunk.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from wam_ros.camera.pinhole import PinholeCamera
from wam_ros.visualization.filmstrip import filmstrip_row, observed_only_strip
from wam_ros.visualization.path_overlay import ChunkPath, overlay_problem

if TYPE_CHECKING:
    from wam_ros.monitoring.prediction_matching import FramePair


_EARLY_MAX = 32  # pairs kept for a prediction the display has not been shown yet


@dataclass
class _Shown:
    stamp: float
    observed: Mapping[str, np.ndarray]
    path: ChunkPath | None
    predicted: Mapping[str, np.ndarray] | None
    offsets: np.ndarray | None
    note: str
    real: dict[str, dict[int, np.ndarray]] = field(default_factory=dict)
    rows: dict[str, np.ndarray] = field(default_factory=dict)  # composed rows, redrawn when their camera changes


class PredictionDisplay:
    """The filmstrip state between a prediction and its real frames. Thread-safe: the inference worker
    shows predictions while image callbacks add pairs."""

    def __init__(self, calibrations: Mapping[str, PinholeCamera], tile_size: tuple[int, int] = (128, 128)) -> None:
        self.calibrations = dict(calibrations)
        self.tile_size = tile_size
        self._lock = threading.Lock()
        self._shown: _Shown | None = None
        self._comparing = False
        self._checked: set[str] = set()
        self._usable: dict[str, PinholeCamera] = {}
        self._early: list[FramePair] = []  # pairs of a prediction not shown yet (the matcher can be first)
        self.notes: list[str] = []  # why a camera gets no path drawn, each said once

    def _check_cameras(self, observed: Mapping[str, np.ndarray]) -> None:
        """Decide once per camera, from its first image, whether its path can be drawn."""
        for cam, img in observed.items():
            if cam in self._checked:
                continue
            self._checked.add(cam)
            calib = self.calibrations.get(cam)
            problem = (f"camera '{cam}' has no calibration: no path drawn on it" if calib is None
                       else overlay_problem(calib, np.shape(img)))
            if problem:
                self.notes.append(problem)
            else:
                self._usable[cam] = calib  # type: ignore[assignment]

    def show(
        self,
        stamp: float,
        observed: Mapping[str, np.ndarray],
        path: ChunkPath | None,
        predicted: Mapping[str, np.ndarray] | None = None,
        offsets: np.ndarray | None = None,
        note: str = "",
    ) -> np.ndarray:
        """A new prediction (observation ``stamp``): its filmstrip. Without ``predicted`` frames the strip is the
        observed frames beside ``note``."""
        with self._lock:
            self._check_cameras(observed)
            self._shown = _Shown(stamp, observed, path, predicted, None if offsets is None else np.asarray(offsets),
                                 note)
            early, self._early = self._early, []
            self._fill(self._shown, early)
            return self._render()

    @property
    def overlay_cameras(self) -> list[str]:
        """The cameras whose tiles get the path drawn (known from each camera's first image)."""
        with self._lock:
            return sorted(self._usable)

    def add_pairs(self, pairs: Iterable[FramePair]) -> tuple[float, np.ndarray] | None:
        """Real frames that arrived for predicted times: (observation stamp, filmstrip) of the shown prediction
        with them filled in, or None when none of them changes what is shown (nothing to redraw)."""
        with self._lock:
            pairs, shown, changed = list(pairs), self._shown, False
            if pairs and not self._comparing:
                self._comparing, changed = True, True
                if shown is not None:
                    shown.rows.clear()  # every row gains the comparison columns
            newer = [p for p in pairs if shown is None or p.obs_stamp > shown.stamp + 1e-9]
            self._early = (self._early + newer)[-_EARLY_MAX:]
            if shown is not None and self._fill(shown, pairs):
                changed = True
            return (shown.stamp, self._render()) if changed and shown is not None else None

    @staticmethod
    def _fill(shown: _Shown, pairs: Iterable[FramePair]) -> bool:
        """Put the real frames of ``shown``'s pairs in place; whether any was."""
        filled = False
        for pair in pairs:
            if shown.offsets is None or abs(pair.obs_stamp - shown.stamp) > 1e-9:
                continue
            k = np.flatnonzero(np.abs(shown.offsets - pair.offset) < 1e-6)
            if k.size:
                shown.real.setdefault(pair.camera, {})[int(k[0])] = pair.real
                shown.rows.pop(pair.camera, None)
                filled = True
        return filled

    def _render(self) -> np.ndarray:
        s = self._shown
        assert s is not None
        if s.predicted is None or s.offsets is None:
            return observed_only_strip(s.observed, s.note, self.tile_size, path=s.path, calibrations=self._usable)
        cams = [c for c in s.predicted if c in s.observed]
        if not cams:
            raise ValueError("no camera has both an observed and predicted frames")
        for cam in cams:
            if cam not in s.rows:
                s.rows[cam] = filmstrip_row(cam, s.observed[cam], s.predicted[cam], s.offsets, self.tile_size,
                                            path=s.path, calibration=self._usable.get(cam),
                                            real=s.real.get(cam, {}) if self._comparing else None)
        return np.concatenate([s.rows[c] for c in cams], axis=0)  # camera order, however rows were redrawn
