"""run_node: how a node process ends. Each case runs in its own process (rclpy.init per process).

The race this guards: SIGINT shuts the context down while the executor builds its next
wait set, and rclpy raises a plain RCLError ("context is not valid") instead of
ExternalShutdownException; that is a clean shutdown and must exit 0, while the same
kind of error with the context still valid is a real failure and must not be hidden.
"""

from __future__ import annotations

import os
import selectors
import signal
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


# Ctrl-C in a terminal signals the whole process group, and ``ros2 launch`` forwards its own
# SIGINT to every node: each node gets two, often while it is already cleaning up.
CTRL_C_SCRIPT = textwrap.dedent(
    """
    import faulthandler, signal, sys, time
    from rclpy.node import Node
    import wam_ros.ros.node_runtime as runtime

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # the test asks for stacks if we hang
    CLOSE_SECONDS = float(sys.argv[1])

    class Slow(Node):
        def __init__(self):
            super().__init__("ctrl_c_node")
            self._said = False
            self.create_timer(0.05, self.tick)

        def tick(self):
            if not self._said:
                self._said = True
                print("spinning", flush=True)

        def close(self):
            print("closing", flush=True)
            time.sleep(CLOSE_SECONDS)  # a cleanup long enough for a second signal to land in it
            print("closed", flush=True)

    sys.exit(runtime.run_node(Slow, []))
    """
)


def _wait_for(proc: subprocess.Popen, stream, marker: str, timeout: float = 30.0) -> str:
    """Read ``stream`` until a line contains ``marker`` (the node is up); returns what was read."""
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    seen = ""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        assert time.monotonic() < deadline, f"no '{marker}' within {timeout} s: {seen[-2000:]}"
        assert proc.poll() is None, f"exited early ({proc.returncode}): {seen[-2000:]}"
        if sel.select(timeout=0.5):
            seen += stream.readline()
    return seen


def _ctrl_c(cmd: list[str], marker: str, on_stderr: bool, signals: list[tuple[float, int]]):
    """Start ``cmd`` in its own process group, wait for ``marker``, then signal the whole group
    (as a terminal does) after each delay; returns (returncode, stdout, stderr)."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, env=os.environ
    )
    try:
        early = _wait_for(proc, proc.stderr if on_stderr else proc.stdout, marker)
        for delay, signum in signals:
            time.sleep(delay)
            os.killpg(proc.pid, signum)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGUSR1)  # every thread's stack, where the script registered it
            time.sleep(1.0)
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            pytest.fail(f"still running 30 s after the signals:\n{out[-1000:]}\n{err[-6000:]}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if on_stderr:
        err = early + err
    else:
        out = early + out
    return proc.returncode, out, err


def _synthetic(close_seconds: float, signals: list[tuple[float, int]]):
    return _ctrl_c([sys.executable, "-c", CTRL_C_SCRIPT, str(close_seconds)], "spinning", False, signals)


@pytest.mark.parametrize(
    "signals",
    [
        [(0.0, signal.SIGINT)],  # kill -INT <pid>: one signal
        [(0.0, signal.SIGINT), (0.0, signal.SIGINT)],  # Ctrl-C under ros2 launch: two at once
        [(0.0, signal.SIGTERM)],  # launch's escalation
        [(0.0, signal.SIGINT), (0.0, signal.SIGINT), (0.0, signal.SIGTERM)],
    ],
    ids=["sigint", "double_sigint", "sigterm", "sigint_sigint_sigterm"],
)
def test_termination_signals_exit_cleanly(signals):
    code, out, err = _synthetic(0.0, signals)
    assert code == 0, err[-2000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-2000:]
    assert "closed" in out  # the node's close() ran to its end


def test_a_second_sigint_during_cleanup_does_not_cut_it_short():
    code, out, err = _synthetic(1.0, [(0.0, signal.SIGINT), (0.3, signal.SIGINT)])
    assert code == 0, err[-2000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-2000:]
    assert out.index("closing") < out.index("closed")


@pytest.mark.ros
def test_a_real_node_survives_ctrl_c_under_launch():
    """chunk_smoother_node as ros2 launch starts it, given two SIGINTs to its process group."""
    code, _, err = _ctrl_c(
        [sys.executable, "-m", "wam_ros.nodes.chunk_smoother_node"],
        "smoothing",
        True,
        [(0.0, signal.SIGINT), (0.0, signal.SIGINT)],
    )
    assert code == 0, err[-2000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-2000:]
