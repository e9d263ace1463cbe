"""camera_node: one node, several cameras, realsense2_camera's topic names.

For each name in ``camera_names`` it declares ``<name>.source``, ``<name>.device``
... (see ``camera_params``; in a YAML file these are nested under the camera
name), runs the camera's source in its own capture thread (so a slow or absent
camera never blocks another or the executor) and publishes, from that thread:

- ``camera/<name>/color/image_raw`` (sensor_msgs/Image rgb8) and
  ``camera/<name>/color/camera_info`` (CameraInfo: calibration YAML, else device
  intrinsics, else all-zero K = uncalibrated),
- ``camera/<name>/aligned_depth_to_color/image_raw`` (16UC1, millimetres) when
  ``<name>.depth`` is set (realsense only),

all with sensor-data QoS and header.stamp = capture time on the node clock.
Faults (absent camera, unplug, corrupt frame) are handled by the capture thread
and reported on /diagnostics; the node never exits because of a camera.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from typing import Any

import numpy as np
from rcl_interfaces.msg import ParameterDescriptor
from sensor_msgs.msg import CameraInfo, Image

from wam_ros.camera import CameraConfig, Frame, open_source
from wam_ros.camera.camera_info import CalibrationError, CameraCalibration, load_calibration, uncalibrated
from wam_ros.camera.capture import CaptureThread
from wam_ros.params import camera_node as camera_node_params
from wam_ros.ros.diagnostics import ERROR, OK, WARN, Diagnostics
from wam_ros.ros.guarded_node import GuardedNode
from wam_ros.ros.image_conversion import camera_info_msg, image_to_msg
from wam_ros.ros.node_runtime import run_node
from wam_ros.ros.parameters import Param, ParameterError, declare_params
from wam_ros.ros.qos import SENSOR

PARAMS = camera_node_params.PARAMS  # defined once, in wam_ros.params.camera_node


def camera_params(name: str) -> list[Param]:
    """The per-camera parameters, declared as '<name>.<key>' (nested under the name in YAML).

    ``<name>.device`` is declared separately with dynamic typing, so that both
    ``device: 0`` and ``device: "0"`` (and numeric serial numbers) work.
    """
    return camera_node_params.camera_params(name, exclude=("device",))


DEVICE = next(p for p in camera_node_params.CAMERA_PARAMS if p.name == "device")


class _Camera:
    """Per-camera publishing state (used only from that camera's capture thread, except stats)."""

    def __init__(self, node: CameraNode, config: CameraConfig, calibration: CameraCalibration | None) -> None:
        self.config = config
        base = f"camera/{config.name}"
        self.pub_color = node.create_publisher(Image, f"{base}/color/image_raw", SENSOR)
        self.pub_info = node.create_publisher(CameraInfo, f"{base}/color/camera_info", SENSOR)
        self.pub_depth = (
            node.create_publisher(Image, f"{base}/aligned_depth_to_color/image_raw", SENSOR) if config.depth else None
        )
        self.file_calibration = calibration
        self.info: CameraInfo | None = None
        self.info_size: tuple[int, int] | None = None
        self.calibration_note = ""
        self.lock = threading.Lock()
        self.publish_times: deque[float] = deque(maxlen=300)
        self.latencies: deque[float] = deque(maxlen=300)
        self.thread: CaptureThread | None = None

    def camera_info(self, frame: Frame) -> CameraInfo:
        h, w = frame.color.shape[:2]
        if self.info is None or self.info_size != (w, h):
            cal = self.file_calibration
            src = self.thread.source if self.thread is not None else None
            if cal is None and src is not None:
                cal = src.calibration()
            if cal is not None and (cal.width, cal.height) != (w, h):
                self.calibration_note = f"calibration is for {cal.width}x{cal.height}, images are {w}x{h}"
                cal = None
            cal = cal or uncalibrated(w, h)
            self.info = camera_info_msg(0.0, self.config.frame_id, w, h, cal.k, cal.d, cal.distortion_model,
                                        r=cal.r, p=cal.projection())
            self.info_size = (w, h)
        return self.info


class CameraNode(GuardedNode):
    def __init__(self) -> None:
        super().__init__("camera_node")
        p = declare_params(self, PARAMS)
        names = p["camera_names"]
        if not names or len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
            raise ParameterError(f"parameter 'camera_names' = {names!r}: must be a non-empty list of unique names")
        self._cameras: dict[str, _Camera] = {}
        for name in names:
            values = declare_params(self, camera_params(name))
            settings = {k.split(".", 1)[1]: v for k, v in values.items()}
            device = self.declare_parameter(
                f"{name}.device",
                DEVICE.default,
                ParameterDescriptor(description=DEVICE.description, dynamic_typing=True, read_only=True),
            ).value
            if not isinstance(device, (str, int)) or isinstance(device, bool):
                raise ParameterError(f"parameter '{name}.device' = {device!r}: must be a string or an integer")
            settings["device"] = str(device)
            try:
                config = CameraConfig.from_dict({"name": name, **settings})
                calibration = load_calibration(config.calibration) if config.calibration else None
            except (ValueError, CalibrationError) as exc:
                raise ParameterError(f"camera '{name}' parameters: {exc}") from exc
            self._cameras[name] = _Camera(self, config, calibration)
        self._stale_after = p["stale_after"]
        self.diagnostics = Diagnostics(self, hardware_id="cameras", period=p["diagnostics_period"])
        for name, cam in self._cameras.items():
            self.diagnostics.add(f"camera {name}", lambda cam=cam: self._diagnose(cam))
            cam.thread = CaptureThread(
                name,
                lambda cfg=cam.config: open_source(cfg, self._now),
                lambda frame, cam=cam: self._publish(cam, frame),
                lambda level, msg: self._on_event(level, msg),
                retry_initial=p["retry_initial"],
                retry_max=p["retry_max"],
            )
        for cam in self._cameras.values():
            assert cam.thread is not None
            cam.thread.start()
        self.get_logger().info(
            "cameras: " + ", ".join(f"{n} ({c.config.source} {c.config.recording or c.config.device or 'first'})"
                                    for n, c in self._cameras.items())
        )

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _publish(self, cam: _Camera, frame: Frame) -> None:
        """Called from the camera's capture thread: convert and publish, nothing else."""
        if not self.context.ok():
            return  # shutting down: the thread is about to be stopped
        fid = cam.config.frame_id
        color = image_to_msg(frame.color, frame.stamp, fid, "rgb8")
        cam.pub_color.publish(color)
        info = cam.camera_info(frame)
        info.header.stamp = color.header.stamp  # identical stamps, so subscribers can pair them exactly
        cam.pub_info.publish(info)
        if cam.pub_depth is not None and frame.depth is not None:
            cam.pub_depth.publish(image_to_msg(frame.depth, frame.stamp, fid, "16UC1"))
        done = self._now()
        with cam.lock:
            cam.publish_times.append(time.monotonic())
            cam.latencies.append(done - frame.stamp)

    def _on_event(self, level: str, msg: str) -> None:
        log = self.get_logger()
        if level == "error":
            log.error(msg)
            self.diagnostics.publish()  # report a fault now, not at the next period
        elif level == "warn":
            self.log.warning(msg[:48], msg, period=5.0)
        else:
            log.info(msg)

    def _diagnose(self, cam: _Camera) -> tuple[int, str, dict[str, Any]]:
        assert cam.thread is not None
        st = cam.thread.status()
        with cam.lock:
            times = list(cam.publish_times)
            lat = np.asarray(cam.latencies, dtype=float)
        now = time.monotonic()
        recent = [t for t in times if now - t <= 5.0]
        rate = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 2 and recent[-1] > recent[0] else 0.0
        values: dict[str, Any] = {
            "state": st.state,
            "source": cam.config.source,
            "device": cam.config.recording or cam.config.device,
            "frame_id": cam.config.frame_id,
            "frames": st.frames,
            "corrupt_frames": st.corrupt,
            "reconnects": st.reconnects,
            "open_failures": st.open_failures,
            "rate_hz": rate,
            "latency_p50_ms": float(np.percentile(lat, 50) * 1e3) if lat.size else float("nan"),
            "latency_p99_ms": float(np.percentile(lat, 99) * 1e3) if lat.size else float("nan"),
        }
        if cam.calibration_note:
            values["calibration"] = cam.calibration_note
        if st.state in ("connecting", "disconnected"):
            return ERROR, st.message, values
        if st.state == "finished":
            return WARN, st.message, values
        if st.state == "streaming" and (st.last_frame_time is None or now - st.last_frame_time > self._stale_after):
            return WARN, f"no frame for {self._stale_after} s", values
        return OK, st.message, values

    def close(self) -> None:
        threads = [cam.thread for cam in self._cameras.values() if cam.thread is not None]
        for t in threads:
            t.request_stop()  # all at once: each may be blocked in a read for up to read_timeout
        for t in threads:
            t.stop()


def main(args: list[str] | None = None) -> None:
    sys.exit(run_node(lambda: CameraNode(), args))


if __name__ == "__main__":
    main()
