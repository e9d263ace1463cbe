"""Minimal diagnostic_updater: each node reports named statuses on /diagnostics.

diagnostic_updater is not available as a wheel; this keeps its semantics (one
DiagnosticStatus per task, hardware_id, OK/WARN/ERROR/STALE levels, periodic publish).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

OK = DiagnosticStatus.OK
WARN = DiagnosticStatus.WARN
ERROR = DiagnosticStatus.ERROR
STALE = DiagnosticStatus.STALE

#: A task returns (level, message, key/values).
Task = Callable[[], tuple[int, str, dict[str, Any]]]


class Diagnostics:
    def __init__(self, node: Node, hardware_id: str = "", period: float = 1.0) -> None:
        self._node = node
        self._hardware_id = hardware_id or node.get_name()
        self._tasks: list[tuple[str, Task]] = []
        self._pub = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._timer = node.create_timer(period, self.publish)

    def add(self, name: str, task: Task) -> None:
        self._tasks.append((f"{self._node.get_name()}: {name}", task))

    def publish(self, extra: list[DiagnosticStatus] | None = None) -> None:
        """Publish all task statuses now (also called for immediate fault reports)."""
        arr = DiagnosticArray()
        arr.header.stamp = self._node.get_clock().now().to_msg()
        for name, task in self._tasks:
            try:
                level, message, values = task()
            except Exception as exc:
                level, message, values = ERROR, f"diagnostic task failed: {exc}", {}
            arr.status.append(self.status(name, level, message, values))
        arr.status.extend(extra or [])
        self._pub.publish(arr)

    def status(self, name: str, level: int, message: str, values: dict[str, Any]) -> DiagnosticStatus:
        return DiagnosticStatus(
            level=level if isinstance(level, bytes) else bytes([level]),  # OK/WARN/... are bytes already
            name=name,
            message=message,
            hardware_id=self._hardware_id,
            values=[KeyValue(key=str(k), value=_fmt(v)) for k, v in values.items()],
        )


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
