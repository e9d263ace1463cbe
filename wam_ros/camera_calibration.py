"""A calibrated static camera: where a point in the robot's base frame appears in its image.

Training uses it to turn a demonstration's final end-effector position (the place the
instruction sent the arm) into the pixel the policy's target pointer should look at
(``wam_ros.training``). The file format is the usual pair a hand-eye calibration gives:
the pinhole intrinsics of ``sensor_msgs/CameraInfo`` (``K`` at ``width`` x ``height``) and
the camera's pose in the robot base frame, in the optical convention (x right, y down,
z forward) that ROS ``*_optical_frame`` frames and OpenCV use::

    camera: scene
    width: 160
    height: 120
    K: [fx, 0, cx, 0, fy, cy, 0, 0, 1]
    base_from_camera:          # 4x4, row-major
      [[r00, r01, r02, x], [r10, r11, r12, y], [r20, r21, r22, z], [0, 0, 0, 1]]

Pixel coordinates follow OpenCV/CameraInfo: the centre of pixel (0, 0) is (0, 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml


class CalibrationError(ValueError):
    """A calibration file or value is unusable; the message names the field."""


@dataclass(frozen=True)
class PinholeCamera:
    camera: str
    width: int
    height: int
    K: np.ndarray  # 3x3
    base_from_camera: np.ndarray  # 4x4, optical frame

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise CalibrationError(f"{self.camera}: width/height must be positive, got {self.width}x{self.height}")
        if np.shape(self.K) != (3, 3) or not np.all(np.isfinite(self.K)) or self.K[0, 0] <= 0 or self.K[1, 1] <= 0:
            raise CalibrationError(f"{self.camera}: K must be a finite 3x3 matrix with positive fx, fy")
        t = np.asarray(self.base_from_camera, dtype=float)
        if t.shape != (4, 4) or not np.all(np.isfinite(t)):
            raise CalibrationError(f"{self.camera}: base_from_camera must be a finite 4x4 matrix")
        r = t[:3, :3]
        if not np.allclose(r @ r.T, np.eye(3), atol=1e-4) or np.linalg.det(r) < 0:
            raise CalibrationError(f"{self.camera}: base_from_camera rotation is not a proper rotation")

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Base-frame points [N, 3] -> (pixel coordinates [N, 2] as (u, v), in front of the camera [N])."""
        p = np.asarray(points, dtype=float).reshape(-1, 3)
        cam = (p - self.base_from_camera[:3, 3]) @ self.base_from_camera[:3, :3]  # R^T (p - t)
        z = cam[:, 2]
        safe = np.where(z > 1e-6, z, 1.0)
        uv = (cam[:, :2] / safe[:, None]) @ self.K[:2, :2].T + self.K[:2, 2]
        return uv, z > 1e-6

    def normalized(self, points: np.ndarray, grid: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Base-frame points [N, 3] -> ((y, x) [N, 2], visible [N]) in the model's coordinates of an image
        resized to ``grid`` (h, w) pixels: -1 / +1 are the centres of its first / last pixel
        (``wam_ros.tiny_wam.model.pixel_grid``). Visible: in front of the camera and inside the image."""
        uv, front = self.project(points)
        s = (uv + 0.5) / np.array([self.width, self.height])  # [0, 1] across the image, either size
        inside = front & np.all((s >= 0) & (s <= 1), axis=1)
        g = np.array([grid[1], grid[0]], dtype=float)
        xy = 2 * (s * g - 0.5) / (g - 1) - 1
        return xy[:, ::-1].copy(), inside

    def to_dict(self) -> dict:
        return {
            "camera": self.camera,
            "width": int(self.width),
            "height": int(self.height),
            "K": [float(v) for v in np.asarray(self.K).reshape(-1)],
            "base_from_camera": [[float(v) for v in row] for row in np.asarray(self.base_from_camera)],
        }

    @classmethod
    def from_dict(cls, d: dict, source: str = "calibration") -> PinholeCamera:
        missing = [k for k in ("camera", "width", "height", "K", "base_from_camera") if k not in d]
        if missing:
            raise CalibrationError(f"{source}: missing {missing}")
        k = np.asarray(d["K"], dtype=float)
        if k.size != 9:
            raise CalibrationError(f"{source}: K must have 9 entries (row-major 3x3), got {k.size}")
        return cls(str(d["camera"]), int(d["width"]), int(d["height"]), k.reshape(3, 3),
                   np.asarray(d["base_from_camera"], dtype=float))

    @classmethod
    def load(cls, path: str | Path) -> PinholeCamera:
        try:
            d = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise CalibrationError(f"cannot read camera calibration {path}: {exc}") from exc
        if not isinstance(d, dict):
            raise CalibrationError(f"{path}: expected a mapping")
        return cls.from_dict(d, str(path))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
