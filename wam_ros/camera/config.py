"""One camera's settings (``CameraConfig``), validated once, shared by node and sources."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from wam_ros.params import ParameterError, check_fields, param

SOURCES = ("realsense", "opencv")
#: The stack's camera names (topics camera/<name>/color/image_raw): the simulated arm renders them
#: (``wam_ros.sim.mujoco_arm.CAMERAS``), the bundled checkpoint sees them, wam_node and the recorder take them.
DEFAULT_CAMERAS = ("scene", "wrist")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class CameraConfig:
    """Settings of one camera.

    ``device``: for ``opencv`` a device index ("0"), a path (/dev/video2, a video
    file), an RTSP/HTTP URL or a GStreamer pipeline (contains "!"); for
    ``realsense`` a serial number ("" = the first device found). ``recording``: a
    RealSense .db3/.bag file played back instead of a live device. Width/height 0
    and fps 0 mean "whatever the device/file gives".
    """

    name: str
    # Each setting is defined once, here; camera_node declares them as '<name>.<field>' parameters.
    source: str = param("opencv", "Camera driver", choices=SOURCES)
    device: str = param(
        "",
        "opencv: index (0), /dev/videoN, video file, RTSP URL or GStreamer pipeline; "
        "realsense: serial number ('' = first device). String or integer",
    )
    recording: str = param("", "realsense: play this .db3/.bag recording instead of a live device")
    loop: bool = param(False, "Loop a video file or recording at its end")
    realtime: bool = param(True, "Play files/recordings at their recorded rate (else as fast as possible)")
    width: int = param(640, "Colour width [px] (0 = device/file default)", range=(0, 8192))
    height: int = param(480, "Colour height [px] (0 = device/file default)", range=(0, 8192))
    fps: float = param(30.0, "Frame rate [Hz] (0 = device/file default)", range=(0.0, 1000.0))
    depth: bool = param(False, "Publish depth aligned to colour (realsense only)")
    frame_id: str = param("", "header.frame_id ('' = <name>_color_optical_frame)")
    calibration: str = param("", "ROS camera_calibration YAML for CameraInfo ('' = device intrinsics)")
    read_timeout: float = param(2.0, "No frame for this long = disconnected, reconnect [s]", range=(0.05, 60.0))

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"camera name '{self.name}': must be a letter followed by letters, digits or _")
        if self.source not in SOURCES:
            raise ValueError(f"camera '{self.name}': source '{self.source}' must be one of {list(SOURCES)}")
        for key in ("width", "height"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool):
                raise ValueError(f"camera '{self.name}': {key} = {v!r} must be an integer")
        try:
            check_fields(self)  # the ranges of the fields above
        except ParameterError as exc:
            raise ValueError(f"camera '{self.name}': {exc}") from None
        if self.source == "opencv" and not self.device:
            raise ValueError(f"camera '{self.name}': an opencv camera needs 'device' (index, path, file or URL)")
        if self.depth and self.source != "realsense":
            raise ValueError(f"camera '{self.name}': depth is only available from a realsense source")
        if self.calibration and not Path(self.calibration).is_file():
            raise ValueError(f"camera '{self.name}': calibration file '{self.calibration}' does not exist")
        if self.recording and not Path(self.recording).is_file():
            raise ValueError(f"camera '{self.name}': recording '{self.recording}' does not exist")
        if not self.frame_id:
            object.__setattr__(self, "frame_id", f"{self.name}_color_optical_frame")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CameraConfig:
        """Build from a mapping (YAML / parameters); unknown keys are refused by name."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"camera '{data.get('name', '?')}': unknown setting(s) {unknown} (known: {sorted(known)})")
        values = dict(data)
        if "device" in values:
            values["device"] = str(values["device"])
        if "fps" in values:
            values["fps"] = float(values["fps"])
        return cls(**values)


def load_camera_configs(path: str | Path) -> list[CameraConfig]:
    """Read ``cameras: [{name: ..., source: ..., ...}, ...]`` from a YAML file."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    cams = data.get("cameras")
    if not isinstance(cams, list) or not cams:
        raise ValueError(f"{path}: expected a non-empty 'cameras' list")
    configs = [CameraConfig.from_dict(c) for c in cams]
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: duplicate camera names in {names}")
    return configs
