"""One ``main()`` for every node: init, spin, refuse bad parameters, stop cleanly.

A ParameterError at construction is logged with the parameter's name and the
process exits with status 2 (no traceback); SIGINT/SIGTERM shut down cleanly, and
exit 0, also when the signal lands inside the executor's wait-set setup (rclpy then
raises a plain RCLError "context is not valid" instead of ExternalShutdownException).
A terminal's Ctrl-C reaches a launched node twice (the terminal signals the whole
process group and ``ros2 launch`` forwards its own SIGINT): no termination signal ever
raises KeyboardInterrupt here, so a second one landing in the cleanup changes nothing.
Cleanup after the spin (the node's ``close()``, ``destroy_node``, rclpy shutdown) is
bounded: if it has not finished within ``CLEANUP_TIMEOUT`` seconds, every thread's stack
is written to stderr and the process exits (status 1), so a hung shutdown names the
line it hung on instead of waiting for a SIGKILL that says nothing.
"""

from __future__ import annotations

import faulthandler
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import rclpy
from rclpy.context import Context
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node

from wam_ros.ros.parameters import ParameterError

EXIT_BAD_PARAMETER = 2
CLEANUP_TIMEOUT = 8.0  # s: above the nodes' own join timeouts (<= 5 s), below ros2 launch's SIGKILL (5 + 5 s)


class _TerminationSignals:
    """Python-level SIGINT/SIGTERM handler that never raises.

    Installed before ``rclpy.init``, so rclpy's own handler (which shuts the context down
    and wakes the executor) chains to this one instead of to Python's default SIGINT
    handler, whose KeyboardInterrupt would otherwise land wherever the main thread is,
    e.g. halfway through ``destroy_node`` when a second SIGINT follows the first.
    """

    def __init__(self) -> None:
        self.received = 0
        self.cleaning_up = False
        self.context: Context | None = None

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self)

    def __call__(self, signum: int, _frame: object) -> None:
        # Runs in the main thread between two bytecodes of whatever it was doing, possibly
        # inside an earlier call of itself: only the first signal acts, and only through the
        # context's own (re-entrant) lock, never rclpy's global one.
        self.received += 1
        if self.received > 1 or self.cleaning_up or self.context is None:
            return
        try:
            self.context.try_shutdown()  # ends the spin (also where rclpy's handlers are not installed)
        except Exception:
            pass


@contextmanager
def _signals_held_back() -> Iterator[None]:
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def run_node(factory: Callable[[], Node], args: list[str] | None = None, threads: int = 1) -> int:
    """Create the node with ``factory`` and spin it until shutdown; returns an exit code."""
    signals = _TerminationSignals()
    signals.install()  # before rclpy.init: rclpy's handlers chain to it
    # A signal in the middle of init or of the executor's construction (which builds guard
    # conditions on the context) would leave half-built rclpy objects that complain from
    # __del__; held back for these milliseconds, it is delivered right after.
    with _signals_held_back():
        rclpy.init(args=args if args is not None else sys.argv)
        signals.context = rclpy.get_default_context()
        executor = MultiThreadedExecutor(num_threads=threads) if threads > 1 else SingleThreadedExecutor()
    node: Node | None = None
    try:
        try:
            node = factory()
        except ParameterError as exc:
            rclpy.logging.get_logger("wam_ros").fatal(f"refusing to start: {exc}")
            return EXIT_BAD_PARAMETER
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise  # a real error while running
        # the context was shut down by SIGINT/SIGTERM between two waits: a clean shutdown
    finally:
        signals.cleaning_up = True
        faulthandler.dump_traceback_later(CLEANUP_TIMEOUT, exit=True)
        if node is not None:
            close = getattr(node, "close", None)
            if callable(close):
                close()
            node.destroy_node()
        rclpy.try_shutdown()
        faulthandler.cancel_dump_traceback_later()
    return 0
