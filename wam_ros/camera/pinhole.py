"""A calibrated camera: where a point in the robot's base frame appears in its image.

Training uses it to turn a demonstration's final end-effector position (the place the
instruction sent the arm) into the pixel the policy's target pointer should look at
(``wam_ros.tiny_wam.training``). The file format is the usual pair a hand-eye calibration gives:
the pinhole intrinsics of ``sensor_msgs/CameraInfo`` (``K`` at ``width`` x ``height``) and
the camera's pose in the robot base frame, in the optical convention (x right, y down,
z forward) that ROS ``*_optical_frame`` frames and OpenCV use::

    camera: scene
    width: 160
    height: 120
    K: [fx, 0, cx, 0, fy, cy, 0, 0, 1]
    base_from_camera:          # 4x4, row-major
      [[r00, r01, r02, x], [r10, r11, r12, y], [r20, r21, r22, z], [0, 0, 0, 1]]

A camera on the arm (a wrist camera) gives ``ee_from_camera`` instead, its pose in the
end-effector frame (the robot model's ``ee_link``, what eye-in-hand calibration yields);
projecting then takes the end-effector pose of the moment (``base_from_ee``).

Pixel coordinates follow OpenCV/CameraInfo: the centre of pixel (0, 0) is (0, 0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
    pose: np.ndarray  # 4x4, optical frame in the parent frame
    parent: str = "base"  # "base": a static camera | "ee": mounted on the end effector

    PARENTS = ("base", "ee")

    def __post_init__(self) -> None:
        if self.parent not in self.PARENTS:
            raise CalibrationError(f"{self.camera}: parent must be one of {list(self.PARENTS)}, got {self.parent!r}")
        if self.width <= 0 or self.height <= 0:
            raise CalibrationError(f"{self.camera}: width/height must be positive, got {self.width}x{self.height}")
        if np.shape(self.K) != (3, 3) or not np.all(np.isfinite(self.K)) or self.K[0, 0] <= 0 or self.K[1, 1] <= 0:
            raise CalibrationError(f"{self.camera}: K must be a finite 3x3 matrix with positive fx, fy")
        t = np.asarray(self.pose, dtype=float)
        if t.shape != (4, 4) or not np.all(np.isfinite(t)):
            raise CalibrationError(f"{self.camera}: {self.pose_key} must be a finite 4x4 matrix")
        r = t[:3, :3]
        if not np.allclose(r @ r.T, np.eye(3), atol=1e-4) or np.linalg.det(r) < 0:
            raise CalibrationError(f"{self.camera}: {self.pose_key} rotation is not a proper rotation")

    @property
    def pose_key(self) -> str:
        return f"{self.parent}_from_camera"

    def base_from_camera(self, base_from_ee: np.ndarray | None = None) -> np.ndarray:
        """The camera's pose in the base frame (a wrist camera needs the end-effector pose of the moment)."""
        if self.parent == "base":
            return self.pose
        if base_from_ee is None:
            raise CalibrationError(f"{self.camera} is mounted on the end effector: pass base_from_ee")
        return np.asarray(base_from_ee, dtype=float) @ self.pose

    def project(
        self, points: np.ndarray, base_from_ee: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Base-frame points [N, 3] -> (pixel coordinates [N, 2] as (u, v), in front of the camera [N])."""
        p = np.asarray(points, dtype=float).reshape(-1, 3)
        pose = self.base_from_camera(base_from_ee)
        cam = (p - pose[:3, 3]) @ pose[:3, :3]  # R^T (p - t)
        z = cam[:, 2]
        safe = np.where(z > 1e-6, z, 1.0)
        uv = (cam[:, :2] / safe[:, None]) @ self.K[:2, :2].T + self.K[:2, 2]
        return uv, z > 1e-6

    def normalized(
        self, points: np.ndarray, grid: tuple[int, int], base_from_ee: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Base-frame points [N, 3] -> ((y, x) [N, 2], visible [N]) in the model's coordinates of an image
        resized to ``grid`` (h, w) pixels: -1 / +1 are the centres of its first / last pixel
        (``wam_ros.tiny_wam.model.pixel_grid``). Visible: in front of the camera and inside the image."""
        uv, front = self.project(points, base_from_ee)
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
            self.pose_key: [[float(v) for v in row] for row in np.asarray(self.pose)],
        }

    @classmethod
    def from_dict(cls, d: dict, source: str = "calibration") -> PinholeCamera:
        poses = [p for p in cls.PARENTS if f"{p}_from_camera" in d]
        if len(poses) != 1:
            raise CalibrationError(f"{source}: give exactly one of base_from_camera / ee_from_camera")
        missing = [k for k in ("camera", "width", "height", "K") if k not in d]
        if missing:
            raise CalibrationError(f"{source}: missing {missing}")
        k = np.asarray(d["K"], dtype=float)
        if k.size != 9:
            raise CalibrationError(f"{source}: K must have 9 entries (row-major 3x3), got {k.size}")
        return cls(str(d["camera"]), int(d["width"]), int(d["height"]), k.reshape(3, 3),
                   np.asarray(d[f"{poses[0]}_from_camera"], dtype=float), poses[0])

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


def calibration_files(entries: Sequence[str]) -> dict[str, str]:
    """``["scene=config/sim_scene_camera.yaml", ...]`` (empty entries skipped) as camera -> file.

    Raises CalibrationError naming the entry that is malformed or names a camera twice.
    """
    out: dict[str, str] = {}
    for entry in entries:
        if not entry:
            continue
        camera, sep, path = (s.strip() for s in entry.partition("="))
        if not sep or not camera or not path:
            raise CalibrationError(f"calibration entry {entry!r}: expected camera=file "
                                   "(CAMERA=FILE, e.g. scene=config/sim_scene_camera.yaml)")
        if camera in out:
            raise CalibrationError(f"calibration entry {entry!r}: camera '{camera}' is given twice")
        out[camera] = path
    return out


def load_calibrations(entries: Sequence[str], resolve_path: Callable[[str], Path] = Path) -> dict[str, PinholeCamera]:
    """:func:`calibration_files` entries loaded: camera -> calibration.

    The key is the camera's topic name, so one file can serve a camera renamed in a deployment.
    Raises CalibrationError naming the entry that is malformed or whose file is unusable.
    """
    return {camera: PinholeCamera.load(resolve_path(path)) for camera, path in calibration_files(entries).items()}
