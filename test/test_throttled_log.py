"""ThrottledLog: the one rule for repeated log lines (issue 15, D1). ROS-free."""

from __future__ import annotations

import pytest

from wam_ros.ros.throttled_log import ThrottledLog


class Recorder:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def info(self, m: str) -> None:
        self.lines.append(("info", m))

    def warning(self, m: str) -> None:
        self.lines.append(("warning", m))

    def error(self, m: str) -> None:
        self.lines.append(("error", m))


def test_keys_throttle_independently_and_periods_may_differ_per_call():
    t = [0.0]
    rec = Recorder()
    log = ThrottledLog(rec, period=1.0, clock=lambda: t[0])
    assert log.warning("a", "first a", period=5.0)
    assert log.warning("b", "first b", period=2.0)  # another key, another period: no collision
    assert not log.warning("a", "again a", period=2.0)  # the same key with a new period: still fine
    t[0] = 2.5
    assert log.warning("a", "third a", period=2.0)
    assert log.error("b", "b as error")
    assert rec.lines == [("warning", "first a"), ("warning", "first b"), ("warning", "third a (1 similar suppressed)"),
                         ("error", "b as error")]


def test_bad_level_is_named():
    with pytest.raises(ValueError, match="level"):
        ThrottledLog(Recorder()).log("warn", "k", "m")
