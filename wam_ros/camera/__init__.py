"""ROS-free camera sources: RealSense (live or recording), OpenCV (device, file, stream).

``open_source(config, clock)`` builds the source a ``CameraConfig`` names; the
``CaptureThread`` runs it with retry/back-off; camera_node only publishes.
"""

from wam_ros.camera.config import CameraConfig, load_camera_configs
from wam_ros.camera.source import (
    CameraDisconnected,
    CameraError,
    CameraNotFound,
    CameraSource,
    CorruptFrame,
    EndOfStream,
    Frame,
    open_source,
)

__all__ = [
    "CameraConfig",
    "CameraDisconnected",
    "CameraError",
    "CameraNotFound",
    "CameraSource",
    "CorruptFrame",
    "EndOfStream",
    "Frame",
    "load_camera_configs",
    "open_source",
]
