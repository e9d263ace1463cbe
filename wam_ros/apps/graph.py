"""The node graphs of wam_ros, described once.

Both the ROS 2 launch files (``launch/*.launch.py``) and the plain-process runner
(``wam-graph``, used by ``make demo`` where the launch system is not installed) build
their processes from these descriptions, so the two cannot drift. ROS-free: a graph
is a list of ``NodeSpec`` values; parameters come from ``config/*.yaml`` and only the
few values a graph must decide (output mode, backend, checkpoint) are set here, from
``GraphOptions``, whose fields define the launch arguments and command-line options.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from wam_ros.params import Param, ParameterError, by_name, field_meta, param, params_of
from wam_ros.params import chunk_smoother_node as chunk_smoother_node_params
from wam_ros.params import teleop_node as teleop_node_params
from wam_ros.params import wam_node as wam_node_params
from wam_ros.params.safety_bridge_node import DEFAULT_CONTROLLER, OUTPUTS, controller_for

PACKAGE = "wam_ros"


@dataclass(frozen=True)
class NodeSpec:
    """One process of a graph, as launch_ros.actions.Node would describe it."""

    name: str
    executable: str
    package: str = PACKAGE
    params_files: tuple[str, ...] = ()  # relative to the package share dir
    params: dict[str, Any] = field(default_factory=dict)  # overrides, after the files
    remaps: tuple[tuple[str, str], ...] = ()
    arguments: tuple[str, ...] = ()

    @property
    def module(self) -> str | None:
        """Python module of a wam_ros node (None for other packages' nodes)."""
        return f"wam_ros.nodes.{self.executable}" if self.package == PACKAGE else None


_WAM = by_name(wam_node_params.PARAMS)
_SMOOTHER = by_name(chunk_smoother_node_params.PARAMS)
_TELEOP = by_name(teleop_node_params.PARAMS)

#: The safety bridge output of each graph when ``GraphOptions.output`` is empty: the simulated arm
#: and teleoperation drive the trajectory controller; a real arm starts in dry_run (nothing moves
#: until asked for).
GRAPH_OUTPUT = {"sim": "jtc_topic", "robot": "dry_run", "teleop_collect": "jtc_topic"}


def _from(p: Param, description: str | None = None, **extra: Any) -> Any:
    """A GraphOptions field whose default, range and choices are those of node parameter ``p``."""
    return param(p.default, description or p.description, range=p.range, choices=p.choices, **extra)


@dataclass(frozen=True)
class GraphOptions:
    """The choices a user makes when bringing up a graph.

    Each field carries its definition (``param``): the launch arguments
    (``wam_ros.ros.launch_support.COMMON_ARGUMENTS``) and the ``wam-graph`` / ``wam-eval`` /
    demo options (``add_options``) are built from it; ``arg`` is the argument's name where it
    differs from the field's. Defaults come from the nodes' parameter definitions.
    """

    use_sim_time: bool = param(False, "use /clock (simulation or bag replay)")
    policy: str = _from(_WAM["backend"], "policy backend (wam_node; expert: the scripted expert_policy_node)")
    checkpoint: str = _from(_WAM["checkpoint"], "tiny_wam checkpoint directory (relative to the package share dir)")
    server_url: str = _from(_WAM["remote_url"], "policy server for policy remote (wam-serve, openpi servers)")
    server_profile: str = _from(_WAM["server_profile"])
    output: str = param(
        "",
        "safety bridge output; empty: the graph's default ("
        + ", ".join(f"{g}: {o}" for g, o in GRAPH_OUTPUT.items()) + ")",
        choices=("", *OUTPUTS),
    )
    controller: str = param(
        "", "ros2_control controller the safety bridge commands; empty: the output's default ("
        + ", ".join(f"{o}: {c}" for o, c in DEFAULT_CONTROLLER.items()) + ")"
    )
    smoother_strategy: str = _from(_SMOOTHER["strategy"], "chunk smoother strategy", arg="strategy")
    extra_latency: float = _from(_WAM["extra_latency"], "injected inference latency [s] (policy node)")
    cameras_config: str = param("config/camera_node.yaml", "camera_node parameter file (real cameras)")
    teleop_source: str = param("expert", "who drives the arm in teleop_collect (expert: sim only)",
                               choices=_TELEOP["source"].choices)
    dataset_dir: str = param("data/wam_demos", "LeRobot v3 dataset directory to append episodes to")
    extra_params: dict[str, dict[str, Any]] = field(default_factory=dict)  # node name -> overrides


#: GraphOptions field -> its definition (launch argument / command-line option).
OPTIONS: dict[str, Param] = {p.name: p for p in params_of(GraphOptions)}


def option_arg(name: str) -> str:
    """The launch argument (and, with dashes, command-line option) name of GraphOptions field ``name``."""
    return field_meta(GraphOptions, name).get("arg", name)


def add_options(ap: argparse.ArgumentParser, *names: str) -> None:
    """Add ``--<arg>`` options for GraphOptions fields ``names``, with their defaults, choices and help."""
    for name in names:
        p = OPTIONS[name]
        flag = "--" + option_arg(name).replace("_", "-")
        if isinstance(p.default, bool):
            ap.add_argument(flag, dest=name, action="store_true", help=p.description)
        else:
            ap.add_argument(flag, dest=name, type=_checked(p), default=p.default, choices=p.choices,
                            help=p.description + (f" {p.constraint}" if p.range else ""))


def _checked(p: Param) -> Callable[[str], Any]:
    """argparse type: the default's type, refused (with the reason) outside the range."""

    def convert(text: str) -> Any:
        value = type(p.default)(text)
        try:
            p.check(value)
        except ParameterError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value

    convert.__name__ = type(p.default).__name__  # argparse names the type in its error
    return convert


def options_from_args(args: argparse.Namespace, **fixed: Any) -> GraphOptions:
    """GraphOptions from the options ``add_options`` added (plus ``fixed`` values); ValueError if out of range."""
    values = {n: getattr(args, n) for n in OPTIONS if hasattr(args, n)}
    values.update(fixed)
    for n, v in values.items():
        if n in OPTIONS:
            OPTIONS[n].check(v)
    return GraphOptions(**values)


def bridge_output(opts: GraphOptions, graph: str) -> str:
    """The safety bridge output of ``graph``: ``opts.output``, or the graph's default."""
    return opts.output or GRAPH_OUTPUT[graph]


def bridge_controller(opts: GraphOptions, graph: str) -> str:
    """The controller the safety bridge of ``graph`` commands (the output's default when empty)."""
    return controller_for(bridge_output(opts, graph), opts.controller)


def _node(name: str, opts: GraphOptions, params: dict[str, Any] | None = None, **kw: Any) -> NodeSpec:
    merged = {"use_sim_time": opts.use_sim_time, **(params or {}), **opts.extra_params.get(name, {})}
    return NodeSpec(
        name=name, executable=kw.pop("executable", name), params_files=(f"config/{name}.yaml",), params=merged, **kw
    )


def policy_nodes(opts: GraphOptions) -> list[NodeSpec]:
    """The policy (WAM or the scripted expert) and the chunk smoother."""
    if opts.policy == "expert":
        policy = _node("expert_policy_node", opts, {"extra_latency": opts.extra_latency})
    else:
        policy = _node(
            "wam_node",
            opts,
            {
                "backend": opts.policy,
                "checkpoint": opts.checkpoint,
                "remote_url": opts.server_url,
                "server_profile": opts.server_profile,
                "extra_latency": opts.extra_latency,
                # start the next inference early enough that its chunk lands before this one runs out
                "trigger_threshold": max(_WAM["trigger_threshold"].default, opts.extra_latency + 0.5),
            },
        )
    smoother = _node("chunk_smoother_node", opts, {"strategy": opts.smoother_strategy})
    return [policy, smoother]


def safety_bridge(opts: GraphOptions, graph: str) -> NodeSpec:
    """The safety bridge of ``graph`` (empty controller: the node picks the output's default)."""
    return _node("safety_bridge_node", opts, {"output": bridge_output(opts, graph), "controller": opts.controller})


def sim_arm(opts: GraphOptions) -> NodeSpec:
    return _node("sim_robot_node", opts, {"publish_clock": True})


def sim_graph(opts: GraphOptions) -> list[NodeSpec]:
    """Simulated arm + cameras, policy, smoother, safety bridge: `make demo`.

    Always on simulation time: the sim stamps images and joint states with /clock, and
    latency is computed from those stamps.
    """
    opts = replace(opts, use_sim_time=True)
    return [sim_arm(opts), *policy_nodes(opts), safety_bridge(opts, "sim")]


def robot_graph(opts: GraphOptions) -> list[NodeSpec]:
    """A real arm: our cameras, policy, smoother, safety bridge (ros2_control is the robot's)."""
    cameras = NodeSpec(
        "camera_node",
        "camera_node",
        params_files=(opts.cameras_config,),
        params={"use_sim_time": opts.use_sim_time, **opts.extra_params.get("camera_node", {})},
    )
    return [cameras, *policy_nodes(opts), safety_bridge(opts, "robot")]


def teleop_collect_graph(opts: GraphOptions, simulated: bool = True) -> list[NodeSpec]:
    """Teleoperation through the safety bridge, with the episode recorder."""
    nodes = (
        [sim_arm(opts)]
        if simulated
        else [
            NodeSpec(
                "camera_node",
                "camera_node",
                params_files=(opts.cameras_config,),
                params={"use_sim_time": opts.use_sim_time},
            )
        ]
    )
    nodes.append(_node("teleop_node", opts, {"source": opts.teleop_source}))
    nodes.append(safety_bridge(opts, "teleop_collect"))
    nodes.append(_node("episode_recorder_node", opts, {"dataset_root": opts.dataset_dir}))
    return nodes


GRAPHS: dict[str, Callable[[GraphOptions], list[NodeSpec]]] = {
    "sim": sim_graph,
    "robot": robot_graph,
    "teleop_collect": teleop_collect_graph,
}
