"""Run a wam_ros graph as plain processes: ``wam-graph sim``, ``make demo``, tests.

The launch system (launch/launch_ros) is the front door on a ROS 2 install; where it
is not installed, this runner starts the same ``wam_ros.apps.graph`` description as one
process per node (``python -m wam_ros.nodes.<exe> --ros-args ...``, what ``ros2 run``
does), prefixes their output, watches them, and stops them in reverse order with
SIGINT (then SIGTERM, then SIGKILL) so the arm is held before the sim goes away.
Nodes of other packages (robot_state_publisher, rviz2) are skipped with a note.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from wam_ros.apps.graph import GRAPHS, NodeSpec, add_options, options_from_args
from wam_ros.resources import share_dir, share_path


def dds_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """The process environment with DDS kept on loopback and the SHM profile selected."""
    env = dict(os.environ if base is None else base)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
    profile = str(share_path("config", "fastdds.xml"))
    env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", profile)
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    env.setdefault("MUJOCO_GL", "osmesa")
    env.setdefault("PYOPENGL_PLATFORM", "osmesa")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _ros_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(f"'{v}'" if isinstance(v, str) else _ros_value(v) for v in value) + "]"
    if isinstance(value, str) and value == "":
        return "''"
    return str(value)


def node_command(spec: NodeSpec, python: str = sys.executable) -> list[str]:
    """The command line ``ros2 run`` would execute for ``spec``."""
    if spec.module is None:
        raise ValueError(f"{spec.package}/{spec.executable} is not a wam_ros node")
    cmd = [python, "-m", spec.module, *spec.arguments, "--ros-args", "-r", f"__node:={spec.name}"]
    for f in spec.params_files:
        path = share_path(f) if not Path(f).is_absolute() else Path(f)
        if not path.is_file():
            raise FileNotFoundError(f"parameter file {f} of node {spec.name} not found at {path}")
        cmd += ["--params-file", str(path)]
    for k, v in spec.params.items():
        cmd += ["-p", f"{k}:={_ros_value(v)}"]
    for src, dst in spec.remaps:
        cmd += ["-r", f"{src}:={dst}"]
    return cmd


class GraphRunner:
    """Start, watch and stop the processes of one graph."""

    def __init__(
        self,
        specs: Iterable[NodeSpec],
        log_dir: str | Path | None = None,
        echo: IO[str] | None = sys.stdout,
        env: dict[str, str] | None = None,
    ) -> None:
        self.specs = [s for s in specs if s.module is not None]
        self.skipped = [s for s in specs if s.module is None]
        self.env = dds_environment(env)
        self.log_dir = Path(log_dir) if log_dir else None
        self.echo = echo
        self.procs: dict[str, subprocess.Popen] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self) -> GraphRunner:
        if self.log_dir:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        for spec in self.specs:
            proc = subprocess.Popen(
                node_command(spec),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=share_dir(),
                text=True,
                bufsize=1,
            )
            self.procs[spec.name] = proc
            t = threading.Thread(target=self._pump, args=(spec.name, proc), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _pump(self, name: str, proc: subprocess.Popen) -> None:
        log = open(self.log_dir / f"{name}.log", "w") if self.log_dir else None
        try:
            for line in proc.stdout:  # type: ignore[union-attr]
                if log:
                    log.write(line)
                    log.flush()
                if self.echo is not None:
                    with self._lock:
                        self.echo.write(f"[{name}] {line}")
        finally:
            if log:
                log.close()

    def dead(self) -> dict[str, int]:
        """Nodes that exited, with their exit codes."""
        return {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}

    def stop(self, timeout: float = 10.0) -> dict[str, int]:
        """SIGINT in reverse start order (policy first, the arm's controllers last)."""
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.terminate()
                    try:
                        proc.wait(timeout=3)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
        for t in self._threads:
            t.join(timeout=2)
        return {n: p.returncode for n, p in self.procs.items()}

    def __enter__(self) -> GraphRunner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_on_termination_signals() -> None:
    """Make SIGTERM (and SIGINT, even where the shell started us with it ignored, as it does for
    background jobs) raise KeyboardInterrupt in the main thread, so a runner's ``finally`` stops
    the graph: otherwise ``kill <pid>`` of a command-line tool leaves its nodes running, the
    arm's controllers included."""

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


def add_set_argument(ap: argparse.ArgumentParser) -> None:
    """``--set node.param=value`` (repeatable), the one way every graph-running CLI overrides node parameters."""
    ap.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                    help="override a node parameter, e.g. --set wam_node.noise_scale=0 (repeatable)")


def parse_set(items: list[str]) -> dict[str, dict[str, Any]]:
    """``node.param=value`` strings -> {node: {param: value}} (YAML-typed values)."""
    import yaml

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        node, dot, param = key.partition(".")
        if not sep or not dot:
            raise ValueError(f"--set expects node.param=value, got '{item}'")
        out.setdefault(node, {})[param] = yaml.safe_load(value)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="wam-graph", description=__doc__.splitlines()[0])
    ap.add_argument("graph", choices=sorted(GRAPHS))
    add_options(ap, "policy", "checkpoint", "server_url", "server_profile", "output", "controller",
                "smoother_strategy", "use_sim_time")
    add_set_argument(ap)
    ap.add_argument("--log-dir", default=None)
    args = ap.parse_args(argv)
    opts = options_from_args(args, extra_params=parse_set(args.set))
    stop_on_termination_signals()
    runner = GraphRunner(GRAPHS[args.graph](opts), log_dir=args.log_dir)
    for s in runner.skipped:
        print(f"[wam-graph] skipping {s.package}/{s.executable} (not a wam_ros node; use ros2 launch)")
    runner.start()
    print(f"[wam-graph] running '{args.graph}' (ROS_DOMAIN_ID={runner.env['ROS_DOMAIN_ID']}); Ctrl-C stops")
    try:
        while not runner.dead():
            time.sleep(0.2)
        print(f"[wam-graph] node exited: {runner.dead()}; stopping the graph")
    except KeyboardInterrupt:
        pass
    codes = runner.stop()
    print(f"[wam-graph] stopped: {codes}")
    sys.exit(0 if all(c in (0, -2, 130) for c in codes.values()) else 1)


if __name__ == "__main__":
    main()
