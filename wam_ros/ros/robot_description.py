"""Robot description parameters shared by every node that needs joints or kinematics.

``robot_description`` (URDF XML, as robot_state_publisher takes it) wins; otherwise
``urdf_path`` (default: the bundled arm). ``joint_limits_path`` adds acceleration and
jerk limits (MoveIt layout). The parameters are defined in ``wam_ros.params.robot``.
"""

from __future__ import annotations

from typing import Any

from wam_ros.params import ParameterError
from wam_ros.params.robot import ROBOT_PARAMS
from wam_ros.resources import resolve
from wam_ros.robot.model import RobotModel, RobotModelError

__all__ = ["ROBOT_PARAMS", "load_robot_model"]


def load_robot_model(values: dict[str, Any]) -> RobotModel:
    """Build the RobotModel from declared ROBOT_PARAMS values; ParameterError names the bad one."""
    limits = resolve(values["joint_limits_path"]) if values["joint_limits_path"] else None
    try:
        if values["robot_description"]:
            return RobotModel.from_urdf_string(values["robot_description"], limits, values["ee_link"])
        return RobotModel.load(resolve(values["urdf_path"]), limits, values["ee_link"])
    except RobotModelError as exc:
        raise ParameterError(f"robot description: {exc}") from exc
