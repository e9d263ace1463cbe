"""RViz with config/wam.rviz: robot model, cameras, safety state, predicted futures and path.

ros2 launch wam_ros rviz.launch.py
"""

from launch.actions import OpaqueFunction

from launch import LaunchDescription
from wam_ros.ros.launch_support import declare_arguments, flag, require_packages, rviz


def _setup(context, *args, **kwargs):
    return require_packages([rviz(flag(context, "use_sim_time"))], {}, "rviz.launch.py")


def generate_launch_description():
    return LaunchDescription([*declare_arguments(["use_sim_time"]), OpaqueFunction(function=_setup)])
