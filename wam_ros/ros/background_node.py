"""A node with its own rclpy context, spinning in a background thread.

For programs that drive a graph from the outside with blocking calls (``make demo``,
``wam-eval``, the tests): callbacks keep running while the caller waits.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node


class BackgroundNode:
    # A request sent just after the service is discovered can lose its response: Fast DDS's server waits
    # only ~100 ms for the client's response reader to match (ros2/rmw_fastrtps#390, #467), which a loaded
    # machine exceeds. Callers of idempotent services (the bridge's arm/disarm/reset/estop, set_parameters)
    # pass ``resend_after=RESEND_AFTER`` so an unanswered request is sent again; a sim reset (it advances
    # the seed) or a recorder's start/save must not run twice, so they are sent once.
    RESEND_AFTER = 2.0

    def __init__(self, name: str) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.node: Node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._clients: dict[tuple[str, Any], Any] = {}
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def call(self, srv_type: Any, name: str, request: Any = None, timeout: float = 10.0,
             resend_after: float | None = None) -> Any:  # fmt: skip
        """The service's response, or None when it is not available or does not answer within ``timeout``."""
        client = self._clients.get((name, srv_type))
        if client is None:
            client = self._clients[(name, srv_type)] = self.node.create_client(srv_type, name)
        deadline = time.monotonic() + timeout
        if not client.wait_for_service(timeout_sec=timeout):
            return None
        request = request if request is not None else srv_type.Request()
        futures = []
        while time.monotonic() < deadline:
            futures.append(client.call_async(request))
            resend = deadline if resend_after is None else min(deadline, time.monotonic() + resend_after)
            while time.monotonic() < resend:
                for future in futures:
                    if future.done():
                        return future.result()
                time.sleep(0.002)
        return None

    def set_parameter(self, node: str, name: str, value: Any, timeout: float = 10.0) -> tuple[bool, str]:
        """Set parameter ``name`` of ``node`` (its type from ``value``; idempotent, so an unanswered request is
        resent): (successful, the node's reason or why there was no answer)."""
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        req = SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()])
        res = self.call(SetParameters, f"{node}/set_parameters", req, timeout, resend_after=self.RESEND_AFTER)
        if res is None:
            return False, f"{node}/set_parameters did not answer within {timeout:.0f} s"
        return bool(res.results[0].successful), res.results[0].reason

    def _spin(self) -> None:
        while self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:
                if not self.context.ok():
                    return
                raise

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=2.0)
