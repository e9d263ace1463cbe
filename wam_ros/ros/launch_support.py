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

from wam_ros.apps.graph import GraphOptions, NodeSpec
from wam_ros.resources import share_path

#: Launch arguments shared by the graphs: name -> (default, description).
COMMON_ARGUMENTS: dict[str, tuple[str, str]] = {
    "namespace": ("", "namespace for every wam_ros node"),
    "use_sim_time": ("false", "use /clock (simulation or bag replay)"),
    "policy": ("tiny_wam", "policy backend: tiny_wam | remote | replay | expert"),
    "checkpoint": ("checkpoints/tiny_wam", "tiny_wam checkpoint directory (relative to the package share dir)"),
    "server_url": ("ws://127.0.0.1:8000", "policy server for policy:=remote (wam-serve, openpi servers)"),
    "output": ("dry_run", "safety bridge output: dry_run | jtc_topic | jtc_action | forward"),
    "controller": ("arm_controller", "ros2_control controller the safety bridge commands"),
    "strategy": ("rtc_blend", "chunk smoother strategy: latest | temporal_ensemble | rtc_blend"),
    "rviz": ("false", "start RViz with config/wam.rviz"),
}


#: The arguments of the graphs that run a policy (sim.launch.py, robot.launch.py).
POLICY_GRAPH_ARGUMENTS = [
    "namespace", "use_sim_time", "policy", "checkpoint", "server_url", "output", "controller", "strategy", "rviz",
]  # fmt: skip


def flag(context: Any, name: str) -> bool:
    """A boolean launch argument ("true"/"false", any case; missing = false)."""
    return context.launch_configurations.get(name, "false").lower() == "true"


def declare_arguments(names: list[str], overrides: dict[str, str] | None = None) -> list[DeclareLaunchArgument]:
    overrides = overrides or {}
    return [
        DeclareLaunchArgument(
            n, default_value=overrides.get(n, COMMON_ARGUMENTS[n][0]), description=COMMON_ARGUMENTS[n][1]
        )
        for n in names
    ]


def options_from_context(context: Any, **fixed: Any) -> GraphOptions:
    """GraphOptions from the launch arguments that were declared."""

    def arg(name: str, default: str) -> str:
        return context.launch_configurations.get(name, default)

    return GraphOptions(
        use_sim_time=flag(context, "use_sim_time"),
        policy=arg("policy", GraphOptions.policy),
        checkpoint=arg("checkpoint", GraphOptions.checkpoint),
        server_url=arg("server_url", GraphOptions.server_url),
        output=arg("output", GraphOptions.output),
        controller=arg("controller", GraphOptions.controller),
        smoother_strategy=arg("strategy", GraphOptions.smoother_strategy),
        **fixed,
    )


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
