"""RecordingSession's frame grid: frames on a 1/fps grid on the node clock, and a late (starved) tick
never yields a near-double sample: more than half a period late, the grid restarts at that frame."""

from __future__ import annotations

import numpy as np
import pytest

from wam_ros.camera.multi_camera_sync import SyncedFrames
from wam_ros.dataset.lerobot_v3 import DatasetSpec
from wam_ros.dataset.recording import RecordingSession
from wam_ros.dataset.writer import LeRobotDatasetWriter

JOINTS = tuple(f"j{i}" for i in range(7))
FPS = 10


def _session(tmp_path) -> RecordingSession:
    writer = LeRobotDatasetWriter(tmp_path / "ds", DatasetSpec(FPS, JOINTS, {"scene": (16, 16)}))
    frame = np.zeros((16, 16, 3), np.uint8)
    s = RecordingSession(writer, lambda now: SyncedFrames(now, {"scene": frame}, {"scene": now}))
    s.inputs.instruction = "reach the red cube"
    return s



@pytest.mark.parametrize(("late", "restarts"), [(0.02, False), (0.05, True), (0.09, True)])
def test_a_late_tick_keeps_or_restarts_the_grid(tmp_path, late, restarts):
    """Frames 0 and 1 on time, frame 2 (due 0.2 s) ``late``; then the timer polls every 10 ms."""
    s = _session(tmp_path)
    s.start(0.0)
    ticks = [0.0, 0.1, 0.2 + late] + [round(0.2 + late + 0.01 * k, 6) for k in range(1, 40)]
    stamps = []
    for t in ticks:
        n = s.writer.episode_length
        s.inputs.joint_positions, s.inputs.joint_stamp = np.zeros(7), t
        s.tick(t)
        if s.writer.episode_length > n:
            stamps.append(t)
    gaps = np.diff(stamps)
    assert gaps.min() >= 0.5 / FPS - 1e-9, gaps  # never a near-double sample
    assert s.counts["late"] == int(restarts)
    # late frame 2 either keeps the grid (frame 3 due at 0.3) or starts a new one (frame 3 due a full period
    # after it); a poll up to a quarter period early takes the slot
    grid = 0.2 + late if restarts else 0.2
    expected_next = grid + 1 / FPS - 0.25 / FPS
    assert stamps[3] == pytest.approx(expected_next, abs=0.011)
