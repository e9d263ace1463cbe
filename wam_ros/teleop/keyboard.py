"""Terminal keys: reading them (cbreak mode, a thread), decoding raw bytes (arrows, Esc) and a
key -> twist/gripper teleop mapping.

A terminal reports key presses only (auto-repeat while held, no key-up), so a key
sets a twist that holds for ``hold`` seconds and is renewed by auto-repeat; letting
go stops the arm within ``hold``. Arrow/Esc names match LeRobot's recording controls.
"""

from __future__ import annotations

import os
import select
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

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


class TerminalKeyReader:
    """Reads keys from a terminal on a daemon thread and hands each one to ``on_key``.

    The terminal is put in cbreak mode (keys arrive unbuffered, no Enter needed) while
    reading and restored afterwards. The reader polls, so it ends within ``poll`` seconds
    of ``running()`` turning false or of ``stop()``.
    """

    def __init__(
        self,
        on_key: Callable[[str], None],
        running: Callable[[], bool] = lambda: True,
        stream: TextIO | None = None,
        poll: float = 0.2,
    ) -> None:
        self.on_key, self.running, self.poll = on_key, running, poll
        self.stream = stream if stream is not None else sys.stdin
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def available(self) -> bool:
        """Whether the stream is a terminal (keys cannot be read from a pipe or /dev/null)."""
        try:
            return self.stream.isatty()
        except (AttributeError, ValueError):  # closed or replaced stdin
            return False

    def start(self) -> bool:
        """Start reading on a daemon thread; False (and nothing started) when the stream is no terminal."""
        if not self.available():
            return False
        self._thread = threading.Thread(target=self.run, name="terminal_keys", daemon=True)
        self._thread.start()
        return True

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        """The reading loop (blocking): cbreak mode, decoded keys to ``on_key``, the terminal restored."""
        import termios
        import tty

        fd = self.stream.fileno()
        old = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd)
            while self.running() and not self._stop.is_set():
                ready, _, _ = select.select([fd], [], [], self.poll)
                if not ready:
                    continue
                data = os.read(fd, 32)
                if not data:  # the terminal hung up
                    break
                for key in decode_keys(data):
                    self.on_key(key)
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, old)


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
