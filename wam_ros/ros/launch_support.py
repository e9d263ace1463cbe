"""Turn ``wam_ros.apps.graph`` descriptions into launch_ros actions (used by launch/*.py).

Launch files declare their arguments and call ``graph_actions`` from an
OpaqueFunction, so the processes they start are exactly the ones the plain-process
runner starts. Written against launch/launch_ros APIs present in Jazzy and newer.
"""

from __future__ import annotations

from typing import Any

from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from wam_ros.apps.graph import OPTIONS, GraphOptions, NodeSpec, option_arg
from wam_ros.params import Param
from wam_ros.resources import share_path


def _launch_default(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _launch_description(p: Param) -> str:
    if not p.choices:
        return p.description
    return f"{p.description}: " + " | ".join(c or "''" for c in p.choices)


#: Launch arguments shared by the graphs: name -> (default, description); every GraphOptions
#: field's comes from its definition (wam_ros.apps.graph), so launch and wam-graph cannot drift.
COMMON_ARGUMENTS: dict[str, tuple[str, str]] = {
    "namespace": ("", "namespace for every wam_ros node"),
    **{
        option_arg(name): (_launch_default(p.default), _launch_description(p))
        for name, p in OPTIONS.items()
    },
    "rviz": ("false", "start RViz with config/wam.rviz"),
}

#: The allowed values of the arguments that have a choice list (the launch system refuses others).
ARGUMENT_CHOICES: dict[str, list[str]] = {
    option_arg(name): list(p.choices) for name, p in OPTIONS.items() if p.choices is not None
}


#: The arguments of the graphs that run a policy (sim.launch.py, robot.launch.py).
POLICY_GRAPH_ARGUMENTS = [
    "namespace", "use_sim_time", "policy", "checkpoint", "server_url", "output", "controller", "strategy", "rviz",
]  # fmt: skip


def flag(context: Any, name: str) -> bool:
    """A boolean launch argument ("true"/"false", any case; missing = false)."""
    return context.launch_configurations.get(name, "false").lower() == "true"


def declare_arguments(names: list[str], overrides: dict[str, str] | None = None) -> list[DeclareLaunchArgument]:
    """DeclareLaunchArgument for each of ``names`` (COMMON_ARGUMENTS), ``overrides`` replacing defaults."""
    overrides = overrides or {}
    out = []
    for n in names:
        kw: dict[str, Any] = {"choices": ARGUMENT_CHOICES[n]} if n in ARGUMENT_CHOICES else {}
        out.append(
            DeclareLaunchArgument(
                n, default_value=overrides.get(n, COMMON_ARGUMENTS[n][0]), description=COMMON_ARGUMENTS[n][1], **kw
            )
        )
    return out


def options_from_context(context: Any, **fixed: Any) -> GraphOptions:
    """GraphOptions from the launch arguments that were declared (the others keep their defaults)."""
    values: dict[str, Any] = {}
    for name, p in OPTIONS.items():
        arg = option_arg(name)
        if arg not in context.launch_configurations:
            continue
        if isinstance(p.default, bool):
            values[name] = flag(context, arg)
        else:
            values[name] = type(p.default)(context.launch_configurations[arg])
            p.check(values[name])
    return GraphOptions(**{**values, **fixed})


def node_action(spec: NodeSpec, namespace: str = "") -> Node:
    """launch_ros Node for one NodeSpec (parameter files resolved in share/wam_ros)."""
    params: list[Any] = [str(share_path(f)) for f in spec.params_files]
    if spec.params:
        params.append(dict(spec.params))
    return Node(
        package=spec.package,
        executable=spec.executable,
        name=spec.name,
        namespace=namespace,
        parameters=params,
        remappings=list(spec.remaps),
        arguments=list(spec.arguments),
        output="screen",
        emulate_tty=True,
    )


def graph_actions(specs: list[NodeSpec], namespace: str = "") -> list[Node]:
    return [node_action(s, namespace) for s in specs]


def robot_state_publisher(urdf_path: str, use_sim_time: bool, namespace: str = "") -> Node:
    with open(urdf_path) as f:
        description = f.read()
    return Node(
        package="robot_state_publisher",
        executable="robot_state_publisher",
        namespace=namespace,
        parameters=[{"robot_description": description, "use_sim_time": use_sim_time}],
        output="screen",
    )


def rviz_if_requested(context: Any, use_sim_time: bool) -> list[Node]:
    """RViz with config/wam.rviz when the ``rviz`` argument is true."""
    return [rviz(use_sim_time)] if flag(context, "rviz") else []


def rviz(use_sim_time: bool) -> Node:
    return Node(
        package="rviz2",
        executable="rviz2",
        arguments=["-d", str(share_path("config", "wam.rviz"))],
        parameters=[{"use_sim_time": use_sim_time}],
        output="screen",
    )


def launch_config(name: str) -> LaunchConfiguration:
    return LaunchConfiguration(name)
