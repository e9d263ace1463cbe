"""numpy <-> sensor_msgs/Image and CameraInfo, written for speed (no cv_bridge).

One memcpy each way: ``image_to_msg`` copies the array once into an ``array.array('B')``
and hands it to the message, and ``image_from_msg`` views the message buffer as an
array (respecting ``step``).

Why ``check_fields=True``: with field checks off (rclpy's default) the generated
``data`` setter runs ``array.array('B', value)``, an element-by-element copy that
costs ~1 ms for 640x480 rgb8 (and ~2 ms more through ``tobytes``); with checks on,
an ``array.array('B')`` is taken as-is. Measured 640x480 rgb8: ~2.4 ms -> ~0.05 ms
(bench/bench_camera.py prints it).
"""

from __future__ import annotations

import array as pyarray

import numpy as np
from sensor_msgs.msg import CameraInfo, Image

from wam_ros.ros.time_conversion import sec_to_time

# encoding -> (dtype, channels)
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}


class ImageConversionError(ValueError):
    """The Image message is inconsistent (size, step or encoding)."""


def image_to_msg(array: np.ndarray, stamp: float, frame_id: str, encoding: str = "rgb8") -> Image:
    """An Image message holding a copy of ``array`` (one memcpy; see module docstring)."""
    if encoding not in ENCODINGS:
        raise ImageConversionError(f"unsupported encoding '{encoding}' (supported: {sorted(ENCODINGS)})")
    dtype, channels = ENCODINGS[encoding]
    arr = np.ascontiguousarray(array, dtype=dtype)
    if arr.ndim == 2 and channels == 1:
        h, w = arr.shape
    elif arr.ndim == 3 and arr.shape[2] == channels:
        h, w = arr.shape[:2]
    else:
        raise ImageConversionError(f"array of shape {array.shape} does not fit encoding '{encoding}'")
    data = pyarray.array("B")
    data.frombytes(arr.view(np.uint8))  # the one copy
    msg = Image(check_fields=True)  # so the data setter keeps our array.array instead of re-copying it
    msg.header.stamp = sec_to_time(stamp)
    msg.header.frame_id = frame_id
    msg.height, msg.width = h, w
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = w * channels * dtype.itemsize
    msg.data = data
    return msg


def image_from_msg(msg: Image) -> np.ndarray:
    """A (H, W, C) or (H, W) array viewing the message data; raises on inconsistency."""
    if msg.encoding not in ENCODINGS:
        raise ImageConversionError(f"unsupported encoding '{msg.encoding}'")
    dtype, channels = ENCODINGS[msg.encoding]
    row = msg.width * channels * dtype.itemsize
    if msg.step < row or len(msg.data) < msg.step * msg.height:
        raise ImageConversionError(
            f"image {msg.width}x{msg.height} {msg.encoding}: step {msg.step}, {len(msg.data)} bytes is inconsistent"
        )
    buf = np.frombuffer(msg.data, dtype=np.uint8, count=msg.step * msg.height).reshape(msg.height, msg.step)
    arr = buf[:, :row].view(dtype)
    if msg.is_bigendian and dtype.itemsize > 1:
        arr = arr.byteswap()
    return arr.reshape(msg.height, msg.width, channels) if channels > 1 else arr.reshape(msg.height, msg.width)


def camera_info_msg(
    stamp: float,
    frame_id: str,
    width: int,
    height: int,
    k: np.ndarray,
    d: np.ndarray | None = None,
    distortion_model: str = "plumb_bob",
    r: np.ndarray | None = None,
    p: np.ndarray | None = None,
) -> CameraInfo:
    """CameraInfo for a pinhole camera with intrinsics ``k`` (3x3) and distortion ``d``.

    ``r`` (3x3, default identity) and ``p`` (3x4, default [K | 0]) come from a calibration file.
    """
    info = CameraInfo()
    info.header.stamp = sec_to_time(stamp)
    info.header.frame_id = frame_id
    info.width, info.height = int(width), int(height)
    info.distortion_model = distortion_model
    info.d = [float(x) for x in (d if d is not None else np.zeros(5))]
    k = np.asarray(k, dtype=float).reshape(3, 3)
    info.k = k.reshape(-1).tolist()
    info.r = (np.eye(3) if r is None else np.asarray(r, dtype=float).reshape(3, 3)).reshape(-1).tolist()
    if p is None:
        p = np.zeros((3, 4))
        p[:, :3] = k
    info.p = np.asarray(p, dtype=float).reshape(3, 4).reshape(-1).tolist()
    return info
