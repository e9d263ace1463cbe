"""The safety state as a text label over the robot, coloured by state (ROS-free).

The safety bridge publishes it as a visualization_msgs/Marker (TEXT_VIEW_FACING) on
/wam/safety_marker, so RViz shows DISARMED / ARMED / ACTIVE / FAULT(reason) in the 3D
view; /wam/safety_state (std_msgs/String) stays the machine-readable form, which RViz
has no display for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wam_ros.robot.model import RobotModel

#: RGBA per state: grey = nothing moves, amber = armed (waiting for commands), green = commanding, red = fault.
COLOURS: dict[str, tuple[float, float, float, float]] = {
    "DISARMED": (0.75, 0.75, 0.75, 1.0),
    "ARMED": (1.0, 0.75, 0.0, 1.0),
    "ACTIVE": (0.1, 0.85, 0.2, 1.0),
    "FAULT": (1.0, 0.15, 0.1, 1.0),
}
UNKNOWN_COLOUR = (1.0, 0.0, 1.0, 1.0)  # a label this module does not know: impossible to miss
MAX_TEXT = 60  # characters: a long fault reason is cut so the label stays readable
TEXT_HEIGHT = 0.06  # m: height of a capital letter (Marker.scale.z of a text marker)
CLEARANCE = 0.25  # m above the highest point the end effector can reach


@dataclass(frozen=True)
class SafetyMarker:
    """What the Marker carries: text, colour, and where (in ``frame``)."""

    text: str
    rgba: tuple[float, float, float, float]
    frame: str
    position: tuple[float, float, float]
    height: float = TEXT_HEIGHT


def state_of(label: str) -> str:
    """DISARMED / ARMED / ACTIVE / FAULT from a /wam/safety_state label such as ``FAULT(stale joint states)``."""
    return label.split("(", 1)[0].strip().upper()


def colour(label: str) -> tuple[float, float, float, float]:
    return COLOURS.get(state_of(label), UNKNOWN_COLOUR)


def label_text(label: str) -> str:
    return label if len(label) <= MAX_TEXT else label[: MAX_TEXT - 3] + "..."


def height_over(model: RobotModel, samples: int = 256, seed: int = 0) -> float:
    """A height (in the base frame) above everything the arm reaches: end-effector poses sampled within
    the arm's joint limits (and the zero pose), plus ``CLEARANCE``."""
    limits = model.limits(model.arm_joints)
    lower, upper = np.maximum(limits["lower"], -np.pi), np.minimum(limits["upper"], np.pi)  # continuous joints
    rng = np.random.default_rng(seed)
    poses = [np.zeros(len(model.arm_joints)), *rng.uniform(lower, upper, (samples, len(model.arm_joints)))]
    return max(float(model.fk(q)[2, 3]) for q in poses) + CLEARANCE


def safety_marker(label: str, frame: str, height: float) -> SafetyMarker:
    """The marker for safety state ``label``, ``height`` m over the origin of ``frame`` (the robot's base)."""
    return SafetyMarker(text=label_text(label), rgba=colour(label), frame=frame, position=(0.0, 0.0, height))
