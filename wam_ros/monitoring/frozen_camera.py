"""A frozen camera: its picture stops changing while the arm moves (ROS-free).

A camera driver that hangs often keeps publishing its last buffer, with fresh stamps: every freshness check
passes and the policy acts on a picture of the past. A live camera never delivers the same frame twice, pixel
for pixel, while the arm it films moves (sensor noise alone changes pixels; in the simulator the moving arm
does), so that is the fact checked here, frame by frame: how far the arm's joints have moved since the camera's
picture last changed, over at least ``MIN_FRAMES`` frames of it (one re-sent buffer of a driver hiccup is not a
hung camera). A still scene with a still arm is no fault. The surprise monitor turns a frozen camera
into its highest score (``wam_ros.monitoring.surprise``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

#: Joint motion [rad] of the arm while a camera's picture stays identical, from which the camera counts as frozen.
FROZEN_MOTION = 0.02
#: Frames of one identical picture (the first included) before a camera can count as frozen.
MIN_FRAMES = 3


@dataclass
class _Unchanged:
    stamp: float  # the first frame of the unchanged picture
    frame: np.ndarray
    joints: np.ndarray
    moved: float = 0.0  # largest joint excursion from ``joints`` since
    frames: int = 1  # frames of this picture so far


@dataclass
class FrozenCameraCheck:
    """Per camera: the picture, when it last changed and how far the arm has moved since."""

    min_motion: float = FROZEN_MOTION
    min_frames: int = MIN_FRAMES
    _cams: dict[str, _Unchanged] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.min_motion > 0 or self.min_frames < 2:
            raise ValueError(f"FrozenCameraCheck: need min_motion > 0 and min_frames >= 2, got "
                             f"min_motion={self.min_motion}, min_frames={self.min_frames}")

    def update(self, camera: str, stamp: float, frame: np.ndarray, joints: Sequence[float] | None) -> bool:
        """One frame of ``camera`` and the arm's joint positions when it was taken (None: unknown, nothing is
        claimed). True while the picture has stayed identical for ``min_frames`` frames or more as the arm moved
        ``min_motion`` rad or more."""
        last = self._cams.get(camera)
        if joints is None:
            self._cams.pop(camera, None)
            return False
        q = np.asarray(joints, float)
        if last is None or stamp < last.stamp or last.joints.shape != q.shape or not np.array_equal(last.frame, frame):
            self._cams[camera] = _Unchanged(float(stamp), np.array(frame, copy=True), q.copy())
            return False
        last.frames += 1
        last.moved = max(last.moved, float(np.abs(q - last.joints).max(initial=0.0)))
        return last.frames >= self.min_frames and last.moved >= self.min_motion

    def unchanged_for(self, camera: str, stamp: float) -> float:
        """Seconds the picture of ``camera`` has not changed, at ``stamp`` (0 when unknown)."""
        last = self._cams.get(camera)
        return 0.0 if last is None else max(0.0, float(stamp) - last.stamp)

    def moved(self, camera: str) -> float:
        """How far [rad] the arm has moved while the picture of ``camera`` stayed identical."""
        last = self._cams.get(camera)
        return 0.0 if last is None else last.moved

    def clear(self) -> None:
        """Forget every camera's picture (a new episode: the world was replaced)."""
        self._cams.clear()
