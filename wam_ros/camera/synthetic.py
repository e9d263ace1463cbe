"""Synthetic camera data for tests, benchmarks and demos without hardware.

``write_realsense_recording`` drives pyrealsense2's ``software_device`` through
``rs.recorder``, producing a real librealsense recording (rosbag2 .db3 in 2.57+)
that the ``realsense`` source plays back through its live code path.
``write_video_file`` writes an OpenCV video (MJPG .avi by default).
Frame ``i`` is recognisable: colour channel 1 holds ``i % 256`` everywhere and depth
is ``depth_mm(i)``, so a test can check content survived the round trip.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from wam_ros.camera.config import CameraConfig

#: Synthetic recordings run at a camera's default rate (CameraConfig.fps).
FPS = CameraConfig.fps


def color_pattern(i: int, width: int, height: int) -> np.ndarray:
    """RGB frame i: R = horizontal ramp, G = i, B = vertical ramp."""
    img = np.empty((height, width, 3), np.uint8)
    img[..., 0] = (np.arange(width, dtype=np.int64) * 255 // max(width - 1, 1)).astype(np.uint8)[None, :]
    img[..., 1] = i % 256
    img[..., 2] = (np.arange(height, dtype=np.int64) * 255 // max(height - 1, 1)).astype(np.uint8)[:, None]
    return img


def depth_mm(i: int) -> int:
    return 500 + 10 * i


def write_realsense_recording(
    path: str | Path,
    frames: int = 30,
    width: int = 64,
    height: int = 48,
    fps: int = int(FPS),
    depth: bool = True,
    serial: str = "000000000001",
    name: str = "Intel RealSense D435 (synthetic)",
    paced: bool = False,
) -> Path:
    """Record ``frames`` synthetic colour (+ depth) frames; returns the path (.db3).

    Real-time playback follows the wall-clock times at which frames were recorded,
    so ``paced=True`` records at ``fps`` (slower) for a recording that plays like a camera.
    """
    import pyrealsense2 as rs

    path = Path(path)
    dev = rs.software_device()
    dev.register_info(rs.camera_info.serial_number, serial)
    dev.register_info(rs.camera_info.name, name)
    intr = rs.intrinsics()
    intr.width, intr.height = width, height
    intr.ppx, intr.ppy, intr.fx, intr.fy = width / 2, height / 2, width * 0.9, width * 0.9
    intr.model, intr.coeffs = rs.distortion.brown_conrady, [0.0] * 5

    def stream(sensor: rs.software_sensor, kind: rs.stream, uid: int, bpp: int, fmt: rs.format) -> rs.stream_profile:
        vs = rs.video_stream()
        vs.type, vs.index, vs.uid = kind, 0, uid
        vs.width, vs.height, vs.fps, vs.bpp, vs.fmt, vs.intrinsics = width, height, fps, bpp, fmt, intr
        return sensor.add_video_stream(vs)

    color_sensor = dev.add_sensor("RGB Camera")
    color_profile = stream(color_sensor, rs.stream.color, 0, 3, rs.format.rgb8)
    sensors = [(color_sensor, color_profile)]
    if depth:
        depth_sensor = dev.add_sensor("Stereo Module")
        depth_profile = stream(depth_sensor, rs.stream.depth, 1, 2, rs.format.z16)
        depth_sensor.add_read_only_option(rs.option.depth_units, 0.001)
        same_place = rs.extrinsics()
        same_place.rotation, same_place.translation = [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0], [0.0, 0.0, 0.0]
        depth_profile.register_extrinsics_to(color_profile, same_place)
        sensors.append((depth_sensor, depth_profile))
    recorder = rs.recorder(str(path), dev)
    queue = rs.frame_queue(frames * 2 + 4)
    for sensor, profile in sensors:
        sensor.open(profile)
        sensor.start(queue)
    keep = []  # librealsense references the pixel buffers until the recorder wrote them
    t0 = 1000.0
    start = time.monotonic()
    for i in range(frames):
        ts = t0 + i * 1000.0 / fps
        payloads = [(color_sensor, color_profile, color_pattern(i, width, height), 3)]
        if depth:
            payloads.append((depth_sensor, depth_profile, np.full((height, width), depth_mm(i), np.uint16), 2))
        for sensor, profile, pixels, bpp in payloads:
            keep.append(pixels)
            f = rs.software_video_frame()
            f.pixels, f.bpp, f.stride = pixels, bpp, width * bpp
            f.timestamp, f.domain, f.frame_number = ts, rs.timestamp_domain.hardware_clock, i
            f.profile = profile.as_video_stream_profile()
            sensor.on_video_frame(f)
        if paced:  # on an absolute schedule, so recorded arrival times match the frame timestamps
            time.sleep(max(0.0, start + (i + 1) / fps - time.monotonic()))
        else:
            time.sleep(0.002)
    for sensor, _ in sensors:
        sensor.stop()
        sensor.close()
    del recorder  # flushes and closes the file
    return path


def write_video_file(
    path: str | Path, frames: int = 30, width: int = 64, height: int = 48, fps: float = FPS, fourcc: str = "MJPG"
) -> Path:
    """Write ``frames`` pattern frames with cv2.VideoWriter; returns the path."""
    import cv2

    path = Path(path)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"cv2.VideoWriter cannot write {path} with fourcc {fourcc}")
    for i in range(frames):
        writer.write(cv2.cvtColor(color_pattern(i, width, height), cv2.COLOR_RGB2BGR))
    writer.release()
    return path
