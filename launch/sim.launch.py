"""Simulated arm (MuJoCo, ros2_control-compatible topics) + policy + smoother + safety bridge.

    ros2 launch wam_ros sim.launch.py policy:=expert rviz:=true

The same graph runs without the launch system: ``wam-graph sim`` / ``make demo``.
The whole graph (robot_state_publisher and RViz included) runs on simulation time: the
simulator publishes /clock and stamps every image and joint state with it.
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction

from launch import LaunchDescription
from wam_ros.apps.graph import sim_graph
from wam_ros.resources import share_path
from wam_ros.ros.launch_support import (
    POLICY_GRAPH_ARGUMENTS,
    LaunchSetupError,
    declare_arguments,
    flag,
    graph_actions,
    graph_use_sim_time,
    options_from_context,
    require_packages,
    robot_state_publisher,
    rviz_if_requested,
)

ARGS = POLICY_GRAPH_ARGUMENTS

#: Optional packages and the argument that does without each.
TURN_OFF = {"rviz2": "rviz:=false", "robot_state_publisher": "robot_state_publisher:=false"}


def _setup(context, *args, **kwargs):
    opts = options_from_context(context)
    ns = context.launch_configurations.get("namespace", "")
    specs = sim_graph(opts)
    use_sim_time = graph_use_sim_time(specs)  # one value for every process below
    if opts.use_sim_time != use_sim_time:
        raise LaunchSetupError(
            "sim.launch.py: use_sim_time:=false is not possible here: the simulated arm stamps images and "
            "joint states with simulation time (/clock), so the whole graph runs on it; leave use_sim_time at true"
        )
    actions = graph_actions(specs, ns)
    if flag(context, "robot_state_publisher"):
        actions.append(robot_state_publisher(str(share_path("urdf", "wam_arm.urdf")), use_sim_time, ns))
    actions += rviz_if_requested(context, use_sim_time)
    return require_packages(actions, TURN_OFF, "sim.launch.py")


def generate_launch_description():
    # In simulation the bridge drives the simulated controllers directly (output empty: the graph's,
    # jtc_topic), on sim time.
    return LaunchDescription(
        [
            *declare_arguments(ARGS, overrides={"use_sim_time": "true"}),
            DeclareLaunchArgument(
                "robot_state_publisher",
                default_value="true",
                description="start robot_state_publisher (TF and /robot_description, for RViz and Foxglove)",
                choices=["true", "false"],
            ),
            OpaqueFunction(function=_setup),
        ]
    )
