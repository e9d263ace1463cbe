"""Every default, range and choice list is typed once (issue 16), and each measured drift stays fixed.

The one source is ``wam_ros.params`` (one module per node; core dataclass fields with
``param(...)`` metadata where a core object owns the setting) plus ``GraphOptions``. Here:
every derived artefact (YAML, docs tables, launch arguments, CLI options, the nodes'
declarations, core validation) is compared with that source, and the package sources are
scanned for a second literal copy of a definition's default, range or choice list.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import math
from pathlib import Path

import pytest
import yaml

from wam_ros.apps.graph import GRAPHS, OPTIONS, GraphOptions, add_options, option_arg, options_from_args
from wam_ros.apps.param_docs import NODES, TABLES, stale_pages, tables_in
from wam_ros.params import Param, ParameterError, check_fields, params_of

REPO = Path(__file__).resolve().parent.parent
SOURCES = sorted([*REPO.glob("wam_ros/**/*.py"), *REPO.glob("launch/*.py"), *REPO.glob("bench/*.py")])


def node_params(node: str) -> list[Param]:
    return list(importlib.import_module(f"wam_ros.params.{node}").PARAMS)


def all_definitions() -> list[tuple[str, Param]]:
    """(owner, Param) for every node parameter, every camera setting and every graph option."""
    from wam_ros.params.camera_node import CAMERA_PARAMS

    out = [(n, p) for n in NODES for p in node_params(n)]
    out += [("camera_node.<name>", p) for p in CAMERA_PARAMS]
    out += [("GraphOptions", p) for p in OPTIONS.values()]
    return out


# ---------------------------------------------------------------------------------- the drifts of issue 16
def test_expert_policy_node_horizon_and_speed_are_the_scripted_experts():
    """Was: Param horizon 16 / speed 0.25, YAML and ScriptedExpert 24 / 0.15 (ros2 run != ros2 launch)."""
    from wam_ros.sim.scripted_expert import ScriptedExpert

    defaults = {p.name: p.default for p in node_params("expert_policy_node")}
    expert = ScriptedExpert.__init__.__defaults__  # horizon, period, speed, ...
    assert (defaults["horizon"], defaults["action_period"], defaults["speed"]) == expert[:3] == (24, 0.1, 0.15)
    yaml_values = _yaml_values("expert_policy_node")
    assert not {"horizon", "speed", "action_period"} & set(yaml_values), "the YAML must not repeat them"


def test_teleop_expert_speed_is_the_scripted_experts():
    """Was: teleop_node expert_speed 0.25 in code, 0.15 in YAML."""
    from wam_ros.sim.scripted_expert import DEFAULT_PERIOD, DEFAULT_SPEED

    defaults = {p.name: p.default for p in node_params("teleop_node")}
    assert (defaults["expert_speed"], defaults["expert_period"]) == (DEFAULT_SPEED, DEFAULT_PERIOD) == (0.15, 0.1)
    assert "expert_speed" not in _yaml_values("teleop_node")


def test_wam_node_action_horizon_is_the_bundled_models():
    """Was: 16 in code, 24 in YAML; remote/replay use it and wam-serve's default model has 24."""
    from wam_ros.tiny_wam import TinyWamConfig

    horizon = next(p.default for p in node_params("wam_node") if p.name == "action_horizon")
    bundled = json.loads((REPO / "checkpoints" / "tiny_wam" / "config.json").read_text())["action_horizon"]
    assert horizon == TinyWamConfig().action_horizon == bundled == 24
    assert "action_horizon" not in _yaml_values("wam_node")


def test_inference_scheduler_defaults_are_wam_nodes_trigger():
    """Was: InferenceScheduler's threshold 0.6, wam_node's trigger_threshold 0.8."""
    from wam_ros.control.inference_scheduler import InferenceScheduler

    wam = {p.name: p.default for p in node_params("wam_node")}
    s = InferenceScheduler()
    assert (s.mode, s.threshold, s.rate, s.min_interval) == (
        wam["trigger_mode"], wam["trigger_threshold"], wam["trigger_rate"], wam["min_interval"]) == (
        "threshold", 0.8, 2.0, 0.1)


def test_tiny_wam_defaults_are_wam_nodes_and_light():
    """TinyWamConfig's sizes and wam_node's parameters share one torch-free module."""
    import subprocess
    import sys

    from wam_ros.tiny_wam import TinyWamConfig

    wam = {p.name: p.default for p in node_params("wam_node")}
    cfg = TinyWamConfig()
    assert (wam["num_steps"], tuple(wam["image_size"]), wam["action_horizon"]) == (
        cfg.num_steps, cfg.image_size, cfg.action_horizon)
    code = "import sys, wam_ros.params.wam_node; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0, "params.wam_node imports torch"


def _bridge(graph: str, opts: GraphOptions) -> dict:
    return next(s.params for s in GRAPHS[graph](opts) if s.name == "safety_bridge_node")


def test_wam_graph_robot_starts_in_dry_run_like_the_launch_file():
    """Was: GraphOptions.output jtc_topic, robot.launch.py dry_run: `wam-graph robot` moved a real arm.

    Both now leave ``output`` empty (the launch argument's default is GraphOptions'), and the robot graph
    resolves it to dry_run; test_launch_files runs robot.launch.py and checks the bridge gets dry_run.
    """
    from launch_standin import install

    install()
    from wam_ros.ros.launch_support import COMMON_ARGUMENTS

    ap = argparse.ArgumentParser()
    add_options(ap, "output", "controller")
    assert _bridge("robot", options_from_args(ap.parse_args([])))["output"] == "dry_run"  # wam-graph robot
    assert COMMON_ARGUMENTS["output"][0] == GraphOptions().output == ""  # ros2 launch robot.launch.py
    robot_launch = (REPO / "launch" / "robot.launch.py").read_text()
    assert "output" not in robot_launch.split("declare_arguments(")[1].split(")")[0]  # no override there
    # the simulated graphs still drive the (simulated) trajectory controller by default
    for graph in ("sim", "teleop_collect"):
        assert _bridge(graph, GraphOptions())["output"] == "jtc_topic"
    assert _bridge("robot", GraphOptions(output="jtc_topic"))["output"] == "jtc_topic"


def test_output_forward_commands_the_forward_controller():
    """Was: GraphOptions.controller='arm_controller' always passed, so forward went to /arm_controller/commands."""
    from wam_ros.apps.graph import bridge_controller
    from wam_ros.params.safety_bridge_node import controller_for

    for graph in GRAPHS:
        params = _bridge(graph, GraphOptions(output="forward"))
        assert controller_for(params["output"], params["controller"]) == "forward_position_controller", graph
    assert bridge_controller(GraphOptions(output="forward"), "robot") == "forward_position_controller"
    assert bridge_controller(GraphOptions(output="forward", controller="mine"), "robot") == "mine"
    assert bridge_controller(GraphOptions(), "sim") == "arm_controller"
    # robot.launch.py spawns bridge_controller(opts, "robot"), the controller the bridge commands
    assert 'bridge_controller(opts, "robot")' in (REPO / "launch" / "robot.launch.py").read_text()


@pytest.mark.ros
def test_forward_output_publishes_on_forward_position_controller_commands(ros, tmp_path):
    """The graph's bridge (output forward, controller empty) sends to /forward_position_controller/commands."""
    from std_msgs.msg import Float64MultiArray
    from trajectory_msgs.msg import JointTrajectory

    from wam_ros.apps.graph_runner import GraphRunner
    from wam_ros.ros.stack_commander import StackCommander

    opts = GraphOptions(policy="expert", output="forward",
                        extra_params={"sim_robot_node": {"cameras_enabled": False}})
    forward = ros.collect(Float64MultiArray, "/forward_position_controller/commands", 50)
    jtc = ros.collect(JointTrajectory, "/arm_controller/joint_trajectory", 50)
    with GraphRunner(GRAPHS["sim"](opts), log_dir=tmp_path, echo=None) as runner:
        cmd = StackCommander("forward_test")
        try:
            assert cmd.wait_ready(90), f"graph not ready; dead: {runner.dead()}"
            assert cmd.wait_until(lambda: cmd.arm()[0], 30, period=0.5), "arming refused"
            assert cmd.wait_until(lambda: len(forward) > 20, 30), f"no forward commands; dead: {runner.dead()}"
            assert not jtc, "nothing may go to the trajectory controller with output=forward"
        finally:
            cmd.disarm()
            cmd.close()


def test_bench_remote_client_expects_the_servers_horizon():
    """Was: `make bench` died with 'action_horizon: server 24 vs ours 16' (ran green after the fix)."""
    tree = ast.parse((REPO / "bench" / "bench_remote.py").read_text())
    measure = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "measure")
    call = next(n for n in ast.walk(measure) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "RemotePolicy")
    horizon = next(k.value for k in call.keywords if k.arg == "action_horizon")
    assert isinstance(horizon, ast.Name) and horizon.id in {a.arg for a in measure.args.args}


# ---------------------------------------------------------------------------------- derived artefacts
def _yaml_values(node: str) -> dict:
    data = yaml.safe_load((REPO / "config" / f"{node}.yaml").read_text())["/**"]["ros__parameters"] or {}

    def flat(d: dict, prefix: str = "") -> dict:
        out = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out

    return flat(data)


@pytest.mark.parametrize("node", NODES)
def test_yaml_holds_only_declared_parameters_that_differ_from_their_default(node):
    from wam_ros.params.camera_node import camera_params

    values = _yaml_values(node)
    params = {p.name: p for p in node_params(node)}
    if node == "camera_node":
        for name in values.get("camera_names", []):
            params.update({p.name: p for p in camera_params(name)})
    for key, value in values.items():
        assert key in params, f"config/{node}.yaml: '{key}' is not a parameter of {node}"
        assert value != params[key].default, f"config/{node}.yaml: '{key}: {value}' repeats the default"
        params[key].check(value)


def test_docs_parameter_tables_are_current_and_every_node_has_one():
    assert stale_pages() == [], "run: python -m wam_ros.apps.param_docs"
    marked = [k for p in sorted((REPO / "docs").glob("*.md")) for k in tables_in(p.read_text())]
    assert set(marked) == set(TABLES), "every table is on some page"
    assert len(marked) == len(set(marked)), "each table on one page"


def test_nodes_declare_their_definitions_and_define_none():
    """The node files hold no Param(...) of their own: PARAMS is the definition module's list."""
    for node in NODES:
        text = (REPO / "wam_ros" / "nodes" / f"{node}.py").read_text()
        tree = ast.parse(text)
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "Param"]
        assert not calls, f"{node}.py defines parameters; move them to wam_ros/params/{node}.py"
        assert f"PARAMS = {node}_params.PARAMS" in text or f"{node}_params.PARAMS" in text, node
    for owner, p in all_definitions():
        if p.range is not None:
            assert p.range[0] <= p.range[1], (owner, p.name)
            p.check(p.default)  # every default lies in its own range
        if p.choices is not None:
            assert p.default in p.choices, (owner, p.name)


def test_launch_arguments_and_cli_options_are_the_graph_options():
    from launch_standin import install

    install()
    from wam_ros.ros.launch_support import ARGUMENT_CHOICES, COMMON_ARGUMENTS

    for name, p in OPTIONS.items():
        default, description = COMMON_ARGUMENTS[option_arg(name)]
        assert default == (str(p.default).lower() if isinstance(p.default, bool) else str(p.default))
        assert description.startswith(p.description)
        assert ARGUMENT_CHOICES.get(option_arg(name)) == (list(p.choices) if p.choices else None)
    # wam-graph / wam-eval / demo: every GraphOptions option they offer has the field's default and choices
    for module in ("graph_runner", "evaluation", "demo"):
        src = (REPO / "wam_ros" / "apps" / f"{module}.py").read_text()
        tree = ast.parse(src)
        for n in ast.walk(tree):
            if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "add_argument" and n.args:
                flag = getattr(n.args[0], "value", "")
                assert flag.lstrip("-").replace("-", "_") not in {*OPTIONS, "strategy"} or flag == "--policy", (
                    f"{module}.py declares {flag} itself; use add_options"
                )


def test_graph_options_defaults_are_the_node_definitions():
    from wam_ros.control.chunk_smoother import SmootherConfig

    wam = {p.name: p for p in node_params("wam_node")}
    g = GraphOptions()
    assert (g.checkpoint, g.server_url, g.policy) == (wam["checkpoint"].default, wam["remote_url"].default,
                                                     wam["backend"].default)
    assert g.smoother_strategy == SmootherConfig().strategy
    assert OPTIONS["policy"].choices == wam["backend"].choices
    assert (OPTIONS["extra_latency"].default, OPTIONS["extra_latency"].range) == (
        wam["extra_latency"].default, wam["extra_latency"].range)


def test_core_validation_uses_the_definitions():
    """SmootherConfig / CameraConfig validate from their field definitions: no range typed in validated()."""
    from wam_ros.camera.config import CameraConfig
    from wam_ros.control.chunk_smoother import SmootherConfig

    for cls, base in ((SmootherConfig, {}), (CameraConfig, {"name": "cam", "device": "0"})):
        for p in params_of(cls):
            if p.range is not None:
                bad = p.range[1] + (1 if isinstance(p.default, int) else 0.5)
                with pytest.raises(ValueError, match=p.name):
                    obj = cls(**{**base, p.name: bad})
                    if hasattr(obj, "validated"):
                        obj.validated()
    node = {p.name: p for p in node_params("chunk_smoother_node")}
    for p in params_of(SmootherConfig, exclude=("dt",)):
        assert node[p.name] == p  # the node's tuning parameters are the config's fields, unchanged
    with pytest.raises(ParameterError, match="strategy"):
        check_fields(SmootherConfig(strategy="magic"))


def test_node_defaults_come_from_the_core_objects_that_own_them():
    from wam_ros.dataset.recording import RecordingSession
    from wam_ros.safety.checks import SafetyConfig
    from wam_ros.safety.supervisor import SupervisorConfig

    bridge = {p.name: p.default for p in node_params("safety_bridge_node")}
    for f in ("position_margin", "prismatic_margin", "velocity_scale", "acceleration_scale", "velocity_reject_ratio",
              "max_tracking_error", "min_point_spacing", "stop_step", "max_command_age", "max_future"):
        assert bridge[f] == getattr(SafetyConfig(), f), f
    sup = SupervisorConfig()
    assert (bridge["command_timeout"], bridge["joint_state_timeout"], bridge["max_start_deviation"],
            bridge["output_rate"], bridge["deadman_timeout"]) == (
        sup.command_timeout, sup.joint_state_timeout, sup.max_start_deviation, sup.max_output_rate,
        sup.deadman_timeout)
    rec = {p.name: p.default for p in node_params("episode_recorder_node")}
    assert (rec["max_state_age"], rec["command_timeout"]) == (RecordingSession.max_state_age,
                                                              RecordingSession.command_timeout)


# ---------------------------------------------------------------------------------- literal copies in the sources
def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for n in ast.walk(tree):
        body = getattr(n, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            out.add(id(first.value))
    return out


def _literal(node: ast.AST) -> object:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError):
        return _NO


_NO = object()


def _default_sites() -> list[tuple[str, object, str]]:
    """(name, literal default, where) for every place a default is written in the sources, except the
    definitions themselves (``Param(...)`` in wam_ros/params, ``param(...)`` fields).

    Param("name", default, ...), dataclass fields ``name: T = default`` / ``= param(default, ...)``,
    function parameters ``name=default`` and argparse ``add_argument("--name", default=...)``.
    """
    sites = []
    for path in SOURCES:
        tree = ast.parse(path.read_text())
        where = str(path.relative_to(REPO))
        for n in ast.walk(tree):
            if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "Param" and len(n.args) >= 2:
                name = _literal(n.args[0])
                if isinstance(name, str) and not where.startswith("wam_ros/params/"):
                    sites.append((name, _literal(n.args[1]), f"{where}:{n.lineno}"))
            elif isinstance(n, ast.ClassDef):
                for st in n.body:
                    if isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name) and st.value is not None:
                        v = st.value
                        if isinstance(v, ast.Call) and getattr(v.func, "id", "") == "param":
                            continue  # a definition
                        sites.append((st.target.id, _literal(v), f"{where}:{st.lineno}"))
            elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = [*n.args.posonlyargs, *n.args.args]
                for a, d in zip(args[len(args) - len(n.args.defaults):], n.args.defaults):
                    sites.append((a.arg, _literal(d), f"{where}:{d.lineno}"))
                for a, d in zip(n.args.kwonlyargs, n.args.kw_defaults):
                    if d is not None:
                        sites.append((a.arg, _literal(d), f"{where}:{d.lineno}"))
            if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "add_argument" and n.args:
                flag = _literal(n.args[0])
                default = next((k.value for k in n.keywords if k.arg == "default"), None)
                if isinstance(flag, str) and flag.startswith("--") and default is not None:
                    sites.append((flag[2:].replace("-", "_"), _literal(default), f"{where}:{n.lineno}"))
    return [s for s in sites if s[1] is not _NO]


def _same(a: object, b: object) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return type(a) is type(b) and a == b


#: Second copies that remain in modules outside this change, each to be folded into its definition
#: (the core object's default becomes the definition, or takes it from there). Listed so that any NEW
#: copy fails; an entry that is no longer a copy fails too, so the list only shrinks.
KNOWN_COPIES: dict[str, str] = {}


def _referring_definitions() -> set[tuple[str, str]]:
    """(node, name) of the Param definitions whose default refers to a core object (not a literal)."""
    out = set()
    for path in (REPO / "wam_ros" / "params").glob("*.py"):
        for n in ast.walk(ast.parse(path.read_text())):
            if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "Param" and len(n.args) >= 2:
                if isinstance(_literal(n.args[0]), str) and _literal(n.args[1]) is _NO:
                    out.add((path.stem, _literal(n.args[0])))
    return out


def test_no_default_is_typed_twice():
    """Outside its definition, no literal default of the same name repeats a definition's default (a second
    place must refer to the first: a named constant, a core object's field). Topic and service names are
    the interface contract (ARCHITECTURE.md), shared by publisher and subscriber, and are not counted."""
    sites = _default_sites()
    referring = _referring_definitions()  # these may have one literal: the core object they take it from
    copies: dict[str, list[str]] = {}
    seen: set[tuple[str, str]] = set()
    for owner, p in all_definitions():
        if p.default in ("", None, False, True, 0, 0.0, [], 1, 1.0) or p.name.endswith(("_topic", "_service")):
            continue  # empty / zero / unit / off: "nothing set", not a value anyone tunes
        key = (p.name, repr(p.default))
        if key in seen:
            continue
        seen.add(key)
        hits = [w for name, value, w in sites if name == p.name and _same(value, p.default)]
        if len(hits) > (1 if (owner, p.name) in referring else 0):
            copies[f"{owner}.{p.name}"] = hits
    new = {k: v for k, v in copies.items() if k not in KNOWN_COPIES}
    assert not new, "\n".join(f"{k} = its default typed again at {v}" for k, v in new.items())
    fixed = sorted(set(KNOWN_COPIES) - set(copies))
    assert not fixed, f"no longer copies, remove from KNOWN_COPIES: {fixed}"


def test_no_choice_list_is_typed_twice():
    choice_sets = {frozenset(p.choices) for _, p in all_definitions() if p.choices and len(p.choices) > 1}
    found: dict[frozenset, list[str]] = {}
    for path in SOURCES:
        tree = ast.parse(path.read_text())
        for n in ast.walk(tree):
            if isinstance(n, (ast.Tuple, ast.List, ast.Set)) and len(n.elts) > 1:
                values = _literal(n)
                if isinstance(values, (tuple, list, set)) and all(isinstance(v, str) for v in values):
                    if frozenset(values) in choice_sets:
                        found.setdefault(frozenset(values), []).append(f"{path.relative_to(REPO)}:{n.lineno}")
    twice = {tuple(sorted(k)): v for k, v in found.items() if len(v) > 1}
    assert not twice, f"choice lists typed more than once: {twice}"


def test_no_range_is_typed_again_for_validation():
    """No ``("name", lo, hi)`` table (the old validated() pattern) repeats a definition's range."""
    ranges = {(p.name, p.range) for _, p in all_definitions() if p.range is not None}
    from wam_ros.camera.config import CameraConfig
    from wam_ros.control.chunk_smoother import SmootherConfig

    ranges |= {(p.name, p.range) for cls in (SmootherConfig, CameraConfig) for p in params_of(cls) if p.range}
    hits = []
    for path in SOURCES:
        tree = ast.parse(path.read_text())
        for n in ast.walk(tree):
            if isinstance(n, ast.Tuple) and len(n.elts) == 3:
                v = _literal(n)
                if isinstance(v, tuple) and isinstance(v[0], str) and (v[0], (v[1], v[2])) in ranges:
                    hits.append(f"{path.relative_to(REPO)}:{n.lineno} {v}")
    assert not hits, hits


def test_named_values_of_the_issue_are_typed_once():
    """'rtc_blend', the strategy list, the bundled checkpoint and the default server URL: one literal each."""
    counts = {"rtc_blend": [], "checkpoints/tiny_wam": [], "ws://127.0.0.1:8000": [], "ws://127.0.0.1:": []}
    for path in SOURCES:
        tree = ast.parse(path.read_text())
        docs = _docstrings(tree)
        for n in ast.walk(tree):
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs:
                for text in counts:
                    if n.value == text or (text.endswith(":") and n.value.startswith(text)):
                        counts[text].append(f"{path.relative_to(REPO)}:{n.lineno}")
    assert len(counts["rtc_blend"]) == 1, counts["rtc_blend"]
    assert len(counts["checkpoints/tiny_wam"]) == 1, counts["checkpoints/tiny_wam"]
    assert len(counts["ws://127.0.0.1:8000"]) + len(counts["ws://127.0.0.1:"]) == 1, counts
