"""Gamepad / SpaceMouse (sensor_msgs/Joy) -> end-effector twist, gripper step and deadman.

Each twist component reads one axis (index, or -1 for none) times a signed scale,
after a deadzone; the result is capped at ``max_linear`` [m/s] and ``max_angular``
[rad/s]. Nothing moves unless the deadman button is held: the node also forwards
the button to the safety bridge as a heartbeat, so a dropped gamepad stops the arm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Valid sensor_msgs/Joy button indices (the deadman button of teleop_node and the safety bridge).
BUTTON_RANGE = (0, 63)


class JoyMappingError(ValueError):
    """A Joy mapping setting is inconsistent; the message names it."""


@dataclass(frozen=True)
class JoyCommand:
    twist: np.ndarray  # (6,) [vx, vy, vz, wx, wy, wz] in the robot base frame
    deadman: bool
    gripper: int  # +1 open, -1 close, 0 hold


@dataclass(frozen=True)
class JoyMapping:
    axes: tuple[int, ...] = (1, 0, 4, -1, -1, 3)  # vx, vy, vz, wx, wy, wz (Xbox layout: sticks)
    scales: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0)  # signed; multiplied by max_linear/max_angular
    deadzone: float = 0.1
    max_linear: float = 0.1
    max_angular: float = 0.5
    deadman_button: int = 4  # LB
    gripper_open_button: int = 1
    gripper_close_button: int = 0

    def __post_init__(self) -> None:
        if len(self.axes) != 6 or len(self.scales) != 6:
            raise JoyMappingError(f"axes and scales need 6 entries (vx vy vz wx wy wz), got {self.axes}, {self.scales}")
        if not 0 <= self.deadzone < 1:
            raise JoyMappingError(f"deadzone {self.deadzone} must be in [0, 1)")
        if self.deadman_button < 0:
            raise JoyMappingError("a deadman button is required (deadman_button >= 0)")

    def command(self, axes: Sequence[float], buttons: Sequence[int]) -> JoyCommand:
        """Map one Joy message. Missing axes/buttons read as 0; non-finite axes as 0."""

        def button(i: int) -> bool:
            return 0 <= i < len(buttons) and bool(buttons[i])

        deadman = button(self.deadman_button)
        twist = np.zeros(6)
        if deadman:
            for k, (idx, scale) in enumerate(zip(self.axes, self.scales, strict=True)):
                if 0 <= idx < len(axes):
                    a = float(axes[idx])
                    if not np.isfinite(a) or abs(a) < self.deadzone:
                        continue
                    a = np.sign(a) * (min(abs(a), 1.0) - self.deadzone) / (1 - self.deadzone)
                    twist[k] = a * scale * (self.max_linear if k < 3 else self.max_angular)
            lin, ang = np.linalg.norm(twist[:3]), np.linalg.norm(twist[3:])
            if lin > self.max_linear:
                twist[:3] *= self.max_linear / lin
            if ang > self.max_angular:
                twist[3:] *= self.max_angular / ang
        gripper = int(button(self.gripper_open_button)) - int(button(self.gripper_close_button)) if deadman else 0
        return JoyCommand(twist, deadman, gripper)
