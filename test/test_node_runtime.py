"""run_node: how a node process ends. Each case runs in its own process (rclpy.init per process).

The race this guards: SIGINT shuts the context down while the executor builds its next
wait set, and rclpy raises a plain RCLError ("context is not valid") instead of
ExternalShutdownException; that is a clean shutdown and must exit 0, while the same
kind of error with the context still valid is a real failure and must not be hidden.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.timeout(60)

SCRIPT = textwrap.dedent(
    """
    import sys
    import rclpy
    from rclpy.node import Node

    import time
    import wam_ros.ros.node_runtime as runtime
    runtime.CLEANUP_TIMEOUT = 1.0

    SHUTDOWN_FIRST = sys.argv[1] == "shutdown_first"
    HANGING_CLOSE = sys.argv[1] == "hanging_close"

    class Failing(Node):
        def __init__(self):
            super().__init__("failing_node")
            self.create_timer(0.05, self.tick)

        def close(self):
            if HANGING_CLOSE:
                time.sleep(60)  # a cleanup that never finishes

        def tick(self):
            if SHUTDOWN_FIRST or HANGING_CLOSE:
                rclpy.try_shutdown()  # what rclpy's SIGINT handler does
            raise RuntimeError("failed to initialize wait set: the given context is not valid")

    sys.exit(runtime.run_node(Failing, []))
    """
)


def _run(mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=45)


def test_error_after_the_context_was_shut_down_is_a_clean_exit():
    res = _run("shutdown_first")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Traceback" not in res.stderr


def test_error_while_running_is_not_hidden():
    res = _run("running")
    assert res.returncode == 1
    assert "RuntimeError: failed to initialize wait set" in res.stderr


def test_a_hung_cleanup_exits_with_every_threads_stack():
    t0 = time.monotonic()
    res = _run("hanging_close")
    assert time.monotonic() - t0 < 30  # 1 s cleanup timeout here, not the 60 s sleep
    assert res.returncode == 1
    assert "Timeout" in res.stderr and "in close" in res.stderr, res.stderr[-2000:]  # where it hung
