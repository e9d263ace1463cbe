"""The recorder's controls without ROS: keys -> controls, the auto mode's state machine, the terminal reader."""

from __future__ import annotations

import os
import termios
import threading
import time

import pytest

from wam_ros.dataset.recording import RecorderState
from wam_ros.recording.controls import AutoRecorder, control_for_key
from wam_ros.teleop.keyboard import TerminalKeyReader

IDLE, REC, STOPPED, FAILED = RecorderState.IDLE, RecorderState.RECORDING, RecorderState.STOPPED, RecorderState.FAILED


@pytest.mark.parametrize("key, recording, what", [
    ("right", False, "start"), ("right", True, "save"), ("left", False, "start"), ("left", True, "rerecord"),
    ("esc", False, "stop"), ("esc", True, "stop"), ("x", True, None), ("up", False, None),
])
def test_keys_map_to_lerobot_recording_controls(key, recording, what):
    assert control_for_key(key, recording) == what


class FakeSession:
    """Plays the RecordingSession's state changes for the controls the auto mode runs."""

    def __init__(self, refuse: tuple[str, ...] = ()) -> None:
        self.state: RecorderState | None = None
        self.saved = 0
        self.calls: list[tuple[str, str | None]] = []
        self.refuse = refuse

    def control(self, what: str, task: str | None) -> bool:
        self.calls.append((what, task))
        if what in self.refuse:
            return False
        if what == "start":
            self.state = REC
        elif what == "save":
            self.state, self.saved = IDLE, self.saved + 1
        elif what == "discard":
            self.state = IDLE
        elif what == "stop":
            self.state = STOPPED
        return True


def scene(episode: int, success: bool = False, instruction: str = "reach the red cube") -> dict:
    return {"episode": episode, "success": success, "instruction": instruction}


class Run:
    def __init__(self, auto_start: str = "first_command", hold: float = 0.5, num_episodes: int = 0, **kw) -> None:
        self.auto = AutoRecorder(auto_start, hold, num_episodes)
        self.session = FakeSession(**kw)
        self.command_received = float("-inf")
        self.arm_can_move = True

    def step(self, now: float, sc: dict | None) -> bool:
        s = self.session
        return self.auto.step(now, sc, s.state, s.saved, self.command_received, self.arm_can_move, s.control)


def test_first_command_after_a_reset_starts_the_episode_with_its_instruction():
    r = Run()
    assert not r.step(1.0, scene(3))
    assert r.session.calls == []  # no command since the sim episode appeared: no idle lead-in
    r.command_received = 0.5  # a command from before the reset does not count
    r.step(1.1, scene(3))
    assert r.session.calls == []
    r.command_received = 1.2
    r.step(1.3, scene(3))
    assert r.session.calls == [("start", "reach the red cube")] and r.auto.sim_episode == 3


def test_reset_mode_starts_at_once_but_only_while_the_arm_can_move():
    r = Run(auto_start="reset")
    r.arm_can_move = False
    r.step(1.0, scene(0))
    assert r.session.calls == []
    r.arm_can_move = True
    r.step(1.1, scene(0, instruction=""))
    assert r.session.calls == [("start", None)]  # no instruction: the session's own task


def test_success_is_held_then_saved_once_and_asks_for_a_reset():
    r = Run(auto_start="reset", hold=0.5)
    r.step(0.0, scene(0))
    assert not r.step(1.0, scene(0, success=True))
    assert not r.step(1.2, scene(0, success=False))  # success lost: the hold starts again
    assert not r.step(1.3, scene(0, success=True))
    assert not r.step(1.7, scene(0, success=True))
    assert r.step(1.8, scene(0, success=True))
    assert [c for c, _ in r.session.calls] == ["start", "save"]
    for t in (1.9, 2.0):  # the same sim episode is never recorded again, even while the sim is not reset yet
        assert not r.step(t, scene(0, success=False))
    assert [c for c, _ in r.session.calls] == ["start", "save"]
    r.step(2.1, scene(1))
    assert [c for c, _ in r.session.calls] == ["start", "save", "start"]


def test_a_refused_save_asks_for_no_reset_and_is_not_retried():
    r = Run(auto_start="reset", hold=0.0, refuse=("save",))
    r.step(0.0, scene(0))
    assert not r.step(0.1, scene(0, success=True))
    assert 0 in r.auto.recorded_sim_episodes


def test_a_sim_reset_under_a_recording_discards_it_and_starts_the_new_episode():
    r = Run(auto_start="reset")
    r.step(0.0, scene(0))
    r.step(0.5, scene(1))
    assert [c for c, _ in r.session.calls] == ["start", "discard", "start"] and r.auto.sim_episode == 1


def test_an_already_successful_scene_starts_nothing():
    r = Run(auto_start="reset")
    r.step(0.0, scene(0, success=True))
    assert r.session.calls == []


def test_stops_after_num_episodes():
    r = Run(auto_start="reset", hold=0.0, num_episodes=2)
    t = 0.0
    for ep in range(2):
        r.step(t, scene(ep))
        r.step(t + 0.1, scene(ep, success=True))
        t += 1.0
    r.step(t, scene(2))
    assert [c for c, _ in r.session.calls] == ["start", "save", "start", "save", "stop"]
    r.step(t + 1, scene(3))  # stopped: nothing more
    assert r.session.calls[-1][0] == "stop" and len(r.session.calls) == 5


@pytest.mark.parametrize("state", [STOPPED, FAILED])
def test_a_stopped_or_failed_session_is_left_alone(state):
    r = Run(auto_start="reset")
    r.session.state = state
    r.step(0.0, scene(0))
    assert r.session.calls == []


def test_no_scene_state_no_controls():
    r = Run(auto_start="reset")
    r.step(0.0, None)
    assert r.session.calls == []


def test_unknown_auto_start_is_refused():
    with pytest.raises(ValueError, match="auto_start"):
        AutoRecorder("whenever", 0.5, 0)


# ---------------------------------------------------------------------- terminal keys
class Pty:
    """A pseudo-terminal: the reader reads the slave like a real stdin; the test types into the master."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.stream = os.fdopen(self.slave, "r")

    def close(self) -> None:
        self.stream.close()
        os.close(self.master)


def test_terminal_reader_decodes_keys_and_restores_the_terminal():
    pty = Pty()
    try:
        before = termios.tcgetattr(pty.slave)
        keys: list[str] = []
        got = threading.Event()

        def on_key(k: str) -> None:
            keys.append(k)
            if k == "esc":
                got.set()

        reader = TerminalKeyReader(on_key, stream=pty.stream, poll=0.05)
        assert reader.available() and reader.start()
        time.sleep(0.1)
        os.write(pty.master, b"w\x1b[Cq\x1b")
        assert got.wait(5.0)
        reader.stop()
        assert keys == ["w", "right", "q", "esc"]
        assert termios.tcgetattr(pty.slave) == before
    finally:
        pty.close()


def test_terminal_reader_ends_when_running_turns_false():
    pty = Pty()
    try:
        running = threading.Event()
        running.set()
        reader = TerminalKeyReader(lambda k: None, running=running.is_set, stream=pty.stream, poll=0.05)
        assert reader.start()
        running.clear()
        reader._thread.join(2.0)
        assert not reader._thread.is_alive()
    finally:
        pty.close()


def test_no_terminal_no_reader(tmp_path):
    with open(tmp_path / "f", "w+") as f:
        reader = TerminalKeyReader(lambda k: None, stream=f)
        assert not reader.available() and not reader.start()
