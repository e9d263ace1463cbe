"""What every camera source yields (``Frame``) and how it fails (exceptions).

A source is opened, read frame by frame from ONE thread, and closed; failures are
typed so the capture loop can react: ``CameraNotFound`` (retry with back-off),
``CameraDisconnected`` (report, reopen), ``CorruptFrame`` (skip and count),
``EndOfStream`` (a recording or video file ended and is not looping).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from wam_ros.camera.camera_info import CameraCalibration
    from wam_ros.camera.config import CameraConfig

#: Returns the current time in seconds on the clock frames are stamped with (the node clock).
Clock = Callable[[], float]


class CameraError(RuntimeError):
    """A camera could not be opened or read."""


class CameraNotFound(CameraError):
    """The requested device is not present; the message lists the devices that are."""


class CameraDisconnected(CameraError):
    """The device stopped delivering frames (unplugged, stream timeout)."""


class CorruptFrame(CameraError):
    """One frame was unusable (wrong size, decode failure); the stream goes on."""


class EndOfStream(CameraError):
    """A recording or video file ended (and is not looping)."""


@dataclass(frozen=True)
class Frame:
    """One captured image set.

    ``stamp`` is the capture time on the node clock (device time mapped through
    ``ClockSync`` when the device has a clock, else the time the frame was read);
    ``device_stamp`` the device's own time in seconds (None if it has none).
    """

    color: np.ndarray  # (H, W, 3) uint8 RGB
    stamp: float
    sequence: int
    depth: np.ndarray | None = None  # (H, W) uint16 millimetres, aligned to color
    device_stamp: float | None = None


@runtime_checkable
class CameraSource(Protocol):
    """A camera that delivers ``Frame``s; used from a single capture thread."""

    def open(self) -> None:
        """Connect; raises CameraNotFound (naming the device and listing present ones)."""

    def read(self) -> Frame:
        """Block until the next frame; raises CorruptFrame / CameraDisconnected / EndOfStream."""

    def close(self) -> None:
        """Release the device; safe to call twice or after a failed open."""

    def calibration(self) -> CameraCalibration | None:
        """Intrinsics from the device (valid after open), or None if it has none."""

    def describe(self) -> str:
        """Human-readable name of the device, for logs and diagnostics."""


def check_frame(color: object, width: int, height: int, what: str) -> np.ndarray:
    """Return ``color`` as an (H, W, 3) uint8 array or raise CorruptFrame saying why.

    ``width``/``height`` of 0 accept any size.
    """
    if not isinstance(color, np.ndarray) or color.dtype != np.uint8 or color.ndim != 3 or color.shape[2] != 3:
        shape = getattr(color, "shape", None)
        raise CorruptFrame(f"{what}: frame is not HxWx3 uint8 (got {type(color).__name__} {shape})")
    if (width and color.shape[1] != width) or (height and color.shape[0] != height):
        raise CorruptFrame(f"{what}: frame is {color.shape[1]}x{color.shape[0]}, expected {width}x{height}")
    return color


def open_source(config: CameraConfig, clock: Clock) -> CameraSource:
    """The (not yet opened) source that ``config.source`` names; imports drivers lazily."""
    if config.source == "realsense":
        from wam_ros.camera.realsense_source import RealSenseSource

        return RealSenseSource(config, clock)
    if config.source == "opencv":
        from wam_ros.camera.opencv_source import OpenCVSource

        return OpenCVSource(config, clock)
    raise ValueError(f"camera '{config.name}': unknown source '{config.source}' (expected realsense or opencv)")
