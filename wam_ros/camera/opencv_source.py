"""OpenCV camera source: V4L2/USB device (index or path), video file (optional loop),
RTSP/HTTP URL or GStreamer pipeline.

Frames are converted BGR -> RGB and resized to the configured size if the
device/file delivers another one. Video files are paced at their frame rate (or
``fps``) when ``realtime`` is set, so a file behaves like a camera.
"""

from __future__ import annotations

import glob
import time
from pathlib import Path

import cv2
import numpy as np

from wam_ros.camera.camera_info import CameraCalibration
from wam_ros.camera.config import CameraConfig
from wam_ros.camera.source import (
    CameraDisconnected,
    CameraNotFound,
    Clock,
    CorruptFrame,
    EndOfStream,
    Frame,
    check_frame,
)


def list_video_devices() -> list[str]:
    """The V4L2 device nodes present (what an absent-camera error lists)."""
    return sorted(glob.glob("/dev/video*"))


def has_gstreamer() -> bool:
    """Whether this OpenCV build can open GStreamer pipelines."""
    return any("GStreamer:" in line and "YES" in line for line in cv2.getBuildInformation().splitlines())


class OpenCVSource:
    def __init__(self, config: CameraConfig, clock: Clock) -> None:
        self.config = config
        self._clock = clock
        self._cap: cv2.VideoCapture | None = None
        self._kind = self._classify(config.device)
        self._seq = 0
        self._period = 0.0
        self._next_due = 0.0
        self._frame_count = 0

    @staticmethod
    def _classify(device: str) -> str:
        if device.isdigit():
            return "index"
        if "!" in device:
            return "gstreamer"
        if "://" in device:
            return "url"
        if device.startswith("/dev/"):
            return "device"
        return "file"

    def describe(self) -> str:
        return f"opencv {self._kind} '{self.config.device}'"

    def open(self) -> None:
        c = self.config
        if self._kind == "index":
            cap = cv2.VideoCapture(int(c.device))
        elif self._kind == "gstreamer":
            cap = cv2.VideoCapture(c.device, cv2.CAP_GSTREAMER)
        elif self._kind == "file" and not Path(c.device).is_file():
            raise CameraNotFound(f"camera '{c.name}': video file '{c.device}' does not exist")
        else:
            cap = cv2.VideoCapture(c.device)
        if not cap.isOpened():
            cap.release()
            if self._kind in ("index", "device"):
                raise CameraNotFound(
                    f"camera '{c.name}': video device {c.device} not found or busy; "
                    f"present video devices: {list_video_devices() or 'none'}"
                )
            hint = ""
            if self._kind == "gstreamer" and not has_gstreamer():
                hint = " (this OpenCV build has no GStreamer support, e.g. the PyPI wheels; use an RTSP URL)"
            raise CameraNotFound(f"camera '{c.name}': cannot open {self.describe()}{hint}")
        if self._kind != "file":
            if c.width and c.height:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, c.width)
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, c.height)
            if c.fps:
                cap.set(cv2.CAP_PROP_FPS, c.fps)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # newest frame, not a queue of old ones
        self._cap = cap
        fps = c.fps or cap.get(cv2.CAP_PROP_FPS) or 30.0
        self._period = 1.0 / fps if (self._kind == "file" and c.realtime) else 0.0
        self._next_due = time.monotonic()
        self._frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if self._kind == "file" else 0

    def _grab(self) -> tuple[bool, np.ndarray | None]:
        assert self._cap is not None
        if self._kind != "file":
            deadline = time.monotonic() + self.config.read_timeout
            while True:
                ok, img = self._cap.read()
                if ok:
                    return ok, img
                if time.monotonic() > deadline:
                    raise CameraDisconnected(
                        f"camera '{self.config.name}': no frame from {self.describe()} for {self.config.read_timeout} s"
                    )
                time.sleep(0.01)
        pos = int(self._cap.get(cv2.CAP_PROP_POS_FRAMES))
        ok, img = self._cap.read()
        if ok:
            return ok, img
        if self._frame_count and pos < self._frame_count - 1:
            # a frame in the middle of the file failed to decode: skip it (the decoder moved on)
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, pos + 1)
            raise CorruptFrame(f"camera '{self.config.name}': frame {pos} of '{self.config.device}' failed to decode")
        if not self.config.loop:
            raise EndOfStream(f"camera '{self.config.name}': end of '{self.config.device}'")
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        return self._cap.read()

    def read(self) -> Frame:
        if self._cap is None:
            raise CameraDisconnected(f"camera '{self.config.name}': read before open")
        if self._period:
            now = time.monotonic()
            if self._next_due > now:
                time.sleep(self._next_due - now)
            # stay on the grid, but never try to catch up more than one frame after a stall
            self._next_due = max(self._next_due + self._period, time.monotonic() - self._period)
        ok, img = self._grab()
        stamp = self._clock()
        if not ok or img is None:
            raise CorruptFrame(f"camera '{self.config.name}': {self.describe()} returned no image")
        device_stamp = self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0 if self._kind == "file" else None
        if img.ndim != 3 or img.shape[2] != 3:
            raise CorruptFrame(f"camera '{self.config.name}': expected a colour image, got shape {img.shape}")
        c = self.config
        if c.width and c.height and (img.shape[1] != c.width or img.shape[0] != c.height):
            img = cv2.resize(img, (c.width, c.height), interpolation=cv2.INTER_AREA)
        rgb = check_frame(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), 0, 0, self.describe())
        self._seq += 1
        return Frame(color=rgb, stamp=stamp, sequence=self._seq, device_stamp=device_stamp)

    def calibration(self) -> CameraCalibration | None:
        return None  # plain OpenCV cameras report no intrinsics; use a calibration YAML

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
