"""A Node whose callbacks cannot be killed by their input.

rclpy re-raises an exception from a subscription, timer or service callback out of
``spin()``, which ends the process: one malformed message, or one bug reached only by
odd input, would take a node (and with it the arm's command stream) down. Every
wam_ros node derives from ``GuardedNode``: each callback it registers is wrapped so an
exception is caught, counted per callback, logged (throttled, with the exception named)
and handed to ``on_callback_error`` (the safety bridge fails closed there). The counts
go to /diagnostics through ``callback_errors``.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from typing import Any

from rclpy.lifecycle import LifecycleNode
from rclpy.node import Node

from wam_ros.ros.throttled_log import ThrottledLog


class GuardedCallbacks:
    """Mixin for ``Node`` and ``LifecycleNode``: wraps every registered callback."""

    def __init__(self, node_name: str, **kwargs: Any) -> None:
        self.callback_errors: dict[str, int] = {}
        self.last_callback_error = ""
        super().__init__(node_name, **kwargs)  # type: ignore[call-arg]
        self.log = ThrottledLog(self.get_logger())  # type: ignore[attr-defined]

    def on_callback_error(self, where: str, exc: BaseException) -> None:
        """Hook for nodes that must react (e.g. fail closed); the default only reports."""

    def _guard(self, where: str, callback: Callable[..., Any], service: bool = False) -> Callable[..., Any]:
        # functools.wraps keeps the signature visible (inspect follows __wrapped__), so rclpy still
        # passes MessageInfo / TimerInfo to callbacks that take them
        @functools.wraps(callback)
        def guarded(*args: Any) -> Any:
            try:
                return callback(*args)
            except Exception as exc:
                self.callback_errors[where] = self.callback_errors.get(where, 0) + 1
                self.last_callback_error = f"{where}: {type(exc).__name__}: {exc}"
                frame = traceback.extract_tb(exc.__traceback__)[-1]
                self.log.error(
                    f"callback:{where}",
                    f"{self.last_callback_error} (at {frame.filename}:{frame.lineno}); "
                    "input dropped, node keeps running",
                    period=2.0,
                )
                try:
                    self.on_callback_error(where, exc)
                except Exception as hook_exc:  # the hook must not be the next thing that kills us
                    self.log.error("callback:hook", f"on_callback_error failed: {hook_exc}", period=2.0)
                return args[1] if service else None  # a service answers with its default response

        return guarded

    def create_subscription(self, msg_type: Any, topic: str, callback: Callable[..., Any], *args: Any,
                            **kwargs: Any) -> Any:
        return super().create_subscription(msg_type, topic, self._guard(f"sub {topic}", callback), *args, **kwargs)

    def create_timer(self, timer_period_sec: float, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        name = getattr(callback, "__name__", "timer")
        return super().create_timer(timer_period_sec, self._guard(f"timer {name}", callback), *args, **kwargs)

    def create_service(self, srv_type: Any, srv_name: str, callback: Callable[..., Any], *args: Any,
                       **kwargs: Any) -> Any:
        guarded = self._guard(f"srv {srv_name}", callback, service=True)
        return super().create_service(srv_type, srv_name, guarded, *args, **kwargs)


class GuardedNode(GuardedCallbacks, Node):
    pass


class GuardedLifecycleNode(GuardedCallbacks, LifecycleNode):
    pass
