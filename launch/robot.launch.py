"""A real arm: cameras, robot_state_publisher, WAM policy, chunk smoother, safety bridge.

    ros2 launch wam_ros robot.launch.py output:=dry_run rviz:=true
    ros2 launch wam_ros robot.launch.py camera_driver:=realsense2_camera
    ros2 launch wam_ros robot.launch.py start_ros2_control:=true   # mock hardware from the URDF

ros2_control is either the robot's own driver (UR, Franka, ... bring their own
controller_manager: leave start_ros2_control false and point `controller` at its
trajectory controller) or started here from the URDF's <ros2_control> block.
The safety bridge starts in dry_run: nothing reaches the arm until you ask for it.
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction

from launch import LaunchDescription
from wam_ros.apps.graph import bridge_controller, robot_graph
from wam_ros.resources import resolve, share_path
from wam_ros.ros.launch_support import (
    POLICY_GRAPH_ARGUMENTS,
    declare_arguments,
    flag,
    graph_actions,
    graph_use_sim_time,
    options_from_context,
    require_packages,
    robot_state_publisher,
    ros_node,
    rviz_if_requested,
)

ARGS = [*POLICY_GRAPH_ARGUMENTS, "cameras_config"]

#: Optional packages and the argument that does without each.
TURN_OFF = {
    "rviz2": "rviz:=false",
    "robot_state_publisher": "robot_description:=external (when the robot's driver publishes /robot_description)",
    "realsense2_camera": "camera_driver:=wam_ros",
    "controller_manager": "start_ros2_control:=false",
}


def _setup(context, *args, **kwargs):
    cfg = context.launch_configurations
    opts = options_from_context(context)
    ns = cfg.get("namespace", "")
    specs = robot_graph(opts)
    if cfg["camera_driver"] == "realsense2_camera":
        specs = [s for s in specs if s.executable != "camera_node"]
    use_sim_time = graph_use_sim_time(specs)  # one value for every process below
    actions = graph_actions(specs, ns)
    if cfg["camera_driver"] == "realsense2_camera":
        # realsense-ros publishes the same topic names (/camera/<name>/color/image_raw ...).
        actions.append(
            ros_node(
                package="realsense2_camera",
                executable="realsense2_camera_node",
                namespace="camera",
                name=cfg["realsense_camera_name"],
                parameters=[{"align_depth.enable": True, "use_sim_time": use_sim_time}],
                output="screen",
            )
        )
    if cfg["robot_description"] == "":
        actions.append(robot_state_publisher(str(resolve(cfg["urdf"])), use_sim_time, ns))
    if flag(context, "start_ros2_control"):
        controllers = str(share_path("config", "ros2_controllers.yaml"))
        actions.append(
            ros_node(
                package="controller_manager",
                executable="ros2_control_node",
                parameters=[controllers, {"use_sim_time": use_sim_time}],
                remappings=[("~/robot_description", "/robot_description")],
                output="screen",
            )
        )
        for controller in ("joint_state_broadcaster", bridge_controller(opts, "robot")):
            actions.append(
                ros_node(
                    package="controller_manager",
                    executable="spawner",
                    arguments=[controller, "--controller-manager", "/controller_manager"],
                    output="screen",
                )
            )
    actions += rviz_if_requested(context, use_sim_time)
    return require_packages(actions, TURN_OFF, "robot.launch.py")


def generate_launch_description():
    return LaunchDescription(
        [
            *declare_arguments(ARGS),
            DeclareLaunchArgument(
                "urdf",
                default_value="urdf/wam_arm.urdf",
                description="robot URDF (path, or relative to the package share dir)",
            ),
            DeclareLaunchArgument(
                "robot_description",
                default_value="",
                description="non-empty: the robot's driver already publishes /robot_description",
            ),
            DeclareLaunchArgument(
                "camera_driver", default_value="wam_ros", description="wam_ros (camera_node) | realsense2_camera"
            ),
            DeclareLaunchArgument(
                "realsense_camera_name",
                default_value="scene",
                description="camera name for realsense2_camera (topics /camera/<name>/...)",
            ),
            DeclareLaunchArgument(
                "start_ros2_control",
                default_value="false",
                description="start controller_manager from the URDF's <ros2_control> block",
            ),
            OpaqueFunction(function=_setup),
        ]
    )
