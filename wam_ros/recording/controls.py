"""The episode recorder's controls without ROS: LeRobot-style keys and the auto mode's state machine.

Both end in the same controls of :class:`wam_ros.dataset.recording.RecordingSession`:
``start`` (with the episode's task), ``save``, ``discard``, ``rerecord``, ``stop``.

Keys (as LeRobot's recording): right arrow saves the episode (starts one when idle),
left arrow re-records it (starts one when idle), Esc stops the session.

Auto mode (scripted collection in the simulator): a new sim episode starts a recording,
success saves it after ``success_hold`` seconds, a sim reset under a recording discards
it (it would not be one episode), and after ``num_episodes`` saved episodes the session
stops. With ``auto_start="first_command"`` an episode starts only once a command
arrived after the sim reset (no idle lead-in); with ``"reset"`` it starts at once, the
arm still at rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wam_ros.dataset.recording import RecorderState

AUTO_STARTS = ("first_command", "reset")
KEYS_HELP = "keys: right arrow = save (start when idle), left arrow = re-record, Esc = stop"

#: (what, task) -> whether the session accepted it
Control = Callable[[str, "str | None"], bool]


def control_for_key(key: str, recording: bool) -> str | None:
    """The session control a key asks for (None: the key means nothing to the recorder)."""
    if key == "right":
        return "save" if recording else "start"
    if key == "left":
        return "rerecord" if recording else "start"
    if key == "esc":
        return "stop"
    return None


class AutoRecorder:
    """Decides, tick by tick, when the auto mode starts, saves, discards and stops episodes."""

    def __init__(self, auto_start: str, success_hold: float, num_episodes: int) -> None:
        if auto_start not in AUTO_STARTS:
            raise ValueError(f"auto_start '{auto_start}' must be one of {list(AUTO_STARTS)}")
        self.auto_start = auto_start
        self.success_hold = float(success_hold)
        self.num_episodes = int(num_episodes)  # 0 = unlimited
        self.recorded_sim_episodes: set[int] = set()  # saved (or tried to): never recorded again
        self.success_since: float | None = None
        self.sim_episode: int | None = None  # the sim episode being recorded
        self.scene_episode, self.scene_episode_seen = -1, 0.0  # latest sim episode, time first seen

    def step(
        self,
        now: float,
        scene: dict[str, Any] | None,
        state: RecorderState | None,
        saved: int,
        command_received: float,
        arm_can_move: bool,
        control: Control,
    ) -> bool:
        """One tick. ``scene``: the sim's scene state (``episode``, ``success``, ``instruction``); ``state`` and
        ``saved``: the session's (None and 0 before it exists); ``command_received``: when the last command
        arrived; ``control(what, task)`` runs a control on the session. True when an episode was just saved
        (the caller resets the sim for the next one)."""
        if scene is None or state in (RecorderState.STOPPED, RecorderState.FAILED):
            return False
        episode = int(scene.get("episode", -1))
        if episode != self.scene_episode:
            self.scene_episode, self.scene_episode_seen = episode, now
        recording = state is RecorderState.RECORDING
        if recording and episode != self.sim_episode:
            control("discard", None)  # the sim was reset under us: that recording is not one episode
            recording = False
        if not recording:
            self._maybe_start(episode, scene, saved, command_received, arm_can_move, control)
            return False
        return self._maybe_save(now, episode, bool(scene.get("success", False)), control)

    def _start_due(self, command_received: float) -> bool:
        # first_command: the teleoperator acted in this sim episode (a command arrived after the reset), so no
        # episode begins with seconds of an idle arm; reset: start now, the arm at rest
        return self.auto_start == "reset" or command_received > self.scene_episode_seen

    def _maybe_start(self, episode: int, scene: dict[str, Any], saved: int, command_received: float,
                     arm_can_move: bool, control: Control) -> None:
        if self.num_episodes and saved >= self.num_episodes:
            control("stop", None)
            return
        if (episode not in self.recorded_sim_episodes and not scene.get("success", False)
                and arm_can_move and self._start_due(command_received)):
            if control("start", scene.get("instruction") or None):
                self.sim_episode, self.success_since = episode, None

    def _maybe_save(self, now: float, episode: int, success: bool, control: Control) -> bool:
        if not success:
            self.success_since = None
            return False
        self.success_since = self.success_since if self.success_since is not None else now
        if now - self.success_since < self.success_hold:
            return False
        ok = control("save", None)
        self.recorded_sim_episodes.add(episode)
        return ok
