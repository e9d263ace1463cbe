"""Intel RealSense source (pyrealsense2): colour + depth aligned to colour.

A live device (chosen by serial number) and a recording (.db3 written by
librealsense >= 2.57, or a legacy .bag) go through the SAME pipeline code: the
only difference is ``rs.config.enable_device_from_file`` instead of
``enable_device``. So the tests, which play back a recording written with
``rs.software_device`` + ``rs.recorder``, exercise the live code path.

Device timestamps (hardware clock, or librealsense's global time) are mapped to
the node clock by ``ClockSync`` (min-offset filter + drift fit). Depth is
converted to uint16 millimetres whatever the device's depth unit.
"""

from __future__ import annotations

import numpy as np
import pyrealsense2 as rs

from wam_ros.camera.camera_info import CameraCalibration, from_intrinsics
from wam_ros.camera.clock_sync import ClockSync
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

_ROS_MODEL = {
    rs.distortion.none: "plumb_bob",
    rs.distortion.brown_conrady: "plumb_bob",
    rs.distortion.inverse_brown_conrady: "plumb_bob",
    rs.distortion.modified_brown_conrady: "plumb_bob",
    rs.distortion.kannala_brandt4: "equidistant",
    rs.distortion.ftheta: "equidistant",
}


def list_realsense_devices() -> list[str]:
    """'<name> (serial <n>)' for every RealSense device present."""
    out = []
    for dev in rs.context().query_devices():
        name = dev.get_info(rs.camera_info.name) if dev.supports(rs.camera_info.name) else "?"
        serial = dev.get_info(rs.camera_info.serial_number) if dev.supports(rs.camera_info.serial_number) else "?"
        out.append(f"{name} (serial {serial})")
    return out


class RealSenseSource:
    def __init__(self, config: CameraConfig, clock: Clock) -> None:
        self.config = config
        self._clock = clock
        self._pipeline: rs.pipeline | None = None
        self._align: rs.align | None = None
        self._playback: rs.playback | None = None
        self._depth_to_mm = 1.0
        self._last_color_number: int | None = None
        self._calibration: CameraCalibration | None = None
        self._seq = 0
        self.sync = ClockSync()

    def describe(self) -> str:
        if self.config.recording:
            return f"realsense recording '{self.config.recording}'"
        return f"realsense serial {self.config.device}" if self.config.device else "realsense (first device)"

    def open(self) -> None:
        c = self.config
        cfg = rs.config()
        if c.recording:
            cfg.enable_device_from_file(c.recording, repeat_playback=c.loop)
            cfg.enable_stream(rs.stream.color)
            if c.depth:
                cfg.enable_stream(rs.stream.depth)
        else:
            present = list_realsense_devices()
            serials = [p.rsplit("serial ", 1)[-1].rstrip(")") for p in present]
            if not present or (c.device and c.device not in serials):
                wanted = f"serial {c.device}" if c.device else "any device"
                raise CameraNotFound(
                    f"camera '{c.name}': RealSense {wanted} not found; present RealSense devices: {present or 'none'}"
                )
            if c.device:
                cfg.enable_device(c.device)
            cfg.enable_stream(rs.stream.color, c.width, c.height, rs.format.rgb8, int(c.fps))
            if c.depth:
                cfg.enable_stream(rs.stream.depth, 0, 0, rs.format.z16, int(c.fps))
        pipeline = rs.pipeline()
        try:
            profile = pipeline.start(cfg)
        except RuntimeError as exc:
            raise CameraNotFound(f"camera '{c.name}': cannot start {self.describe()}: {exc}") from exc
        device = profile.get_device()
        self._playback = device.as_playback() if device.is_playback() else None
        if self._playback is not None:
            self._playback.set_real_time(c.realtime)
        if c.depth:
            scale = device.first_depth_sensor().get_depth_scale()  # metres per unit
            self._depth_to_mm = scale * 1000.0
            self._align = rs.align(rs.stream.color)
        intr = profile.get_stream(rs.stream.color).as_video_stream_profile().get_intrinsics()
        self._calibration = from_intrinsics(
            intr.width, intr.height, intr.fx, intr.fy, intr.ppx, intr.ppy, list(intr.coeffs),
            _ROS_MODEL.get(intr.model, "plumb_bob"),
        )
        self._pipeline = pipeline
        self._last_color_number = None

    def read(self) -> Frame:
        if self._pipeline is None:
            raise CameraDisconnected(f"camera '{self.config.name}': read before open")
        timeout_ms = int(self.config.read_timeout * 1000)
        while True:
            try:
                ok, frames = self._pipeline.try_wait_for_frames(timeout_ms)
            except RuntimeError as exc:  # device gone while waiting
                raise CameraDisconnected(f"camera '{self.config.name}': {self.describe()}: {exc}") from exc
            if not ok:
                if self._playback is not None and self._playback.current_status() == rs.playback_status.stopped:
                    raise EndOfStream(f"camera '{self.config.name}': end of {self.describe()}")
                raise CameraDisconnected(
                    f"camera '{self.config.name}': no frame from {self.describe()} for {self.config.read_timeout} s"
                )
            host = self._clock()
            color = frames.get_color_frame()
            if not color:
                raise CorruptFrame(f"camera '{self.config.name}': frame set without a colour frame")
            number = color.get_frame_number()
            if number == self._last_color_number:
                continue  # a depth-only update: wait for the next colour frame
            self._last_color_number = number
            return self._frame(frames, color, host)

    def _frame(self, frames: rs.composite_frame, color: rs.video_frame, host: float) -> Frame:
        what = f"camera '{self.config.name}'"
        fmt = color.get_profile().format()
        img = np.asanyarray(color.get_data())
        if fmt == rs.format.bgr8:
            img = img[..., ::-1]
        elif fmt != rs.format.rgb8:
            raise CorruptFrame(f"{what}: unsupported colour format {fmt}")
        live = not self.config.recording  # a recording has the size it was recorded with
        img = check_frame(img, self.config.width * live, self.config.height * live, what).copy()
        depth = None
        if self._align is not None:
            aligned = self._align.process(frames)
            df = aligned.get_depth_frame()
            if not df:
                raise CorruptFrame(f"{what}: frame set without a depth frame")
            raw = np.asanyarray(df.get_data())
            if raw.shape != img.shape[:2]:
                raise CorruptFrame(f"{what}: aligned depth is {raw.shape}, colour is {img.shape[:2]}")
            if abs(self._depth_to_mm - 1.0) < 1e-6:  # the usual 1 mm unit (stored as float32)
                depth = raw.copy()
            else:
                depth = np.clip(raw * self._depth_to_mm, 0, 65535).astype(np.uint16)
        device_stamp = color.get_timestamp() / 1000.0
        self._seq += 1
        return Frame(
            color=img,
            stamp=self.sync.map(device_stamp, host),
            sequence=self._seq,
            depth=depth,
            device_stamp=device_stamp,
        )

    def calibration(self) -> CameraCalibration | None:
        return self._calibration

    def close(self) -> None:
        if self._pipeline is not None:
            try:
                self._pipeline.stop()
            except RuntimeError:
                pass  # already stopped / device gone
            self._pipeline = None
        self._align = None
        self._playback = None
