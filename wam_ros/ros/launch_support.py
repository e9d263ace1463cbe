"""Turn ``wam_ros.apps.graph`` descriptions into launch_ros actions (used by launch/*.py).

Launch files declare their arguments and call ``graph_actions`` from an
OpaqueFunction, so the processes they start are exactly the ones the plain-process
runner starts. Written against launch/launch_ros APIs present in Jazzy and newer.
"""

from __future__ import annotations

import os
import weakref
from typing import Any

from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from wam_ros.apps.graph import OPTIONS, PACKAGE, GraphOptions, NodeSpec, option_arg
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
    "namespace", "use_sim_time", "policy", "checkpoint", "server_url", "server_profile", "output", "controller",
    "strategy", "rviz",
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


#: What each Node action was given (launch_ros exposes a Node's parameters only once it has
#: been executed, i.e. its process started): read back with ``node_settings``.
_SETTINGS: weakref.WeakKeyDictionary[Node, dict[str, Any]] = weakref.WeakKeyDictionary()


def ros_node(**kwargs: Any) -> Node:
    """``launch_ros.actions.Node(**kwargs)``, remembering what it was given (``node_settings``)."""
    node = Node(**kwargs)
    _SETTINGS[node] = dict(kwargs)
    return node


def node_settings(node: Node) -> dict[str, Any]:
    """The keyword arguments a Node made by ``ros_node`` was given (name, namespace, parameters, ...)."""
    return _SETTINGS[node]


def node_action(spec: NodeSpec, namespace: str = "") -> Node:
    """launch_ros Node for one NodeSpec (parameter files resolved in share/wam_ros)."""
    params: list[Any] = [str(share_path(f)) for f in spec.params_files]
    if spec.params:
        params.append(dict(spec.params))
    return ros_node(
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


def graph_use_sim_time(specs: list[NodeSpec]) -> bool:
    """The one ``use_sim_time`` of a graph; the nodes outside it (robot_state_publisher, RViz, drivers) take it too."""
    values = {bool(s.params.get("use_sim_time", False)) for s in specs}
    if len(values) != 1:
        mixed = sorted((s.name, s.params.get("use_sim_time")) for s in specs)
        raise LaunchSetupError(f"the graph mixes use_sim_time values: {mixed}")
    return values.pop()


class LaunchSetupError(RuntimeError):
    """A launch file cannot start its graph as asked; raised before any process is started."""


def package_installed(package: str) -> bool:
    """True when ``package`` is in the ament index (what ``ros2 run`` / launch_ros look it up in)."""
    try:
        get_package_share_directory(package)
    except (PackageNotFoundError, LookupError, ValueError, OSError):  # OSError: AMENT_PREFIX_PATH unset
        return False
    return True


def require_packages(actions: list[Any], turn_off: dict[str, str], launch_file: str) -> list[Any]:
    """Return ``actions`` if every package their Nodes run is installed; otherwise raise, naming each
    missing package and the launch argument that does without it (``turn_off``: package -> ``arg:=value``).

    Called by the launch files before they return any action: launch_ros looks an executable up only
    when it starts it, so a missing package used to fail after the other nodes were running, and
    they were left running without a parent.
    """
    distro = os.environ.get("ROS_DISTRO", "<distro>")
    missing = []
    for package in dict.fromkeys(a.node_package for a in actions if isinstance(a, Node)):
        if package in (PACKAGE, None) or package_installed(package):
            continue
        hint = f"launch with {turn_off[package]}" if package in turn_off else "it is required by this launch file"
        missing.append(f"package '{package}' not found (install ros-{distro}-{package.replace('_', '-')}, or {hint})")
    if missing:
        raise LaunchSetupError(f"{launch_file}: nothing started: " + "; ".join(missing))
    return actions


def robot_state_publisher(urdf_path: str, use_sim_time: bool, namespace: str = "") -> Node:
    with open(urdf_path) as f:
        description = f.read()
    return ros_node(
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
    return ros_node(
        package="rviz2",
        executable="rviz2",
        arguments=["-d", str(share_path("config", "wam.rviz"))],
        parameters=[{"use_sim_time": use_sim_time}],
        output="screen",
    )


def launch_config(name: str) -> LaunchConfiguration:
    return LaunchConfiguration(name)
