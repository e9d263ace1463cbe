"""The plain-process runner starts, wires and stops the shared graphs; every parameter a
graph sets (from its config files or as an override) is declared by the node it targets.

Real processes over real DDS (conftest isolates the domain). The launch files build the
same NodeSpecs (test_launch_files.py), so what is checked here holds for them too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from rcl_interfaces.srv import ListParameters
from ros_harness import wait_for
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from wam_ros.apps.graph import GRAPHS, GraphOptions, NodeSpec, sim_graph
from wam_ros.apps.graph_runner import GraphRunner, node_command, parse_set
from wam_ros.resources import share_path
from wam_ros.ros.qos import LATCHED

pytestmark = pytest.mark.timeout(240)


def _configured_keys(spec: NodeSpec) -> set[str]:
    """Parameter names a spec sets: its YAML files (nested keys dotted) and its overrides."""
    keys: set[str] = set(spec.params)

    def walk(d: dict, prefix: str = "") -> None:
        for k, v in d.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
            else:
                keys.add(f"{prefix}{k}")

    for f in spec.params_files:
        data = yaml.safe_load(share_path(f).read_text())
        for section in data.values():
            walk(section.get("ros__parameters", {}))
    return keys


def _declared(ros, node: str) -> set[str]:
    """The node's declared parameter names; empty while it does not answer yet (callers retry)."""
    try:
        res = ros.call(ListParameters, f"/{node}/list_parameters", ListParameters.Request(), timeout=10)
    except TimeoutError:
        return set()
    return set(res.result.names)


def test_node_command_is_what_ros2_run_would_execute():
    spec = NodeSpec(
        "chunk_smoother_node",
        "chunk_smoother_node",
        params_files=("config/chunk_smoother_node.yaml",),
        params={"strategy": "latest", "use_sim_time": True},
        remaps=(("/wam/command", "/x"),),
    )
    cmd = node_command(spec)
    assert cmd[1:3] == ["-m", "wam_ros.nodes.chunk_smoother_node"]
    assert cmd[cmd.index("--params-file") + 1] == str(share_path("config", "chunk_smoother_node.yaml"))
    assert "strategy:=latest" in cmd and "use_sim_time:=true" in cmd and "/wam/command:=/x" in cmd
    with pytest.raises(FileNotFoundError, match=r"missing\.yaml"):
        node_command(NodeSpec("n", "camera_node", params_files=("config/missing.yaml",)))
    assert parse_set(["wam_node.num_steps=4", "sim_robot_node.cameras=[scene]"]) == {
        "wam_node": {"num_steps": 4},
        "sim_robot_node": {"cameras": ["scene"]},
    }
    with pytest.raises(ValueError, match=r"node\.param=value"):
        parse_set(["num_steps=4"])


def test_every_graph_refers_to_real_files():
    for name, build in GRAPHS.items():
        for spec in build(GraphOptions()):
            for f in spec.params_files:
                assert share_path(f).is_file(), f"graph {name}: {f}"


def _exit_report(codes: dict[str, int], log_dir: Path) -> str:
    """Exit codes and the log tail of every process that did not exit 0 (pytest truncates reprs, not strings)."""
    bad = [n for n, c in codes.items() if c != 0]
    tails = "\n".join(f"== {n} (exit {codes[n]})\n{(log_dir / f'{n}.log').read_text()[-3000:]}" for n in bad)
    return f"exit codes {codes}\n{tails}"


def test_sim_graph_runs_closed_loop_and_every_parameter_is_declared(ros, tmp_path):
    """The `make demo` graph (expert policy): starts, arms, commands reach the controller, stops cleanly."""
    opts = GraphOptions(policy="expert", extra_params={"sim_robot_node": {"image_width": 64, "image_height": 48}})
    specs = sim_graph(opts)
    safety = ros.collect(String, "/wam/safety_state", LATCHED)
    to_controller = ros.collect(JointTrajectory, "/arm_controller/joint_trajectory", 50)
    runner = GraphRunner(specs, log_dir=tmp_path / "logs", echo=None)
    runner.start()
    try:
        wait_for(lambda: safety and safety[-1].data == "DISARMED", 90, period=0.2)
        for spec in specs:
            missing = _configured_keys(spec) - wait_for(lambda spec=spec: _declared(ros, spec.name), 60, period=0.5)
            assert not missing, f"{spec.name} does not declare {sorted(missing)}"

        wait_for(lambda: ros.arm_bridge(safety) and safety[-1].data == "ACTIVE", 90, period=0.2)
        n = len(to_controller)
        wait_for(lambda: len(to_controller) > n + 20, 30)
        assert not runner.dead(), runner.dead()
    finally:
        t0 = time.monotonic()
        codes = runner.stop()
        stop_time = time.monotonic() - t0
    assert all(c == 0 for c in codes.values()), _exit_report(codes, tmp_path / "logs")
    assert stop_time < 30
    assert set(codes) == {s.name for s in specs}


@pytest.mark.parametrize("graph", ["robot", "teleop_collect"])
def test_other_graphs_declare_every_parameter_they_set(ros, tmp_path, graph):
    from wam_ros.robot.model import RobotModel
    from wam_ros.tiny_wam.checkpoint import CheckpointMeta, save_checkpoint
    from wam_ros.tiny_wam.data import Normalization
    from wam_ros.tiny_wam.model import TinyWam, TinyWamConfig

    joints = RobotModel.load().actuated_joints
    cfg = TinyWamConfig(d_model=32, num_layers=1, num_heads=2)
    ckpt = save_checkpoint(
        tmp_path / "ckpt", TinyWam(cfg), CheckpointMeta(joints, ("scene", "wrist"), 0.1, cfg, Normalization.identity(7))
    )
    opts = GraphOptions(
        checkpoint=str(ckpt),
        output="dry_run",
        dataset_dir=str(tmp_path / "ds"),
        extra_params={"sim_robot_node": {"cameras_enabled": False}},
    )
    specs = GRAPHS[graph](opts)
    runner = GraphRunner(specs, log_dir=tmp_path / "logs", echo=None).start()
    try:
        for spec in specs:
            names = wait_for(lambda spec=spec: _declared(ros, spec.name), 90, period=0.5)
            missing = _configured_keys(spec) - names
            assert not missing, f"{spec.name} does not declare {sorted(missing)}"
        assert not runner.dead(), runner.dead()
    finally:
        codes = runner.stop()
    assert all(c == 0 for c in codes.values()), _exit_report(codes, tmp_path / "logs")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_wam_graph_stops_its_nodes_when_terminated(tmp_path, sig):
    """`kill <pid>` (SIGTERM), or SIGINT to a tool the shell started in the background (which starts it
    with SIGINT ignored), stops the whole graph: no node outlives the command-line tool."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "wam_ros.apps.graph_runner", "sim", "--policy", "expert", "--log-dir", str(tmp_path),
         "--set", "sim_robot_node.image_width=64", "--set", "sim_robot_node.image_height=48"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # as `cmd &` in a script does
    )
    try:
        children = wait_for(lambda: _children(proc.pid) if len(_children(proc.pid)) >= 4 else None, 60)
        time.sleep(2.0)  # the nodes are up and spinning
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # the test failed: never leave a graph running in this run's DDS domain
            for pid in _children(proc.pid):
                os.kill(pid, signal.SIGKILL)
            proc.kill()
            proc.wait(10)
    assert "stopped" in out, out
    alive = [pid for pid in children if Path(f"/proc/{pid}").exists()]
    assert not alive, f"nodes still running after {sig.name}: {alive}"


def _children(pid: int) -> list[int]:
    """Child process ids, from /proc (Linux)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []
