"""Robot description parameters, shared by every node that needs joints or kinematics.

``robot_description`` (URDF XML, as robot_state_publisher takes it) wins; otherwise
``urdf_path`` (default: the bundled arm). ``joint_limits_path`` adds acceleration and
jerk limits (MoveIt layout). Loaded by ``wam_ros.ros.robot_description.load_robot_model``.
"""

from __future__ import annotations

from wam_ros.params import Param
from wam_ros.robot.model import DEFAULT_EE_LINK, DEFAULT_JOINT_LIMITS, DEFAULT_URDF

ROBOT_PARAMS = [
    Param("robot_description", "", "URDF XML of the robot; empty: load urdf_path"),
    Param("urdf_path", DEFAULT_URDF, "URDF file (absolute, or relative to the package share dir)"),
    Param("joint_limits_path", DEFAULT_JOINT_LIMITS, "MoveIt-style joint_limits.yaml with acceleration/jerk limits"),
    Param("ee_link", DEFAULT_EE_LINK, "end-effector link for kinematics and the Cartesian checks"),
]
