"""Launch files: they build exactly the shared graph descriptions, with real files.

The launch files are evaluated through the public launch / launch_ros API only
(``LaunchDescription.entities``, ``DeclareLaunchArgument.execute`` in a ``LaunchContext``,
``OpaqueFunction.execute``, ``Node.node_package`` / ``node_executable``), so these tests
run against the real packages on a ROS install and against test/launch_standin.py here.
What a Node was given (name, namespace, parameters) launch_ros only exposes once it has
started the process; ``launch_support.node_settings`` reads it back instead. Optional
packages are looked up in the ament index, which the ``ament_prefix`` fixture replaces
with a prefix the test controls.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import launch_standin
import pytest
import yaml
from launch_standin import load_launch_file, run_launch_file

launch_standin.install()

from launch_ros.actions import Node  # noqa: E402

from wam_ros.apps.graph import GRAPHS, GraphOptions  # noqa: E402
from wam_ros.params import by_name  # noqa: E402
from wam_ros.params import episode_recorder_node as recorder_params  # noqa: E402
from wam_ros.robot.model import RobotModel  # noqa: E402
from wam_ros.ros.launch_support import LaunchSetupError, node_settings  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
LAUNCH = REPO / "launch"
LAUNCH_FILES = sorted(p.name for p in LAUNCH.glob("*.launch.py"))

#: The packages other than wam_ros that the launch files can start.
OPTIONAL_PACKAGES = ("robot_state_publisher", "rviz2", "realsense2_camera", "controller_manager")


def _make_prefix(root: Path, packages: tuple[str, ...]) -> Path:
    """An install prefix holding ``packages`` in its ament index (what colcon/apt install writes)."""
    index = root / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True, exist_ok=True)
    for pkg in packages:
        (index / pkg).write_text("")
        (root / "share" / pkg).mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture(autouse=True)
def ament_prefix(tmp_path, monkeypatch):
    """Every optional package installed, in a prefix of our own; ``.remove(pkg)`` uninstalls one."""

    class Prefix:
        def __init__(self) -> None:
            self.packages = list(OPTIONAL_PACKAGES)
            self._apply()

        def remove(self, package: str) -> None:
            self.packages.remove(package)
            self._apply()

        def _apply(self) -> None:
            root = _make_prefix(tmp_path / f"prefix_{len(self.packages)}", tuple(self.packages))
            monkeypatch.setenv("AMENT_PREFIX_PATH", str(root))

    return Prefix()


def _console_scripts() -> set[str]:
    tree = ast.parse((REPO / "setup.py").read_text())
    scripts: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and " = wam_ros." in node.value:
            scripts.add(node.value.split("=")[0].strip())
    return scripts


def _by_name(run) -> dict[str, tuple[Node, dict]]:
    return {node_settings(n).get("name") or n.node_executable: (n, node_settings(n)) for n in run.nodes}


def _param(settings: dict, name: str):
    """The value the node gets for ``name`` from its dict parameters (the last one wins), or None."""
    value = None
    for p in settings.get("parameters", []):
        if isinstance(p, dict) and name in p:
            value = p[name]
    return value


CASES = [
    ("sim.launch.py", {}),
    ("sim.launch.py", {"policy": "expert", "rviz": "true", "namespace": "arm1"}),
    ("robot.launch.py", {}),
    ("robot.launch.py", {"camera_driver": "realsense2_camera", "start_ros2_control": "true", "output": "forward"}),
    ("robot.launch.py", {"rviz": "true", "use_sim_time": "true"}),
    ("teleop_collect.launch.py", {}),
    ("teleop_collect.launch.py", {"simulated": "false", "teleop_source": "joy"}),
    ("teleop_collect.launch.py", {"mode": "auto", "num_episodes": "3", "rviz": "true"}),
    ("rviz.launch.py", {}),
]


@pytest.mark.parametrize(("launch_file", "args"), CASES)
def test_launch_file_refers_to_real_executables_and_files(launch_file, args):
    run = run_launch_file(LAUNCH / launch_file, args)
    assert run.nodes, f"{launch_file} starts nothing"
    assert len(run.nodes) == len(run.actions), "only Node actions are expected"
    scripts = _console_scripts()
    for n in run.nodes:
        kw = node_settings(n)
        assert kw["package"] == n.node_package and kw["executable"] == n.node_executable
        if n.node_package == "wam_ros":
            assert n.node_executable in scripts, f"{n.node_executable} is not a console script in setup.py"
            assert importlib.util.find_spec(f"wam_ros.nodes.{n.node_executable}"), n.node_executable
        else:
            assert n.node_package in OPTIONAL_PACKAGES, f"{launch_file} starts an unchecked package {n.node_package}"
        for p in kw.get("parameters", []):
            if isinstance(p, str):
                assert Path(p).is_file(), f"{launch_file}: parameter file {p} does not exist"
                assert "ros__parameters" in Path(p).read_text(), p
        for a in kw.get("arguments", []):
            if a.endswith((".rviz", ".yaml")):
                assert Path(a).is_file(), a


@pytest.mark.parametrize("launch_file", LAUNCH_FILES)
def test_every_argument_has_a_description_and_a_valid_default(launch_file):
    run = run_launch_file(LAUNCH / launch_file)  # executing the declarations checks defaults against choices
    assert run.arguments
    for name, arg in run.arguments.items():
        assert arg.description and arg.description != "no description given", name
        assert arg.default_value is not None, f"{launch_file}: {name} has no default"
        assert name in run.configurations


@pytest.mark.parametrize("launch_file", LAUNCH_FILES)
def test_processes_start_only_after_every_check(launch_file):
    """No Node sits directly in the description: each comes from the OpaqueFunction that checks first."""
    ld = load_launch_file(LAUNCH / launch_file)
    assert not [e for e in ld.entities if isinstance(e, Node)]


def test_launch_arguments_reach_the_nodes():
    run = run_launch_file(LAUNCH / "robot.launch.py", {"output": "forward", "policy": "remote", "namespace": "r"})
    nodes = _by_name(run)
    _, bridge = nodes["safety_bridge_node"]
    assert bridge["namespace"] == "r"
    assert _param(bridge, "output") == "forward"
    assert _param(nodes["wam_node"][1], "backend") == "remote"
    # The real-arm default is dry_run: nothing reaches a physical arm unless asked for.
    run = run_launch_file(LAUNCH / "robot.launch.py")
    assert _param(_by_name(run)["safety_bridge_node"][1], "output") == "dry_run"


@pytest.mark.parametrize(("launch_file", "args", "output"), [
    ("sim.launch.py", {}, "jtc_topic"),
    ("teleop_collect.launch.py", {}, "jtc_topic"),
    ("teleop_collect.launch.py", {"simulated": "false", "teleop_source": "joy"}, "jtc_topic"),
    ("teleop_collect.launch.py", {"output": "dry_run"}, "dry_run"),
])  # fmt: skip
def test_bridge_output_defaults_to_the_graphs(launch_file, args, output):
    """No launch file types an output default: the argument is GraphOptions' (empty), the graph resolves it."""
    run = run_launch_file(LAUNCH / launch_file, args)
    assert run.configurations["output"] == args.get("output", "")
    assert _param(_by_name(run)["safety_bridge_node"][1], "output") == output


@pytest.mark.parametrize(("launch_file", "graph", "args"), [
    ("sim.launch.py", "sim", {}),
    ("robot.launch.py", "robot", {}),
    ("teleop_collect.launch.py", "teleop_collect", {}),
])  # fmt: skip
def test_launch_files_and_plain_runner_share_one_graph(launch_file, graph, args):
    run = run_launch_file(LAUNCH / launch_file, args)
    launched = sorted(n.node_executable for n in run.nodes if n.node_package == "wam_ros")
    planned = sorted(s.executable for s in GRAPHS[graph](GraphOptions()))
    assert launched == planned


def test_unknown_launch_argument_is_refused():
    with pytest.raises(KeyError, match="does not declare"):
        run_launch_file(LAUNCH / "sim.launch.py", {"polcy": "expert"})


# ---------------------------------------------------------------------------------------------- one clock


@pytest.mark.parametrize(("launch_file", "args", "expected"), [
    ("sim.launch.py", {"rviz": "true"}, True),
    ("robot.launch.py", {"rviz": "true", "start_ros2_control": "true", "camera_driver": "realsense2_camera"}, False),
    ("robot.launch.py", {"rviz": "true", "start_ros2_control": "true", "use_sim_time": "true"}, True),
    ("teleop_collect.launch.py", {"rviz": "true"}, True),  # simulated (default): sim time by default
    ("teleop_collect.launch.py", {"rviz": "true", "simulated": "false"}, False),
    ("teleop_collect.launch.py", {"simulated": "false", "use_sim_time": "true"}, True),  # bag replay
    ("rviz.launch.py", {"use_sim_time": "true"}, True),
])  # fmt: skip
def test_every_process_runs_on_the_same_clock(launch_file, args, expected):
    run = run_launch_file(LAUNCH / launch_file, args)
    clocks = {}
    for n in run.nodes:
        if n.node_executable == "spawner":
            continue  # a command-line client, not a node with a clock
        clocks[node_settings(n).get("name") or n.node_executable] = _param(node_settings(n), "use_sim_time")
    assert set(clocks.values()) == {expected}, clocks


def test_sim_refuses_wall_time_instead_of_ignoring_it():
    """The simulated graph runs on /clock; use_sim_time:=false used to reach robot_state_publisher only."""
    with pytest.raises(LaunchSetupError, match="use_sim_time:=false"):
        run_launch_file(LAUNCH / "sim.launch.py", {"use_sim_time": "false"})


def test_teleop_collect_refuses_wall_time_with_the_simulator():
    with pytest.raises(LaunchSetupError, match="nothing is recorded"):
        run_launch_file(LAUNCH / "teleop_collect.launch.py", {"use_sim_time": "false"})


# ---------------------------------------------------------------------------------------------- collection


def test_teleop_collect_offers_the_recorders_auto_mode():
    recorder = by_name(recorder_params.PARAMS)
    run = run_launch_file(LAUNCH / "teleop_collect.launch.py")
    for name in ("mode", "num_episodes"):  # defaults and choices are the node's own
        assert run.configurations[name] == str(recorder[name].default)
    assert run.arguments["mode"].choices == list(recorder["mode"].choices)
    run = run_launch_file(LAUNCH / "teleop_collect.launch.py", {"mode": "auto", "num_episodes": "20"})
    _, settings = _by_name(run)["episode_recorder_node"]
    assert _param(settings, "mode") == "auto"
    assert _param(settings, "num_episodes") == 20  # an integer parameter, not the string


@pytest.mark.parametrize(("args", "error"), [
    ({"num_episodes": "-1"}, "num_episodes"),
    ({"num_episodes": "many"}, "num_episodes"),
    ({"mode": "auto", "simulated": "false"}, "needs the simulator"),
])  # fmt: skip
def test_teleop_collect_refuses_bad_recorder_arguments(args, error):
    with pytest.raises(LaunchSetupError, match=error):
        run_launch_file(LAUNCH / "teleop_collect.launch.py", args)


def test_a_value_outside_the_choices_is_refused_by_launch():
    with pytest.raises(RuntimeError, match="not valid"):
        run_launch_file(LAUNCH / "teleop_collect.launch.py", {"mode": "automatic"})


# ---------------------------------------------------------------------------------------------- missing packages


@pytest.mark.parametrize(("launch_file", "args", "missing", "turn_off"), [
    ("sim.launch.py", {"rviz": "true"}, "rviz2", "rviz:=false"),
    ("sim.launch.py", {"rviz": "true"}, "robot_state_publisher", "robot_state_publisher:=false"),
    ("sim.launch.py", {}, "robot_state_publisher", "robot_state_publisher:=false"),
    ("robot.launch.py", {"rviz": "true"}, "rviz2", "rviz:=false"),
    ("robot.launch.py", {}, "robot_state_publisher", "robot_description:="),
    ("robot.launch.py", {"camera_driver": "realsense2_camera"}, "realsense2_camera", "camera_driver:=wam_ros"),
    ("robot.launch.py", {"start_ros2_control": "true"}, "controller_manager", "start_ros2_control:=false"),
    ("teleop_collect.launch.py", {"rviz": "true"}, "rviz2", "rviz:=false"),
    ("rviz.launch.py", {}, "rviz2", "rviz2"),
])  # fmt: skip
def test_a_missing_package_stops_the_launch_before_anything_starts(
    ament_prefix, launch_file, args, missing, turn_off
):
    ament_prefix.remove(missing)
    with pytest.raises(LaunchSetupError) as err:
        run_launch_file(LAUNCH / launch_file, args)  # the OpaqueFunction returns no action at all
    message = str(err.value)
    assert f"package '{missing}' not found" in message and turn_off in message and "nothing started" in message


@pytest.mark.parametrize(("launch_file", "args", "missing"), [
    ("sim.launch.py", {}, "rviz2"),
    ("sim.launch.py", {"robot_state_publisher": "false"}, "robot_state_publisher"),
    ("robot.launch.py", {"robot_description": "external"}, "robot_state_publisher"),
    ("robot.launch.py", {}, "realsense2_camera"),
    ("robot.launch.py", {}, "controller_manager"),
])  # fmt: skip
def test_a_package_that_is_turned_off_is_not_needed(ament_prefix, launch_file, args, missing):
    ament_prefix.remove(missing)
    run = run_launch_file(LAUNCH / launch_file, args)
    assert run.nodes and missing not in {n.node_package for n in run.nodes}


# ---------------------------------------------------------------------------------------------- API and config


def test_launch_files_use_only_jazzy_launch_api():
    """Every name imported from launch/launch_ros exists in Jazzy (list from its API docs)."""
    jazzy_api = {
        "launch": {"LaunchDescription", "LaunchContext"},
        "launch.actions": {"DeclareLaunchArgument", "OpaqueFunction", "IncludeLaunchDescription", "GroupAction",
                           "TimerAction", "RegisterEventHandler", "SetEnvironmentVariable"},
        "launch.substitutions": {"LaunchConfiguration", "PathJoinSubstitution", "PythonExpression",
                                 "TextSubstitution"},
        "launch.utilities": {"perform_substitutions"},
        "launch.conditions": {"IfCondition", "UnlessCondition"},
        "launch_ros.actions": {"Node", "PushRosNamespace", "SetParameter"},
        "launch_ros.substitutions": {"FindPackageShare"},
    }  # fmt: skip
    files = [*LAUNCH.glob("*.py"), REPO / "wam_ros" / "ros" / "launch_support.py", Path(launch_standin.__file__)]
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


# ---------------------------------------------------------------------------------------------- colcon test


def test_pytest_starts_beside_launch_testings_plugin(tmp_path):
    """On a ROS install launch_testing registers a pytest plugin whose pytest_pycollect_makemodule(path, ...)
    pytest 9 refuses at start-up (ros2/launch#979); pytest.ini must keep the suite runnable there."""
    site = tmp_path / "site"
    dist = site / "launch_testing-0.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: launch_testing\nVersion: 0.0\n")
    (dist / "entry_points.txt").write_text("[pytest11]\nlaunch_testing = fake_launch_testing_hooks\n")
    (site / "fake_launch_testing_hooks.py").write_text(
        textwrap.dedent(
            """
            def pytest_pycollect_makemodule(path, parent):  # launch_testing's hook, py.path argument and all
                return None
            """
        )
    )
    (tmp_path / "test_trivial.py").write_text("def test_trivial():\n    assert True\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}

    def pytest_run(*extra: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "pytest", "-q", "-c", str(REPO / "pytest.ini"), "--rootdir", str(tmp_path),
               "-p", "no:cacheprovider", *extra, str(tmp_path / "test_trivial.py")]  # fmt: skip
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)

    without = pytest_run("-o", "addopts=")  # the plugin is really picked up: this is the failure
    assert without.returncode != 0 and "PluginValidationError" in without.stdout + without.stderr
    res = pytest_run()
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "1 passed" in res.stdout
