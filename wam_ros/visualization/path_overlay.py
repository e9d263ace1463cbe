"""The chunk's end-effector path drawn into the camera images, coloured by time.

A person reads a predicted frame faster when it shows where the arm is meant to go: the
path of the action chunk (forward kinematics of each point) is projected through each
camera's calibration (``wam_ros.camera.pinhole.PinholeCamera``): a static camera through
its fixed pose, a wrist camera through the end-effector pose at the tile's time, since it
moves with the arm. Early points are blue, late ones red (as ``/wam/predicted_path`` in
RViz); the point nearest the tile's time is ringed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from wam_ros.camera.pinhole import PinholeCamera

#: How far a calibration's aspect ratio may differ from the image's before the overlay is refused.
ASPECT_TOLERANCE = 0.02
_SHIFT = 4  # cv2 sub-pixel bits: lines and circles at 1/16 px
_LIMIT = 1e5  # pixel coordinates are clipped to +-this (points nearly in the camera's plane)


def time_rgb(frac: float) -> tuple[float, float, float]:
    """Early = blue, late = red, in [0, 1]: the colour that tells time along the chunk (RViz markers too)."""
    r, g, b = time_rgb_array(np.array([frac]))
    return float(r[0]), float(g[0]), float(b[0])


def time_rgb_array(fracs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``time_rgb`` of many time fractions at once: (r, g, b) arrays."""
    f = np.clip(np.asarray(fracs, dtype=float), 0.0, 1.0)
    return f, np.full_like(f, 0.2), 1.0 - f


@dataclass(frozen=True)
class ChunkPath:
    """The end-effector path of one chunk: ``times`` (N,) seconds after the observation (first: 0, the
    observed pose), ``poses`` (N, 4, 4) base_from_ee at each time."""

    times: np.ndarray
    poses: np.ndarray

    @classmethod
    def from_joints(cls, fk: Callable[[np.ndarray], np.ndarray], q_path: np.ndarray, times: np.ndarray) -> ChunkPath:
        """Forward kinematics ``fk`` (arm joints -> 4x4) of each row of ``q_path`` (N, n_arm) at ``times`` (N,)."""
        q_path, times = np.atleast_2d(q_path), np.asarray(times, dtype=float)
        if len(q_path) != len(times):
            raise ValueError(f"{len(q_path)} path points for {len(times)} times")
        return cls(times, np.stack([np.asarray(fk(q), dtype=float) for q in q_path]))

    @property
    def positions(self) -> np.ndarray:
        """(N, 3) end-effector positions in the base frame."""
        return self.poses[:, :3, 3]

    def fractions(self) -> np.ndarray:
        """(N,) each point's time as a fraction of the chunk (0 first, 1 last): its colour."""
        span = float(self.times[-1] - self.times[0]) or 1.0
        return (self.times - self.times[0]) / span

    def nearest(self, t: float) -> int:
        """Index of the path point nearest time ``t`` (seconds after the observation)."""
        return int(np.argmin(np.abs(self.times - t)))


def overlay_problem(camera: PinholeCamera, image_shape: tuple[int, ...]) -> str:
    """Why ``camera``'s calibration cannot be drawn on images of ``image_shape`` ('' when it can):
    a calibration at another resolution of the same aspect ratio scales; another aspect does not."""
    h, w = image_shape[:2]
    calib, image = camera.width / camera.height, w / h
    if abs(calib / image - 1.0) > ASPECT_TOLERANCE:
        return (f"calibration of '{camera.camera}' is {camera.width}x{camera.height}, images are {w}x{h}: "
                "aspect ratios differ, no path drawn")
    return ""


def project_to_tile(
    camera: PinholeCamera, points: np.ndarray, tile_size: tuple[int, int], base_from_ee: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Base-frame points (N, 3) -> ((x, y) (N, 2) pixel coordinates in a tile of ``tile_size`` (h, w) that shows
    the whole camera image, in front of the camera (N,)). Pixel centres as in OpenCV: (0, 0) is the first."""
    uv, front = camera.project(points, base_from_ee)
    th, tw = tile_size
    xy = (uv + 0.5) * np.array([tw / camera.width, th / camera.height]) - 0.5
    return np.clip(xy, -_LIMIT, _LIMIT), front


def draw_path(
    tile: np.ndarray, camera: PinholeCamera, path: ChunkPath, at_time: float, thickness: int | None = None
) -> np.ndarray:
    """Draw ``path`` on ``tile`` (RGB uint8, the whole camera image at any size) as the camera sees it at
    ``at_time``, ringing the point nearest that time. In place; returns the tile."""
    th, tw = tile.shape[:2]
    mark = path.nearest(at_time)
    base_from_ee = path.poses[mark] if camera.parent == "ee" else None
    xy, front = project_to_tile(camera, path.positions, (th, tw), base_from_ee)
    pts = [tuple(p) for p in np.round(xy * (1 << _SHIFT)).astype(np.int64).tolist()]
    f = path.fractions()
    cols = [tuple(c) for c in np.round(255 * np.array(time_rgb_array(f))).astype(int).T.tolist()]
    width = thickness or max(1, round(min(th, tw) / 64))
    for i in range(len(pts) - 1):
        if front[i] and front[i + 1]:
            cv2.line(tile, pts[i], pts[i + 1], cols[i], width, cv2.LINE_AA, _SHIFT)
    dot = max(1, round(min(th, tw) / 80)) << _SHIFT
    for i in np.flatnonzero(front):
        cv2.circle(tile, pts[i], dot, cols[i], -1, cv2.LINE_AA, _SHIFT)
    if front[mark]:
        ring = max(3, round(min(th, tw) / 20)) << _SHIFT
        centre = pts[mark]
        cv2.circle(tile, centre, ring, (255, 255, 255), width + 2, cv2.LINE_AA, _SHIFT)
        cv2.circle(tile, centre, ring, cols[mark], width, cv2.LINE_AA, _SHIFT)
    return tile
