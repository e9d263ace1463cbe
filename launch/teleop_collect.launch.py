"""Teleoperated data collection: teleop source -> safety bridge (deadman) -> arm, plus recorder.

ros2 launch wam_ros teleop_collect.launch.py                       # simulated arm, scripted teleoperator
ros2 launch wam_ros teleop_collect.launch.py simulated:=false teleop_source:=leader_arm output:=jtc_topic
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction

from launch import LaunchDescription
from wam_ros.apps.graph import teleop_collect_graph
from wam_ros.ros.launch_support import declare_arguments, flag, graph_actions, options_from_context, rviz_if_requested

ARGS = ["namespace", "use_sim_time", "output", "controller", "rviz"]


def _setup(context, *args, **kwargs):
    cfg = context.launch_configurations
    opts = options_from_context(context, teleop_source=cfg["teleop_source"], dataset_dir=cfg["dataset_dir"])
    actions = graph_actions(teleop_collect_graph(opts, simulated=flag(context, "simulated")), cfg.get("namespace", ""))
    actions += rviz_if_requested(context, opts.use_sim_time)
    return actions


def generate_launch_description():
    return LaunchDescription(
        [
            *declare_arguments(ARGS, overrides={"output": "jtc_topic"}),
            DeclareLaunchArgument("simulated", default_value="true", description="use the MuJoCo arm"),
            DeclareLaunchArgument(
                "teleop_source", default_value="expert", description="expert (sim only) | leader_arm | joy"
            ),
            DeclareLaunchArgument(
                "dataset_dir",
                default_value="data/wam_demos",
                description="LeRobot v3 dataset directory to append episodes to",
            ),
            OpaqueFunction(function=_setup),
        ]
    )
