"""Robot description parameters shared by every node that needs joints or kinematics.

``robot_description`` (URDF XML, as robot_state_publisher takes it) wins; otherwise
``urdf_path`` (default: the bundled arm). ``joint_limits_path`` adds acceleration and
jerk limits (MoveIt layout).
"""

from __future__ import annotations

from typing import Any

from wam_ros.resources import resolve
from wam_ros.robot.model import DEFAULT_JOINT_LIMITS, DEFAULT_URDF, RobotModel, RobotModelError
from wam_ros.ros.parameters import Param, ParameterError

ROBOT_PARAMS = [
    Param("robot_description", "", "URDF XML of the robot; empty: load urdf_path"),
    Param("urdf_path", DEFAULT_URDF, "URDF file (absolute, or relative to the package share dir)"),
    Param("joint_limits_path", DEFAULT_JOINT_LIMITS, "MoveIt-style joint_limits.yaml with acceleration/jerk limits"),
    Param("ee_link", "tool0", "end-effector link for kinematics and the Cartesian checks"),
]


def load_robot_model(values: dict[str, Any]) -> RobotModel:
    """Build the RobotModel from declared ROBOT_PARAMS values; ParameterError names the bad one."""
    limits = resolve(values["joint_limits_path"]) if values["joint_limits_path"] else None
    try:
        if values["robot_description"]:
            return RobotModel.from_urdf_string(values["robot_description"], limits, values["ee_link"])
        return RobotModel.load(resolve(values["urdf_path"]), limits, values["ee_link"])
    except RobotModelError as exc:
        raise ParameterError(f"robot description: {exc}") from exc
