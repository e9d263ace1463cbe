"""The episode recorder's logic without ROS: fixed-fps sampling, controls, auto mode.

The node feeds it the latest joint state, synchronised camera set, command reference
and instruction; a timer calls ``tick(now)`` and the session decides whether a frame
is due and writes it. Controls (start/save/discard/stop) come from services, keys or
the auto mode (start on a new sim episode, save on success) and all end up here, so
every path behaves the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from wam_ros.camera.multi_camera_sync import SyncedFrames
from wam_ros.dataset.lerobot_v3 import DatasetError
from wam_ros.dataset.writer import LeRobotDatasetWriter
from wam_ros.robot.trajectory import Trajectory


def sample_reference(traj: Trajectory, t: float) -> np.ndarray:
    """Joint positions of a command reference at absolute time ``t`` (piecewise linear, held at the ends)."""
    times = traj.absolute_times
    if t <= times[0]:
        return traj.positions[0].copy()
    if t >= times[-1]:
        return traj.positions[-1].copy()
    k = int(np.searchsorted(times, t, side="right"))
    a = (t - times[k - 1]) / (times[k] - times[k - 1])
    return traj.positions[k - 1] + a * (traj.positions[k] - traj.positions[k - 1])


class RecorderState(StrEnum):
    IDLE = "IDLE"  # between episodes
    RECORDING = "RECORDING"
    STOPPED = "STOPPED"  # the user ended the session
    FAILED = "FAILED"  # a write error (disk full); the dataset stays as last saved


@dataclass
class Inputs:
    """Latest inputs, updated by the node's callbacks."""

    joint_positions: np.ndarray | None = None
    joint_stamp: float = -np.inf
    command: Trajectory | None = None
    command_received: float = -np.inf  # node time the last command arrived
    instruction: str = ""


@dataclass
class RecordingSession:
    writer: LeRobotDatasetWriter
    frames_source: Callable[[float], SyncedFrames | None]  # now -> newest synced camera set (None: none fresh)
    max_state_age: float = 0.1  # [s] joint states older than this make a frame wait
    max_episode_time: float = 0.0  # [s] 0 = unlimited; reaching it saves the episode
    command_timeout: float = 0.5  # [s] after its last point a command no longer describes the action
    inputs: Inputs = field(default_factory=Inputs)
    state: RecorderState = RecorderState.IDLE
    error: str = ""
    counts: dict[str, int] = field(default_factory=lambda: {"frames": 0, "late": 0, "skipped": 0, "saved": 0,
                                                             "discarded": 0})
    _t0: float = 0.0
    _events: list[str] = field(default_factory=list)

    @property
    def fps(self) -> int:
        return self.writer.spec.fps

    def drain_events(self) -> list[str]:
        ev, self._events = self._events, []
        return ev

    # ------------------------------------------------------------------ controls
    def start(self, now: float, task: str | None = None) -> str:
        """Begin an episode with ``task`` (default: the latest instruction). Returns a message."""
        if self.state is not RecorderState.IDLE:
            raise DatasetError(f"cannot start an episode while {self.state.value}")
        task = task or self.inputs.instruction
        if not task:
            raise DatasetError("no instruction yet: publish one on the instruction topic (or pass a task)")
        self._guard(lambda: self.writer.start_episode(task))
        self.state, self._t0 = RecorderState.RECORDING, now
        return self._log(f"episode {self.writer.num_episodes} started: {task!r}")

    def save(self) -> str:
        if self.state is not RecorderState.RECORDING:
            raise DatasetError(f"no episode is being recorded ({self.state.value})")
        n = self.writer.episode_length
        if n == 0:
            self.discard()
            raise DatasetError("the episode had no frames yet; discarded")
        row = self._guard(self.writer.save_episode)
        self.state = RecorderState.IDLE
        self.counts["saved"] += 1
        return self._log(f"episode {row['episode_index']} saved: {n} frames")

    def discard(self) -> str:
        if self.state is not RecorderState.RECORDING:
            raise DatasetError(f"no episode is being recorded ({self.state.value})")
        n = self.writer.episode_length
        self.writer.discard_episode()
        self.state = RecorderState.IDLE
        self.counts["discarded"] += 1
        return self._log(f"episode discarded ({n} frames)")

    def rerecord(self, now: float) -> str:
        """LeRobot's left arrow: drop the episode and start it again."""
        self.discard()
        return self.start(now)

    def stop(self) -> str:
        """End the session; an episode in progress is saved (LeRobot's Esc)."""
        msg = ""
        if self.state is RecorderState.RECORDING:
            msg = self.save() if self.writer.episode_length else self.discard()
        if self.state is not RecorderState.FAILED:
            self.state = RecorderState.STOPPED
        self.writer.close()
        return self._log(f"recording stopped. {msg}".strip())

    # ------------------------------------------------------------------ sampling
    def tick(self, now: float) -> bool:
        """Record the frame due at ``now`` if inputs allow; True when a frame was written."""
        if self.state is not RecorderState.RECORDING:
            return False
        w = self.writer
        i = w.episode_length
        if i == 0:
            self._t0 = now  # the fps grid starts at the first recorded frame
        due = self._t0 + i / self.fps
        if now < due - 0.25 / self.fps:  # a tick a little early (timer jitter) still takes its slot
            return False
        if now - due > 0.25 / self.fps:
            # more than a quarter period late (a starved timer): this frame restarts the grid here, so the next
            # one is a full period later; with the quarter-period early tolerance above, no two frames are ever
            # closer than half a period (no near-double samples)
            self.counts["late"] += 1
            self._log(f"frame {i} recorded {now - due:.3f}s late (timer starved); the fps grid restarts here")
            self._t0 = now - i / self.fps
        frames = self.frames_source(now)
        inp = self.inputs
        missing = "camera frames" if frames is None else ""
        if inp.joint_positions is None or now - inp.joint_stamp > self.max_state_age:
            missing = "joint states"
        if missing:
            self.counts["skipped"] += 1
            self._t0 += 1.0 / self.fps  # this slot is lost; the next frame keeps the 1/fps spacing
            self._log(f"frame {i} skipped: no fresh {missing} at t={now:.3f}")
            return False
        action = self.action_at(now)
        self._guard(lambda: w.add_frame(inp.joint_positions, action, frames.frames, now))
        self.counts["frames"] += 1
        if self.max_episode_time > 0 and (i + 1) / self.fps >= self.max_episode_time:
            self.save()
        return True

    def action_at(self, now: float) -> np.ndarray:
        """The command reference in force at ``now``; without one the arm holds, so the action is its position."""
        cmd, inp = self.inputs.command, self.inputs
        if cmd is None or now > cmd.absolute_times[-1] + self.command_timeout:
            assert inp.joint_positions is not None
            return inp.joint_positions
        return sample_reference(cmd, now)

    # ------------------------------------------------------------------ helpers
    def _guard(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except DatasetError as exc:
            if self.writer.failed is not None:
                self.state, self.error = RecorderState.FAILED, str(exc)
                self._log(f"RECORDING FAILED: {exc}")
            raise

    def _log(self, msg: str) -> str:
        self._events.append(msg)
        return msg
