"""Terminal keys: decoding raw bytes (arrows, Esc) and a key -> twist/gripper teleop mapping.

A terminal reports key presses only (auto-repeat while held, no key-up), so a key
sets a twist that holds for ``hold`` seconds and is renewed by auto-repeat; letting
go stops the arm within ``hold``. Arrow/Esc names match LeRobot's recording controls.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ESCAPES = {b"\x1b[A": "up", b"\x1b[B": "down", b"\x1b[C": "right", b"\x1b[D": "left",
           b"\x1bOA": "up", b"\x1bOB": "down", b"\x1bOC": "right", b"\x1bOD": "left"}


def decode_keys(data: bytes) -> list[str]:
    """Key names in ``data`` read from a raw terminal: 'right', 'left', 'up', 'down', 'esc', or the character."""
    keys: list[str] = []
    i = 0
    while i < len(data):
        if data[i] == 0x1B:
            seq = data[i : i + 3]
            if seq in ESCAPES:
                keys.append(ESCAPES[seq])
                i += 3
                continue
            keys.append("esc")
            i += 1
            continue
        keys.append(chr(data[i]))
        i += 1
    return keys


#: key -> (twist component, direction). Base frame: x forward, y left, z up.
DEFAULT_BINDINGS: dict[str, tuple[int, float]] = {
    "w": (0, 1.0), "s": (0, -1.0), "a": (1, 1.0), "d": (1, -1.0), "r": (2, 1.0), "f": (2, -1.0),
    "u": (3, 1.0), "o": (3, -1.0), "i": (4, 1.0), "k": (4, -1.0), "j": (5, 1.0), "l": (5, -1.0),
}
HELP = (
    "w/s: +x/-x  a/d: +y/-y  r/f: up/down  u/o: roll  i/k: pitch  j/l: yaw  "
    "g/h: gripper open/close  space: stop  q or Esc: quit"
)


@dataclass
class KeyboardTeleop:
    max_linear: float = 0.05
    max_angular: float = 0.3
    hold: float = 0.6  # [s] > the terminal's auto-repeat delay (~0.5 s), so a held key moves smoothly
    bindings: dict[str, tuple[int, float]] = field(default_factory=lambda: dict(DEFAULT_BINDINGS))
    _twist: np.ndarray = field(default_factory=lambda: np.zeros(6))
    _until: float = -np.inf
    gripper: int = 0  # +1 open / -1 close requested since the last take_gripper()
    quit: bool = False

    def press(self, key: str, now: float) -> None:
        if key in ("q", "esc"):
            self.quit = True
            self._until = -np.inf
        elif key == " ":
            self._until = -np.inf
        elif key in ("g", "h"):
            self.gripper = 1 if key == "g" else -1
        elif key in self.bindings:
            k, sign = self.bindings[key]
            twist = np.zeros(6)
            twist[k] = sign * (self.max_linear if k < 3 else self.max_angular)
            self._twist, self._until = twist, now + self.hold

    def twist(self, now: float) -> np.ndarray:
        return self._twist.copy() if now <= self._until else np.zeros(6)

    def take_gripper(self) -> int:
        g, self.gripper = self.gripper, 0
        return g
