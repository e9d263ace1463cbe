"""PredictionLog: what the graph predicted, paired with the real frame of its time and the frame it was predicted
from, kept only within episodes (ROS-free)."""

from __future__ import annotations

import numpy as np
import pytest

from wam_ros.monitoring.prediction_log import PredictionLog

PERIOD = 1 / 15  # the sim cameras' rate


def frame(stamp: float) -> np.ndarray:
    """A real frame that names its time (hundredths of a second, modulo 256)."""
    return np.full((6, 8, 3), round(stamp * 100) % 256, np.uint8)


def prediction(value: int) -> dict[str, np.ndarray]:
    return {"scene": np.full((2, 4, 4, 3), value, np.uint8)}


def stamps(start: float, end: float) -> list[float]:
    return [round(start + i * PERIOD, 4) for i in range(int((end - start) / PERIOD) + 1)]


def run(log: PredictionLog, start: float, end: float, predictions: dict[float, int], delay: float = 0.1) -> None:
    """Camera frames from ``start`` to ``end``; each prediction (obs stamp -> value) arrives ``delay`` after its
    observation, published twice (the display republishes it as its real frames come)."""
    due = sorted((obs + delay, obs, v) for obs, v in predictions.items())
    for s in stamps(start, end):
        while due and due[0][0] <= s:
            _, obs, v = due.pop(0)
            assert log.add_prediction(obs, [0.8, 1.6], prediction(v))
            assert not log.add_prediction(obs, [0.8, 1.6], prediction(v))
        log.add_frame("scene", s, frame(s))


def test_each_predicted_frame_meets_the_real_frame_of_its_time_and_the_one_it_was_predicted_from():
    log = PredictionLog(tolerance=0.05)
    obs = stamps(0, 1)[6]  # a frame's stamp, as wam_node's observations are
    log.started(0.0)
    run(log, 0.0, 3.0, {obs: 7})
    pairs = log.pairs()
    assert [p.offset for p in pairs] == [0.8, 1.6]
    for p in pairs:
        assert p.camera == "scene" and p.obs_stamp == obs
        assert abs(p.real_stamp - p.target) <= PERIOD / 2 + 1e-9  # the closest frame
        assert p.real[0, 0, 0] == round(p.real_stamp * 100) % 256
        assert p.observed[0, 0, 0] == frame(obs)[0, 0, 0]  # the copy baseline: the frame at the observation
        assert (p.predicted == 7).all()
    assert log.prediction_stamps == [obs] and log.stats()["predictions"] == 1
    assert log.stats()["no_observed_frame"] == 0


def test_a_prediction_arriving_after_its_time_is_still_paired():
    log = PredictionLog(tolerance=0.05)
    log.started(0.0)
    obs = stamps(0, 1)[3]
    run(log, 0.0, 3.0, {obs: 9}, delay=1.0)  # 800 ms of extra latency and some inference: +0.8 s has passed
    assert sorted(p.offset for p in log.pairs()) == [0.8, 1.6]


def test_only_pairs_within_an_episode_are_handed_out():
    log = PredictionLog(tolerance=0.05)
    s = stamps(0, 10)
    # before the first episode (the scene the sim started with): the prediction observed at 0.4 is not judged
    # episode 1.0 .. success at 3.5: the one observed at 2.0 has +0.8 in it and +1.6 (3.6) after the end
    # episode 2 from 4.0 (the last episode's success said again must not end it), to the end
    run(log, 0.0, 1.0, {s[6]: 1})
    log.started(1.0)
    run(log, s[16], 3.5, {s[21]: 2, s[30]: 3})
    log.stopped(3.5)
    run(log, s[53], 4.0, {})
    log.started(4.0)
    log.stopped(3.5)  # stale: before this episode
    run(log, s[61], 7.0, {s[66]: 4})
    kept = {(p.obs_stamp, p.offset) for p in log.pairs()}
    assert kept == {(s[21], 0.8), (s[21], 1.6), (s[30], 0.8), (s[66], 0.8), (s[66], 1.6)}
    assert log.windows == [(1.0, 3.5), (4.0, np.inf)]
    assert log.stats()["pairs"] == 8 and log.stats()["pairs_in_episodes"] == 5
    log.started(7.0)  # a new episode ends the one still running
    assert log.windows == [(1.0, 3.5), (4.0, 7.0), (7.0, np.inf)]


def test_a_pair_whose_observed_frame_never_arrived_is_counted_not_kept():
    log = PredictionLog(tolerance=0.05)
    log.started(0.0)
    s = stamps(0, 3)
    for t in s:
        if t == s[6]:
            log.add_prediction(t, [0.8], {"scene": prediction(5)["scene"][:1]})  # its own frame was lost in transport
            continue
        log.add_frame("scene", t, frame(t))
    assert log.pairs() == [] and log.stats()["no_observed_frame"] == 1


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="history"):
        PredictionLog(0.05, history=0.0)
    with pytest.raises(ValueError, match="tolerance"):
        PredictionLog(-1.0)
