"""Camera intrinsics for CameraInfo: from the device, or a ROS calibration YAML.

The YAML is the format ``camera_calibration`` / ``camera_info_manager`` write
(image_width, image_height, camera_name, camera_matrix, distortion_model,
distortion_coefficients, rectification_matrix, projection_matrix), so a camera
calibrated with the standard ROS tools needs no conversion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml


class CalibrationError(ValueError):
    """The calibration file is missing a field or has one of the wrong size."""


@dataclass(frozen=True)
class CameraCalibration:
    """Pinhole intrinsics. All-zero ``k`` means uncalibrated (the ROS convention)."""

    width: int
    height: int
    k: np.ndarray  # 3x3
    d: np.ndarray = field(default_factory=lambda: np.zeros(5))
    distortion_model: str = "plumb_bob"
    r: np.ndarray = field(default_factory=lambda: np.eye(3))
    p: np.ndarray | None = None  # 3x4; None = [K | 0]

    @property
    def calibrated(self) -> bool:
        return bool(np.any(self.k))

    def projection(self) -> np.ndarray:
        if self.p is not None:
            return self.p
        p = np.zeros((3, 4))
        p[:, :3] = self.k
        return p


def uncalibrated(width: int, height: int) -> CameraCalibration:
    return CameraCalibration(width, height, np.zeros((3, 3)))


def from_intrinsics(
    width: int, height: int, fx: float, fy: float, ppx: float, ppy: float, coeffs: list[float], model: str
) -> CameraCalibration:
    """From device intrinsics (e.g. a RealSense ``rs.intrinsics``); ``model`` is the ROS model name."""
    k = np.array([[fx, 0.0, ppx], [0.0, fy, ppy], [0.0, 0.0, 1.0]])
    return CameraCalibration(int(width), int(height), k, np.asarray(coeffs, dtype=float), model)


def _matrix(data: dict, key: str, rows: int, cols: int, path: Path) -> np.ndarray:
    m = data.get(key)
    if not isinstance(m, dict) or "data" not in m:
        raise CalibrationError(f"{path}: '{key}' missing or not a {{rows, cols, data}} mapping")
    values = np.asarray(m["data"], dtype=float)
    if values.size != rows * cols:
        raise CalibrationError(f"{path}: '{key}' has {values.size} values, expected {rows}x{cols}")
    return values.reshape(rows, cols)


def load_calibration(path: str | Path) -> CameraCalibration:
    """Read a ROS camera_calibration YAML; raises CalibrationError naming the bad field."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CalibrationError(f"{path}: cannot read calibration: {exc}") from exc
    if not isinstance(data, dict):
        raise CalibrationError(f"{path}: not a calibration mapping")
    try:
        width, height = int(data["image_width"]), int(data["image_height"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CalibrationError(f"{path}: image_width/image_height missing or not integers") from exc
    k = _matrix(data, "camera_matrix", 3, 3, path)
    dist = data.get("distortion_coefficients", {"data": [0.0] * 5})
    d = np.asarray(dist.get("data", []) if isinstance(dist, dict) else [], dtype=float)
    r = _matrix(data, "rectification_matrix", 3, 3, path) if "rectification_matrix" in data else np.eye(3)
    p = _matrix(data, "projection_matrix", 3, 4, path) if "projection_matrix" in data else None
    return CameraCalibration(width, height, k, d, str(data.get("distortion_model", "plumb_bob")), r, p)
