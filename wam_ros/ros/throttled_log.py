"""The one rule for repeated log lines: throttle by an explicit key, never by call site.

rclpy's ``throttle_duration_sec`` keys its filter on the *call site*, and refuses a
different throttle value at a site it has seen (``ValueError: Logging filter parameters
cannot be changed between calls``). Since ``Logger.warn`` forwards to ``Logger.warning``,
every deprecated ``warn`` call with ``throttle_duration_sec`` in a file shares one site, so two values
kill the callback that logs second (issue 15, D1: the smoother died on its first
rejected chunk). This throttle keeps its own state per key, on the steady clock (a
frozen ``/clock`` cannot silence it), counts what it suppressed and says so on the next
line it lets through. Nodes never pass ``throttle_duration_sec`` to rclpy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol


class _Logger(Protocol):
    def info(self, message: str, **kwargs: Any) -> Any: ...
    def warning(self, message: str, **kwargs: Any) -> Any: ...
    def error(self, message: str, **kwargs: Any) -> Any: ...


LEVELS = ("info", "warning", "error")


class ThrottledLog:
    """Log ``message`` under ``key`` at most once per ``period`` seconds (steady clock).

    Thread-safe (nodes log from executor and worker threads). ``suppressed`` counts the
    lines held back per key, for /diagnostics.
    """

    def __init__(self, logger: _Logger, period: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        if period < 0:
            raise ValueError(f"period must be >= 0, got {period}")
        self._logger = logger
        self._period = period
        self._clock = clock
        self._last: dict[str, float] = {}
        self.suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def log(self, level: str, key: str, message: str, period: float | None = None) -> bool:
        """Emit now if ``key`` was quiet for ``period`` s; returns whether it was emitted."""
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
        now = self._clock()
        wait = self._period if period is None else period
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < wait:
                self.suppressed[key] = self.suppressed.get(key, 0) + 1
                return False
            self._last[key] = now
            held = self.suppressed.pop(key, 0)
        if held:
            message = f"{message} ({held} similar suppressed)"
        # one source line per severity: rclpy refuses a second severity from the same call site
        # ("Logger severity cannot be changed between calls"), which killed a node logging a warning, then an error
        if level == "info":
            self._logger.info(message)
        elif level == "warning":
            self._logger.warning(message)
        else:
            self._logger.error(message)
        return True

    def info(self, key: str, message: str, period: float | None = None) -> bool:
        return self.log("info", key, message, period)

    def warning(self, key: str, message: str, period: float | None = None) -> bool:
        return self.log("warning", key, message, period)

    def error(self, key: str, message: str, period: float | None = None) -> bool:
        return self.log("error", key, message, period)
