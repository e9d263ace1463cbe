"""CameraSynchronizer (ROS-free): slop matching, never stale, never the same set twice, counts."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from wam_ros.camera.multi_camera_sync import CameraSynchronizer, SyncedFrames


def img(v: int) -> np.ndarray:
    return np.full((2, 2, 3), v, np.uint8)


def test_matches_within_slop_and_picks_newest_set():
    s = CameraSynchronizer(["scene", "wrist"], slop=0.010, max_age=1.0)
    for k in range(5):  # scene at 0, 33, 66.. ms; wrist 5 ms later
        s.add("scene", k * 0.033, img(k))
        s.add("wrist", k * 0.033 + 0.005, img(100 + k))
    out = s.latest(now=0.2)
    assert isinstance(out, SyncedFrames)
    assert out.stamps == pytest.approx({"scene": 0.132, "wrist": 0.137})
    assert out.stamp == pytest.approx(0.132)
    assert out.frames["scene"][0, 0, 0] == 4 and out.frames["wrist"][0, 0, 0] == 104
    st = s.stats()
    assert st["matched"] == 1 and st["dropped"] == 8  # the 4 older pairs were never handed out


def test_no_set_when_stamps_further_apart_than_slop():
    s = CameraSynchronizer(["a", "b"], slop=0.005, max_age=1.0)
    s.add("a", 1.000, img(1))
    s.add("b", 1.020, img(2))
    assert s.latest(now=1.05) is None
    s.add("a", 1.018, img(3))  # now within slop of b
    out = s.latest(now=1.05)
    assert out is not None and out.stamps == {"a": 1.018, "b": 1.020} and out.stamp == 1.018


def test_never_returns_a_stale_frame():
    s = CameraSynchronizer(["a", "b"], slop=0.01, max_age=0.1)
    s.add("a", 1.0, img(1))
    s.add("b", 1.0, img(1))
    assert s.latest(now=1.2) is None  # both older than max_age
    assert s.stats()["stale"] == 2 and s.stats()["dropped"] == 2
    s.add("a", 1.15, img(2))
    s.add("b", 1.15, img(2))
    assert s.latest(now=1.2) is not None


def test_never_the_same_set_twice_unless_asked():
    s = CameraSynchronizer(["a", "b"], slop=0.01, max_age=1.0)
    s.add("a", 1.0, img(1))
    s.add("b", 1.001, img(1))
    first = s.latest(now=1.01)
    assert first is not None
    assert s.latest(now=1.02) is None
    again = s.latest(now=1.02, allow_repeat=True)
    assert again is not None and again.stamps == first.stamps
    assert s.stats()["matched"] == 1
    # one camera moving on is a new set (the other frame may be re-used)
    s.add("a", 1.005, img(2))
    nxt = s.latest(now=1.02)
    assert nxt is not None and nxt.stamps == {"a": 1.005, "b": 1.001}
    assert s.latest(now=1.02) is None


def test_late_frames_are_counted_and_never_used():
    s = CameraSynchronizer(["a", "b"], slop=0.01, max_age=1.0)
    s.add("a", 2.0, img(1))
    s.add("b", 2.0, img(1))
    assert s.latest(now=2.0) is not None
    s.add("b", 1.9, img(9))  # older than the set already handed out for b
    s.add("a", 1.95, img(9))
    assert s.stats()["late"] == 2
    assert s.latest(now=2.0) is None


def test_sets_move_forward_with_out_of_order_arrival():
    s = CameraSynchronizer(["a", "b", "c"], slop=0.02, max_age=5.0)
    rng = np.random.default_rng(0)
    delivered = []
    events = [(cam, k * 0.033 + rng.uniform(0, 0.01)) for k in range(40) for cam in "abc"]
    order = rng.permutation(len(events))  # shuffled arrival
    for n, i in enumerate(order):
        cam, t = events[i]
        s.add(cam, t, img(0))
        if n % 3 == 2:
            out = s.latest(now=1.4)
            if out is not None:
                assert max(out.stamps.values()) - min(out.stamps.values()) <= 0.02 + 1e-12
                delivered.append(out.stamps)
    assert delivered
    keys = [tuple(d[c] for c in "abc") for d in delivered]
    assert len(set(keys)) == len(keys)  # never the same set twice
    for prev, cur in itertools.pairwise(keys):
        assert all(c >= p for p, c in zip(prev, cur))  # per camera, never backwards
    st = s.stats()
    assert st["matched"] == len(delivered)
    assert st["late"] > 0  # shuffled arrival must produce some late frames


def test_buffer_overflow_counts_dropped():
    s = CameraSynchronizer(["a", "b"], slop=0.001, max_age=100.0, buffer_size=5)
    for k in range(12):
        s.add("a", float(k), img(k))
    assert s.stats()["dropped"] == 7 and s.stats()["buffered"] == 5


def test_bad_input_is_refused_by_name():
    with pytest.raises(ValueError, match="unique"):
        CameraSynchronizer(["a", "a"], 0.01, 1.0)
    with pytest.raises(ValueError, match="slop"):
        CameraSynchronizer(["a"], -1, 1.0)
    s = CameraSynchronizer(["a"], 0.01, 1.0)
    with pytest.raises(ValueError, match="unknown camera 'x'"):
        s.add("x", 1.0, img(0))
    with pytest.raises(ValueError, match="not finite"):
        s.add("a", float("nan"), img(0))
    assert s.stats()["buffered"] == 0
