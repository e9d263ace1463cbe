"""camera_node's parameters (the node: ``wam_ros.nodes.camera_node``).

Node-wide settings here; each camera's settings are the fields of
``wam_ros.camera.config.CameraConfig``, declared as ``<name>.<field>`` (nested under
the camera's name in YAML).
"""

from __future__ import annotations

from dataclasses import replace

from wam_ros.camera.capture import RETRY_INITIAL, RETRY_MAX
from wam_ros.camera.config import CameraConfig
from wam_ros.params import Param, params_of

PARAMS: list[Param] = [
    Param("camera_names", ["camera"], "Cameras to run; each has its own '<name>.*' parameters"),
    Param("retry_initial", RETRY_INITIAL, "Seconds before the first retry of an absent camera (doubles each time)",
          range=(0.01, 60.0)),
    Param("retry_max", RETRY_MAX, "Longest wait between retries of an absent camera [s]", range=(0.01, 600.0)),
    Param("diagnostics_period", 1.0, "Period of /diagnostics reports [s]", range=(0.05, 60.0)),
    Param("stale_after", 1.0, "A streaming camera with no frame for this long is reported WARN [s]",
          range=(0.01, 60.0)),
]

#: One camera's settings, as CameraConfig defines them (``device`` included).
CAMERA_PARAMS: list[Param] = params_of(CameraConfig)


def camera_params(name: str, exclude: tuple[str, ...] = ()) -> list[Param]:
    """The parameters of camera ``name``: '<name>.<field>' for each CameraConfig setting."""
    return [replace(p, name=f"{name}.{p.name}") for p in CAMERA_PARAMS if p.name not in exclude]
