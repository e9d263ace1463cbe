"""RViz with the robot model, camera image, predicted-future filmstrip and end-effector path.

ros2 launch wam_ros rviz.launch.py
"""

from launch.actions import OpaqueFunction

from launch import LaunchDescription
from wam_ros.ros.launch_support import declare_arguments, flag, rviz


def _setup(context, *args, **kwargs):
    return [rviz(flag(context, "use_sim_time"))]


def generate_launch_description():
    return LaunchDescription([*declare_arguments(["use_sim_time"]), OpaqueFunction(function=_setup)])
