"""One ``main()`` for every node: init, spin, refuse bad parameters, stop cleanly.

A ParameterError at construction is logged with the parameter's name and the
process exits with status 2 (no traceback); SIGINT/SIGTERM shut down cleanly, and
exit 0, also when the signal lands inside the executor's wait-set setup (rclpy then
raises a plain RCLError "context is not valid" instead of ExternalShutdownException).
Cleanup after the spin (the node's ``close()``, ``destroy_node``, rclpy shutdown) is
bounded: if it has not finished within ``CLEANUP_TIMEOUT`` seconds, every thread's stack
is written to stderr and the process exits (status 1), so a hung shutdown names the
line it hung on instead of waiting for a SIGKILL that says nothing.
"""

from __future__ import annotations

import faulthandler
import signal
import sys
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node

from wam_ros.ros.parameters import ParameterError

EXIT_BAD_PARAMETER = 2
CLEANUP_TIMEOUT = 8.0  # s: above the nodes' own join timeouts (<= 5 s), below ros2 launch's SIGKILL (5 + 5 s)


def run_node(factory: Callable[[], Node], args: list[str] | None = None, threads: int = 1) -> int:
    """Create the node with ``factory`` and spin it until shutdown; returns an exit code."""
    rclpy.init(args=args if args is not None else sys.argv)
    signal.signal(signal.SIGTERM, lambda *_: rclpy.try_shutdown())
    node: Node | None = None
    try:
        try:
            node = factory()
        except ParameterError as exc:
            rclpy.logging.get_logger("wam_ros").fatal(f"refusing to start: {exc}")
            return EXIT_BAD_PARAMETER
        executor = MultiThreadedExecutor(num_threads=threads) if threads > 1 else SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise  # a real error while running
        # the context was shut down by SIGINT/SIGTERM between two waits: a clean shutdown
    finally:
        faulthandler.dump_traceback_later(CLEANUP_TIMEOUT, exit=True)
        if node is not None:
            close = getattr(node, "close", None)
            if callable(close):
                close()
            node.destroy_node()
        rclpy.try_shutdown()
        faulthandler.cancel_dump_traceback_later()
    return 0
