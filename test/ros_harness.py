"""Test harness for real rclpy over real DDS: node processes and a spinning test node.

Nothing here is mocked: ``NodeProcess`` starts a wam_ros executable in its own
process (as ``ros2 run`` would) and ``RosTestNode`` is a real rclpy node spinning
in a background thread. DDS is isolated by conftest (loopback, private domain).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wam_ros.ros.background_node import BackgroundNode

REPO = Path(__file__).resolve().parent.parent


def wait_for(predicate: Callable[[], Any], timeout: float, period: float = 0.01) -> Any:
    """Poll ``predicate`` until it returns truthy; return that value or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout:.1f}s")
        time.sleep(period)


def _param_arg(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_param_arg(v) if not isinstance(v, str) else f"'{v}'" for v in value) + "]"
    return str(value)


class NodeProcess:
    """A wam_ros node in its own OS process, stopped with SIGINT like Ctrl-C."""

    def __init__(
        self,
        module: str,
        params: dict[str, Any] | None = None,
        params_files: list[str | Path] | None = None,
        remaps: dict[str, str] | None = None,
        name: str | None = None,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.module = module
        cmd = [sys.executable, "-m", module, *(extra_args or []), "--ros-args"]
        for f in params_files or []:
            cmd += ["--params-file", str(f)]
        for k, v in (params or {}).items():
            cmd += ["-p", f"{k}:={_param_arg(v)}"]
        for k, v in (remaps or {}).items():
            cmd += ["-r", f"{k}:={v}"]
        if name:
            cmd += ["-r", f"__node:={name}"]
        self.cmd = cmd
        self.log = tempfile.NamedTemporaryFile(prefix=f"{module.rsplit('.', 1)[-1]}_", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            cmd, stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO, env={**os.environ, **(env or {})}
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.alive():
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up (crash tests)."""
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=5)

    def __enter__(self) -> NodeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RosTestNode(BackgroundNode):
    """A real rclpy node with its own context, spinning in a background thread."""

    def __init__(self, name: str = "test_probe") -> None:
        super().__init__(name)

    def collect(self, msg_type: type, topic: str, qos: Any = 10) -> list:
        """Subscribe and return the list that incoming messages are appended to."""
        received: list = []
        self.node.create_subscription(msg_type, topic, received.append, qos)
        return received

    def call(self, srv_type: type, name: str, request: Any = None, timeout: float = 10.0,
             resend_after: float | None = BackgroundNode.RESEND_AFTER) -> Any:  # fmt: skip
        """``BackgroundNode.call`` that raises TimeoutError instead of returning None.

        Resends an unanswered request (see ``BackgroundNode.RESEND_AFTER``): pass ``resend_after=None`` for
        a service that must not run twice (a sim reset, a recorder's start/save).
        """
        response = super().call(srv_type, name, request, timeout, resend_after)
        if response is None:
            raise TimeoutError(f"service {name} did not answer within {timeout:.1f}s")
        return response

    def try_call(self, srv_type: type, name: str, timeout: float = 3.0) -> Any:
        """``call`` with a default request; None when the service does not answer in time."""
        try:
            return self.call(srv_type, name, timeout=timeout)
        except TimeoutError:
            return None

    def arm_bridge(self, safety: list, bridge: str = "/safety_bridge_node") -> bool:
        """One attempt to get the safety bridge armed, for ``wait_for``; ``safety``: collected /wam/safety_state.

        On a loaded machine a late /joint_states can trip the (correctly strict) stale-state
        watchdog right after arming; that is the bridge failing closed, not a wiring fault, so a
        stale-state FAULT is reset and the arm call repeated.
        """
        from std_srvs.srv import Trigger

        if safety and safety[-1].data.startswith("FAULT(joint_states stale"):
            self.try_call(Trigger, f"{bridge}/reset")
        if safety and safety[-1].data in ("ARMED", "ACTIVE"):
            return True
        res = self.try_call(Trigger, f"{bridge}/arm")
        return bool(res and res.success)
