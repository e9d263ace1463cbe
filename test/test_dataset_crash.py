"""Crash safety of the dataset writer: SIGKILL mid-episode and mid-commit, full disk.

The SIGKILL tests run the writer in a real child process and kill it; nothing is
mocked. The full-disk tests inject OSError(ENOSPC) through the writer's only file-
creation seam (``FileIO.open_write``), which is exactly where a real full disk
surfaces; one more test fills a real 3 MB tmpfs in a private mount namespace when
the sandbox allows ``unshare -m`` (filling the machine's real disk is not safe here).
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from wam_ros.dataset import DatasetError, DatasetSpec, DiskFullError, FileIO, LeRobotDatasetReader
from wam_ros.dataset import LeRobotDatasetWriter as Writer
from wam_ros.dataset.writer import JOURNAL, recover

REPO = Path(__file__).resolve().parent.parent
JOINTS = tuple(f"j{i}" for i in range(7))
CAMS = {"scene": (64, 64), "wrist": (32, 32)}

CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    import numpy as np
    from wam_ros.dataset import DatasetSpec, LeRobotDatasetWriter
    root, mode = sys.argv[1], sys.argv[2]
    spec = DatasetSpec(10, tuple(f"j{i}" for i in range(7)), {"scene": (64, 64), "wrist": (32, 32)})
    w = LeRobotDatasetWriter(root, spec)
    def frame(i):
        return {"scene": np.full((64, 64, 3), i % 200, np.uint8), "wrist": np.full((32, 32, 3), 50, np.uint8)}
    def episode(n, save=True):
        w.start_episode("reach the red cube")
        for i in range(n):
            w.add_frame(np.full(7, i, float), np.full(7, -i, float), frame(i), float(i))
        if save:
            w.save_episode()
    episode(8)
    episode(5)
    if mode.startswith("commit:"):
        k = int(mode.split(":")[1])
        real = os.replace
        calls = [0]
        def dying_replace(a, b):
            if str(b).endswith(".commit.json"):
                return real(a, b)
            if calls[0] == k:
                os.kill(os.getpid(), signal.SIGKILL)
            calls[0] += 1
            return real(a, b)
        os.replace = dying_replace
        episode(6)
    else:
        w.start_episode("reach the blue cube")
        for i in range(10**6):
            w.add_frame(np.zeros(7), np.zeros(7), frame(i), float(i))
            if i == 5:
                print("RECORDING", flush=True)
    """
)


def _run_child(root: Path, mode: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), mode], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_mid_episode_keeps_completed_episodes(tmp_path):
    root = tmp_path / "ds"
    child = _run_child(root, "episode")
    assert child.stdout.readline().strip() == "RECORDING", child.stderr.read()
    time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    # As left by the crash (no recovery run): loadable, the 2 saved episodes, nothing of the 3rd.
    assert any((root / ".staging").rglob("*.mp4")), "the killed episode was being staged"
    r = LeRobotDatasetReader(root)
    r.validate(decode_videos=True)
    assert [e["length"] for e in r.episodes] == [8, 5]
    np.testing.assert_allclose(r.episode_data(1)["action"][:, 0], -np.arange(5))
    # Reopening cleans the staging area and appends after the saved episodes.
    w = Writer(root, DatasetSpec(10, JOINTS, CAMS))
    assert any("discarded unsaved" in a for a in w.recovery_actions)
    w.start_episode("again")
    w.add_frame(np.zeros(7), np.zeros(7), {c: np.zeros((*hw, 3), np.uint8) for c, hw in CAMS.items()}, 0.0)
    w.save_episode()
    LeRobotDatasetReader(root).validate(decode_videos=True)
    assert not (root / ".staging").exists() or not any((root / ".staging").iterdir())


@pytest.mark.parametrize("renames_before_kill", [0, 2, 5])
def test_sigkill_during_commit_is_all_or_nothing(tmp_path, renames_before_kill):
    """Killed between the renames of a commit: the journal completes it on the next open."""
    root = tmp_path / "ds"
    child = _run_child(root, f"commit:{renames_before_kill}")
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL, child.stderr.read()
    assert (root / JOURNAL).exists()
    with pytest.raises(DatasetError, match="interrupted commit"):
        LeRobotDatasetReader(root)
    actions = recover(root)
    assert any("completed interrupted commit" in a for a in actions)
    r = LeRobotDatasetReader(root)
    r.validate(decode_videos=True)
    assert [e["length"] for e in r.episodes] == [8, 5, 6]


class FullDisk(FileIO):
    """Files that accept ``budget`` bytes in total, then fail like a full disk (ENOSPC)."""

    def __init__(self, budget: int = 10**12) -> None:
        self.budget = budget

    def open_write(self, path: Path):
        disk = self
        f = open(path, "wb")

        class _File:
            def write(self, data: bytes) -> int:
                if len(data) > disk.budget:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
                disk.budget -= len(data)
                return f.write(data)

            def __getattr__(self, name: str):
                return getattr(f, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc: object) -> None:
                f.close()

        return _File()


def _frames(i: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {c: rng.integers(0, 255, (*hw, 3), dtype=np.uint8) for c, hw in CAMS.items()}


def _assert_intact(root: Path, lengths: list[int]) -> None:
    r = LeRobotDatasetReader(root)
    r.validate(decode_videos=True)
    assert [e["length"] for e in r.episodes] == lengths
    leftovers = [p for p in root.rglob("*.tmp-*")]
    assert not leftovers, leftovers


def test_disk_full_while_recording_stops_and_keeps_saved_episodes(tmp_path):
    disk = FullDisk()
    w = Writer(tmp_path / "ds", DatasetSpec(10, JOINTS, CAMS), io=disk)
    rng = np.random.default_rng(0)
    for n in (4, 3):
        w.start_episode("t")
        for i in range(n):
            w.add_frame(np.zeros(7), np.zeros(7), _frames(i, rng), float(i))
        w.save_episode()
    disk.budget = 40_000  # the noise frames of the next episode outgrow this within a few frames
    w.start_episode("t")
    with pytest.raises(DiskFullError, match=r"disk full.*2 saved episode"):
        for i in range(200):
            w.add_frame(np.zeros(7), np.zeros(7), _frames(i, rng), float(i))
    assert not w.recording
    with pytest.raises(DiskFullError):  # recording stays stopped
        w.start_episode("t")
    _assert_intact(tmp_path / "ds", [4, 3])


@pytest.mark.parametrize("budget", [3_000, 30_000, 60_000])
def test_disk_full_while_saving_leaves_previous_state(tmp_path, budget):
    """ENOSPC at different points of the commit (video remux, data parquet, metadata)."""
    disk = FullDisk()
    w = Writer(tmp_path / "ds", DatasetSpec(10, JOINTS, CAMS), io=disk)
    rng = np.random.default_rng(1)
    w.start_episode("t")
    for i in range(6):
        w.add_frame(np.zeros(7), np.ones(7), _frames(i, rng), float(i))
    w.save_episode()
    w.start_episode("t")
    for i in range(6):
        w.add_frame(np.zeros(7), np.ones(7), _frames(i, rng), float(i))
    disk.budget = budget
    with pytest.raises(DiskFullError, match="saving episode 1"):
        w.save_episode()
    _assert_intact(tmp_path / "ds", [6])
    assert Writer(tmp_path / "ds", DatasetSpec(10, JOINTS, CAMS)).num_episodes == 1


TMPFS_CHILD = textwrap.dedent(
    """
    import sys, numpy as np
    from wam_ros.dataset import DatasetSpec, DiskFullError, LeRobotDatasetReader, LeRobotDatasetWriter
    root = sys.argv[1] + "/ds"
    w = LeRobotDatasetWriter(root, DatasetSpec(10, tuple("abcdefg"), {"scene": (96, 96)}))
    rng = np.random.default_rng(0)
    saved = 0
    try:
        while True:
            w.start_episode("t")
            for i in range(20):
                w.add_frame(np.zeros(7), np.zeros(7), {"scene": rng.integers(0, 255, (96, 96, 3), np.uint8)}, i)
            w.save_episode()
            saved += 1
    except DiskFullError as exc:
        print("FULL", saved, exc)
    r = LeRobotDatasetReader(root)
    r.validate(decode_videos=True)
    print("VALID", r.num_episodes)
    """
)


def test_real_full_tmpfs(tmp_path):
    """A real ENOSPC: a 3 MB tmpfs mounted in a private mount namespace (skipped if not permitted)."""
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True)
    if probe.returncode != 0 or shutil.which("unshare") is None:
        pytest.skip("unshare -m not permitted here")
    script = f"mount -t tmpfs -o size=3m none {mnt} && exec {sys.executable} -c '{TMPFS_CHILD}' {mnt}"
    out = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script], cwd=REPO, capture_output=True, text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    full = next(line for line in lines if line.startswith("FULL"))
    saved = int(full.split()[1])
    assert saved >= 1 and "disk full" in full
    assert f"VALID {saved}" in lines
