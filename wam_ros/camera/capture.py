"""Run one camera source in its own thread: open with back-off, read, skip, reconnect.

The thread owns the source; the caller gets frames through ``on_frame`` (called
from the capture thread, so it must be quick — camera_node publishes there) and
reads ``status()`` for diagnostics. Faults never escape the thread: an absent
camera is retried with exponential back-off, a disconnect closes and reopens the
source, a corrupt frame is counted and skipped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from wam_ros.camera.source import (
    CameraError,
    CameraNotFound,
    CameraSource,
    CorruptFrame,
    EndOfStream,
    Frame,
)

#: Back-off of an absent camera: the first retry after RETRY_INITIAL s, doubling up to RETRY_MAX s
#: (camera_node's retry_initial / retry_max).
RETRY_INITIAL = 0.5
RETRY_MAX = 10.0

#: on_event(level, message) with level "info" | "warn" | "error".
EventCallback = Callable[[str, str], None]


@dataclass
class CaptureStatus:
    state: str  # "connecting" | "streaming" | "disconnected" | "finished" | "stopped"
    message: str
    frames: int
    corrupt: int
    reconnects: int
    open_failures: int
    last_frame_time: float | None  # monotonic time of the last good frame


class CaptureThread:
    def __init__(
        self,
        name: str,
        make_source: Callable[[], CameraSource],
        on_frame: Callable[[Frame], None],
        on_event: EventCallback | None = None,
        retry_initial: float = RETRY_INITIAL,
        retry_max: float = RETRY_MAX,
    ) -> None:
        self.name = name
        self._make_source = make_source
        self._on_frame = on_frame
        self._event_cb = on_event
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._status = CaptureStatus("connecting", "not opened yet", 0, 0, 0, 0, None)
        self._source: CameraSource | None = None
        self._thread = threading.Thread(target=self._run, name=f"capture-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self, timeout: float = 3.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _on_event(self, level: str, message: str) -> None:
        if self._event_cb is None:
            return
        try:
            self._event_cb(level, message)
        except Exception:  # reporting must never kill capture (e.g. during ROS shutdown)
            pass

    def status(self) -> CaptureStatus:
        with self._lock:
            return CaptureStatus(**vars(self._status))

    @property
    def source(self) -> CameraSource | None:
        return self._source

    def _set(self, **kw: object) -> None:
        with self._lock:
            for k, v in kw.items():
                setattr(self._status, k, v)

    def _run(self) -> None:
        delay = self._retry_initial
        while not self._stop.is_set():
            source = self._make_source()
            try:
                source.open()
            except Exception as exc:  # CameraError, or a driver bug: neither may kill the thread
                source.close()
                what = str(exc) if isinstance(exc, CameraError) else f"camera '{self.name}': open failed: {exc!r}"
                with self._lock:
                    self._status.open_failures += 1
                self._set(state="connecting", message=f"{what} (retrying in {delay:.1f} s)")
                self._on_event("error", f"{what} (retrying in {delay:.1f} s)")
                self._stop.wait(delay)
                delay = min(delay * 2.0, self._retry_max)
                continue
            delay = self._retry_initial
            self._source = source
            self._set(state="streaming", message=f"streaming from {source.describe()}")
            self._on_event("info", f"camera '{self.name}': streaming from {source.describe()}")
            try:
                finished = self._stream(source)
            finally:
                source.close()
                self._source = None
            if finished:
                return
            with self._lock:
                self._status.reconnects += 1
        self._set(state="stopped", message="stopped")

    def _stream(self, source: CameraSource) -> bool:
        """Read until stop (True), end of stream (True) or disconnect (False)."""
        while not self._stop.is_set():
            try:
                frame = source.read()
            except CorruptFrame as exc:
                with self._lock:
                    self._status.corrupt += 1
                self._on_event("warn", f"skipped corrupt frame: {exc}")
                continue
            except EndOfStream as exc:
                self._set(state="finished", message=str(exc))
                self._on_event("info", str(exc))
                return True
            except (CameraError, RuntimeError) as exc:
                kind = "not found" if isinstance(exc, CameraNotFound) else "disconnected"
                self._set(state="disconnected", message=f"{kind}: {exc}; reconnecting")
                self._on_event("error", f"camera '{self.name}' {kind}: {exc}; reconnecting")
                return False
            with self._lock:
                self._status.frames += 1
                self._status.last_frame_time = time.monotonic()
            try:
                self._on_frame(frame)
            except Exception as exc:  # a publishing failure is reported, capture goes on
                self._on_event("error", f"camera '{self.name}': frame handler failed: {exc!r}")
        self._set(state="stopped", message="stopped")
        return True
