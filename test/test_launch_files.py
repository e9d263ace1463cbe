"""Launch files: they build exactly the shared graph descriptions, with real files.

The launch system is not installable here; see test/launch_standin.py for how the
launch files are executed. What matters for a real install is checked for real:
executables exist as console scripts and modules, parameter files exist, and the
graphs match what the plain-process runner starts.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest
import yaml
from launch_standin import run_launch_file

from wam_ros.apps.graph import GRAPHS, GraphOptions
from wam_ros.robot.model import RobotModel

REPO = Path(__file__).resolve().parent.parent
LAUNCH = REPO / "launch"


def _console_scripts() -> set[str]:
    tree = ast.parse((REPO / "setup.py").read_text())
    scripts: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and " = wam_ros." in node.value:
            scripts.add(node.value.split("=")[0].strip())
    return scripts


CASES = [
    ("sim.launch.py", {}),
    ("sim.launch.py", {"policy": "expert", "rviz": "true", "namespace": "arm1"}),
    ("robot.launch.py", {}),
    ("robot.launch.py", {"camera_driver": "realsense2_camera", "start_ros2_control": "true", "output": "forward"}),
    ("teleop_collect.launch.py", {}),
    ("teleop_collect.launch.py", {"simulated": "false", "teleop_source": "joy"}),
    ("rviz.launch.py", {}),
]


@pytest.mark.parametrize(("launch_file", "args"), CASES)
def test_launch_file_refers_to_real_executables_and_files(launch_file, args):
    _, nodes = run_launch_file(LAUNCH / launch_file, args)
    assert nodes, f"{launch_file} starts nothing"
    scripts = _console_scripts()
    for n in nodes:
        kw = n.kwargs
        if kw["package"] == "wam_ros":
            assert kw["executable"] in scripts, f"{kw['executable']} is not a console script in setup.py"
            assert importlib.util.find_spec(f"wam_ros.nodes.{kw['executable']}"), kw["executable"]
        for p in kw.get("parameters", []):
            if isinstance(p, str):
                assert Path(p).is_file(), f"{launch_file}: parameter file {p} does not exist"
                assert "ros__parameters" in Path(p).read_text(), p
        for a in kw.get("arguments", []):
            if a.endswith((".rviz", ".yaml")):
                assert Path(a).is_file(), a


def test_launch_arguments_reach_the_nodes():
    _, nodes = run_launch_file(LAUNCH / "robot.launch.py", {"output": "forward", "policy": "remote", "namespace": "r"})
    by_name = {n.kwargs.get("name"): n.kwargs for n in nodes}
    bridge = by_name["safety_bridge_node"]
    assert bridge["namespace"] == "r"
    assert {"output": "forward"}.items() <= bridge["parameters"][-1].items()
    assert by_name["wam_node"]["parameters"][-1]["backend"] == "remote"
    # The real-arm default is dry_run: nothing reaches a physical arm unless asked for.
    _, nodes = run_launch_file(LAUNCH / "robot.launch.py")
    bridge = next(n.kwargs for n in nodes if n.kwargs.get("name") == "safety_bridge_node")
    assert bridge["parameters"][-1]["output"] == "dry_run"


@pytest.mark.parametrize(("launch_file", "graph", "args"), [
    ("sim.launch.py", "sim", {}),
    ("robot.launch.py", "robot", {}),
    ("teleop_collect.launch.py", "teleop_collect", {}),
])  # fmt: skip
def test_launch_files_and_plain_runner_share_one_graph(launch_file, graph, args):
    _, nodes = run_launch_file(LAUNCH / launch_file, args)
    launched = sorted(n.kwargs["executable"] for n in nodes if n.kwargs["package"] == "wam_ros")
    planned = sorted(s.executable for s in GRAPHS[graph](GraphOptions()))
    assert launched == planned


def test_unknown_launch_argument_is_refused():
    with pytest.raises(KeyError, match="does not declare"):
        run_launch_file(LAUNCH / "sim.launch.py", {"polcy": "expert"})


def test_launch_files_use_only_jazzy_launch_api():
    """Every name imported from launch/launch_ros exists in Jazzy (list from its API docs)."""
    jazzy_api = {
        "launch": {"LaunchDescription", "LaunchContext"},
        "launch.actions": {"DeclareLaunchArgument", "OpaqueFunction", "IncludeLaunchDescription", "GroupAction",
                           "TimerAction", "RegisterEventHandler", "SetEnvironmentVariable"},
        "launch.substitutions": {"LaunchConfiguration", "PathJoinSubstitution", "PythonExpression"},
        "launch.conditions": {"IfCondition", "UnlessCondition"},
        "launch_ros.actions": {"Node", "PushRosNamespace", "SetParameter"},
        "launch_ros.substitutions": {"FindPackageShare"},
    }  # fmt: skip
    files = [*LAUNCH.glob("*.py"), REPO / "wam_ros" / "ros" / "launch_support.py"]
    for f in files:
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and re.match(r"launch(_ros)?(\.|$)", node.module or ""):
                names = {a.name for a in node.names}
                assert names <= jazzy_api.get(node.module, set()), f"{f.name}: {node.module} {names}"


def test_controllers_yaml_joints_come_from_the_urdf():
    cfg = yaml.safe_load((REPO / "config" / "ros2_controllers.yaml").read_text())
    joints = list(RobotModel.load().actuated_joints)
    assert cfg["arm_controller"]["ros__parameters"]["joints"] == joints
    assert cfg["forward_position_controller"]["ros__parameters"]["joints"] == joints
