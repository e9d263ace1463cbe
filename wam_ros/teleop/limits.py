"""Position limits shrunk by a safety margin, so teleop targets never touch a URDF limit.

The margin is capped at 10 % of each joint's range: a 5 cm margin is sensible for a
revolute joint but would invert the 4 cm range of a gripper finger.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from wam_ros.robot.model import RobotModel


def inner_limits(robot: RobotModel, joints: Sequence[str], margin: float) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) of ``joints`` moved inwards by ``margin`` (at most 10 % of the range)."""
    lim = robot.limits(tuple(joints))
    m = np.minimum(margin, 0.1 * (lim["upper"] - lim["lower"]))
    return lim["lower"] + m, lim["upper"] - m
