"""PredictionMatcher: predicted frames paired with the real frame closest to their time (ROS-free)."""

from __future__ import annotations

import numpy as np
import pytest

from wam_ros.monitoring.prediction_matching import FramePair, PredictionMatcher


def img(value: int, size: int = 8) -> np.ndarray:
    return np.full((size, size, 3), value, np.uint8)


def predicted(values: list[int]) -> np.ndarray:
    return np.stack([img(v, 4) for v in values])


def feed(m: PredictionMatcher, camera: str, stamps: np.ndarray) -> list[FramePair]:
    out: list[FramePair] = []
    for s in stamps:
        out += m.observe(camera, float(s), img(round(float(s) * 100) % 256))
    return out


def test_each_target_gets_the_closest_frame_once_and_when_it_arrives():
    m = PredictionMatcher(tolerance=0.05)
    feed(m, "scene", np.arange(0.0, 0.5, 0.1))  # 0.0 .. 0.4: the camera at 10 Hz
    m.add(0.4, [0.32, 0.8], {"scene": predicted([11, 22])})  # targets 0.72 and 1.2
    got: dict[float, list[FramePair]] = {}
    for s in np.arange(0.5, 1.6, 0.1):
        got[round(float(s), 2)] = m.observe("scene", float(s), img(round(float(s) * 100)))
    # 0.72 is resolved by the 0.7 frame (within half a period, a later frame is farther), not 0.6 or 0.8
    assert [len(v) for k, v in sorted(got.items())] == [0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0]
    p1, p2 = got[0.7][0], got[1.2][0]
    assert (p1.camera, p1.obs_stamp, p1.offset, p1.real_stamp) == ("scene", 0.4, 0.32, pytest.approx(0.7))
    assert p1.target == pytest.approx(0.72)
    assert p1.predicted[0, 0, 0] == 11 and p1.real[0, 0, 0] == 70 and p1.real.shape == (8, 8, 3)
    assert p2.predicted[0, 0, 0] == 22 and p2.real_stamp == pytest.approx(1.2)
    assert m.stats() == {"matched": 2, "unmatched": 0, "expired": 0, "pending": 0}


def test_cameras_are_matched_independently():
    m = PredictionMatcher(tolerance=0.05)
    m.add(0.0, [0.2], {"scene": predicted([1]), "wrist": predicted([2])})
    assert m.observe("scene", 0.2, img(5))[0].predicted[0, 0, 0] == 1
    assert m.pending("wrist") == 1 and m.pending("scene") == 0
    pairs = m.observe("wrist", 0.21, img(6))
    assert [(p.camera, p.predicted[0, 0, 0], p.real[0, 0, 0]) for p in pairs] == [("wrist", 2, 6)]


def test_a_dropped_frame_falls_back_to_the_closer_earlier_frame():
    m = PredictionMatcher(tolerance=0.08)
    feed(m, "c", np.array([0.0, 0.1, 0.2, 0.3, 0.4]))
    m.add(0.3, [0.17], {"c": predicted([9])})  # target 0.47: 0.4 is too early to decide (0.5 would be closer)
    assert m.pending() == 1
    pairs = m.observe("c", 0.55, img(55))  # but 0.5 was dropped: 0.4 (0.07 away) beats 0.55 (0.08)
    assert [(p.real_stamp, p.real[0, 0, 0]) for p in pairs] == [(pytest.approx(0.4), 40)]


def test_no_frame_within_tolerance_is_counted_not_paired():
    m = PredictionMatcher(tolerance=0.02)
    feed(m, "c", np.array([0.0, 0.1, 0.2]))
    m.add(0.0, [0.25], {"c": predicted([1])})
    assert m.observe("c", 0.3, img(3)) == []  # 0.05 away either side
    assert m.stats()["unmatched"] == 1 and m.pending() == 0


def test_a_late_prediction_is_matched_from_history_with_the_next_frame():
    m = PredictionMatcher(tolerance=0.05, history=1.0)
    feed(m, "c", np.arange(0.0, 1.01, 0.1))
    m.add(0.0, [0.8, 1.6], {"c": predicted([1, 2])})  # inference took 1 s: target 0.8 is past
    pairs = m.observe("c", 1.1, img(110))
    assert [(p.offset, p.real_stamp) for p in pairs] == [(0.8, pytest.approx(0.8))]
    assert pairs[0].real[0, 0, 0] == 80
    assert m.pending() == 1  # +1.6 still waits


def test_old_predictions_expire_and_memory_stays_bounded():
    m = PredictionMatcher(tolerance=0.01, horizon=2.0, history=0.5, max_history=8, max_pending=10)
    m.add(0.0, [5.0], {"c": predicted([1])})  # target at 5 s, but the prediction is older than the horizon then
    feed(m, "c", np.arange(0.0, 3.0, 0.1))
    assert m.pending() == 0 and m.stats()["expired"] == 1
    assert len(m._frames["c"]) <= 8
    for k in range(20):
        m.add(3.0, [10.0 + k], {"c": predicted([k])})
    assert m.pending("c") == 10 and m.stats()["expired"] == 11
    for _ in range(100):  # a long run: history never grows past its bound
        feed(m, "c", np.array([m._frames["c"][-1][0] + 0.1]))
    assert len(m._frames["c"]) <= 8


def test_a_clock_jump_back_forgets_the_old_episode():
    m = PredictionMatcher(tolerance=0.05)
    feed(m, "c", np.arange(10.0, 11.0, 0.1))
    m.add(10.9, [0.8], {"c": predicted([1])})
    feed(m, "c", np.arange(0.0, 0.5, 0.1))  # simulator reset
    assert m.pending() == 0
    m.add(0.4, [0.2], {"c": predicted([7])})
    pairs = feed(m, "c", np.arange(0.5, 0.8, 0.1))
    assert [(p.predicted[0, 0, 0], p.real_stamp) for p in pairs] == [(7, pytest.approx(0.6))]


def test_repeated_frames_resolve_nothing_new_and_bad_input_is_refused():
    m = PredictionMatcher(tolerance=0.05)
    feed(m, "c", np.array([0.0, 0.1]))
    m.add(0.0, [0.2], {"c": predicted([1])})
    assert m.observe("c", 0.1, img(1)) == []
    assert m.pending() == 1
    with pytest.raises(ValueError, match="2 frames for 1 offsets"):
        m.add(0.0, [0.2], {"c": predicted([1, 2])})
    with pytest.raises(ValueError, match="tolerance"):
        PredictionMatcher(tolerance=-1.0)


def test_wants_says_which_frames_may_be_paired():
    m = PredictionMatcher(tolerance=0.05)
    m.add(0.0, [0.8], {"scene": predicted([1])})
    assert m.wants("scene", 0.75, 0.1) and m.wants("scene", 0.9, 0.1)
    assert not m.wants("scene", 0.5, 0.1) and not m.wants("wrist", 0.8, 0.1)


def test_a_sparse_stream_does_not_fool_the_frame_period():
    # frames only around targets (a caller rendering on demand, or a camera dropping most frames): the
    # long gaps must not be taken for the frame period, or a frame far from the target would be "the best"
    m = PredictionMatcher(tolerance=0.05)
    feed(m, "c", np.array([3.27, 3.33, 3.4]))
    m.add(3.61, [0.8], {"c": predicted([1])})  # target 4.41
    assert m.observe("c", 4.33, img(1)) == []  # 4.4 may still come
    pairs = m.observe("c", 4.4, img(2))
    assert [(p.real_stamp, p.real[0, 0, 0]) for p in pairs] == [(pytest.approx(4.4), 2)]


def test_the_observed_frame_travels_with_its_pairs_at_the_predicted_size():
    # the surprise monitor needs what "nothing changed" looks like: the frame the prediction was made from
    m = PredictionMatcher(tolerance=0.05)
    feed(m, "scene", np.arange(0.0, 0.5, 0.1))
    seen = img(99, 8)  # the camera frame at the observation, at the camera's size (8 px; predictions are 4 px)
    m.add(0.4, [0.2], {"scene": predicted([11]), "wrist": predicted([12])}, {"scene": seen})
    seen[:] = 0  # the caller's buffer is reused: the matcher kept its own copy
    pairs = feed(m, "scene", np.arange(0.5, 0.7, 0.1)) + feed(m, "wrist", np.arange(0.0, 0.7, 0.1))
    by_cam = {p.camera: p for p in pairs}
    assert by_cam["scene"].observed.shape == (4, 4, 3) and (by_cam["scene"].observed == 99).all()
    assert by_cam["wrist"].observed is None  # no observed frame given for it


def test_a_new_episode_refuses_predictions_from_observations_before_it():
    # a simulator reset teleports the world; a prediction still being computed from the old world must not be
    # compared with the new one's frames
    m = PredictionMatcher(tolerance=0.05)
    feed(m, "scene", np.arange(0.0, 1.0, 0.1))
    m.add(0.5, [0.2], {"scene": predicted([1])})
    m.clear(since=0.95)  # the episode starts at 0.95: the pending prediction is gone ...
    m.add(0.9, [0.2], {"scene": predicted([2])})  # ... and one from before the start, arriving late, refused
    m.add(1.0, [0.2], {"scene": predicted([3])})
    pairs = feed(m, "scene", np.arange(1.0, 1.4, 0.1))
    assert [(p.obs_stamp, int(p.predicted[0, 0, 0])) for p in pairs] == [(1.0, 3)]
    m.clear()  # a plain clear (a jump in time) refuses nothing
    m.add(0.0, [0.1], {"scene": predicted([4])})
    assert m.pending() == 1
