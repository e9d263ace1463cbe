"""Simulated arm (MuJoCo, ros2_control-compatible topics) + policy + smoother + safety bridge.

    ros2 launch wam_ros sim.launch.py policy:=expert rviz:=true

The same graph runs without the launch system: ``wam-graph sim`` / ``make demo``.
"""

from launch.actions import OpaqueFunction

from launch import LaunchDescription
from wam_ros.apps.graph import sim_graph
from wam_ros.resources import share_path
from wam_ros.ros.launch_support import (
    POLICY_GRAPH_ARGUMENTS,
    declare_arguments,
    graph_actions,
    options_from_context,
    robot_state_publisher,
    rviz_if_requested,
)

ARGS = POLICY_GRAPH_ARGUMENTS


def _setup(context, *args, **kwargs):
    opts = options_from_context(context)
    ns = context.launch_configurations.get("namespace", "")
    actions = graph_actions(sim_graph(opts), ns)
    actions.append(robot_state_publisher(str(share_path("urdf", "wam_arm.urdf")), opts.use_sim_time, ns))
    actions += rviz_if_requested(context, opts.use_sim_time)
    return actions


def generate_launch_description():
    # In simulation the bridge drives the simulated controllers directly, on sim time.
    return LaunchDescription(
        [
            *declare_arguments(ARGS, overrides={"output": "jtc_topic", "use_sim_time": "true"}),
            OpaqueFunction(function=_setup),
        ]
    )
