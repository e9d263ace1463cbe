"""Surprise scoring (prediction error and predicted change not seen, normalised by their usual values), the
alarm's hysteresis, the bridge's surprise actions in the supervisor, and the simulated disturbances (ROS-free)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wam_ros.monitoring.frozen_camera import FrozenCameraCheck
from wam_ros.monitoring.prediction_matching import FramePair
from wam_ros.monitoring.surprise import (
    FROZEN_SCORE,
    SurpriseAlarm,
    SurpriseMonitor,
    SurpriseScorer,
    block_maps,
    pair_features,
)
from wam_ros.robot.model import RobotModel
from wam_ros.robot.trajectory import Trajectory
from wam_ros.safety.checks import SafetyChecker
from wam_ros.safety.supervisor import SafetyState, SafetySupervisor
from wam_ros.safety.surprise_action import SurpriseGate
from wam_ros.sim.disturbances import KINDS, Disturbance
from wam_ros.sim.sim_env import SimEnv

RNG = np.random.default_rng(0)
SCENE = RNG.integers(60, 200, (64, 64, 3)).astype(np.uint8)


def noisy(img: np.ndarray, sigma: float) -> np.ndarray:
    return np.clip(img + RNG.normal(0, sigma, img.shape), 0, 255).astype(np.uint8)


def pair(predicted: np.ndarray, real: np.ndarray, camera: str = "scene", offset: float = 0.8,
         stamp: float = 0.0, observed: np.ndarray | None = None) -> FramePair:
    return FramePair(camera, stamp - offset, offset, predicted, real, stamp, observed)


def with_patch(img: np.ndarray, row: int, col: int, size: int = 8, colour=(200, 30, 30)) -> np.ndarray:
    """``img`` with a ``size`` px square (an arm link, a cube) at pixel (row, col)."""
    out = img.copy()
    out[row:row + size, col:col + size] = colour
    return out


def trained(sigma: float, n: int = 40, **kw) -> SurpriseScorer:
    sc = SurpriseScorer(warmup=n, **kw)
    for _ in range(n):
        assert math.isnan(sc.score(pair(SCENE, noisy(SCENE, sigma))).score)  # warming up: no score yet
    return sc


def test_the_error_splits_into_unexpected_change_and_predicted_change_that_did_not_happen():
    big = np.repeat(np.repeat(SCENE, 2, 0), 2, 1)
    assert pair_features(pair(SCENE, big))[0] < 1e-4  # same picture, other resolution: no error
    assert np.isnan(pair_features(pair(SCENE, SCENE))[1])  # no observed frame: no missed change
    before = with_patch(SCENE, 20, 10)  # the arm now ...
    after = with_patch(SCENE, 20, 30)  # ... and where the chunk takes it
    happened = pair_features(pair(after, after, observed=before))
    assert np.abs(happened).max() < 1e-6  # as predicted: neither
    unexpected, missed = pair_features(pair(after, before, observed=before))  # predicted to move, stayed
    assert missed > 1e-3 and abs(unexpected) < 1e-6
    unexpected, missed = pair_features(pair(before, with_patch(before, 40, 40, colour=(20, 200, 20)), observed=before))
    assert unexpected > 1e-3 and abs(missed) < 1e-6  # reality changed where nothing was predicted
    assert np.abs(pair_features(pair(before, before, observed=before))).max() < 1e-6  # at rest, predicted so
    # the two halves add up to the squared error, block by block
    real = with_patch(SCENE, 22, 25)
    maps = block_maps(pair(after, real, observed=before))
    np.testing.assert_allclose(maps[0] + maps[1], block_maps(pair(after, real))[0], atol=1e-6)


def test_scores_are_in_units_of_the_usual_error_so_they_mean_the_same_across_scenes():
    # A sharp model (small usual error) and a blurry one (large usual error): the same *relative*
    # departure scores alike, and what is usual for either scores low.
    for sigma in (3.0, 20.0):
        sc = trained(sigma)
        usual = [sc.score(pair(SCENE, noisy(SCENE, sigma))).score for _ in range(30)]
        assert np.median(usual) < 4.0
        odd = SCENE.copy()
        odd[24:32, 24:32] = 0  # a dark object appears in one block
        assert sc.score(pair(SCENE, noisy(odd, sigma))).score > 8.0
    sharp, blurry = trained(3.0), trained(20.0)
    shifted = noisy(SCENE, 20.0)  # the blurry model's usual error is a big surprise to the sharp one
    assert sharp.score(pair(SCENE, shifted)).score > 3 * blurry.score(pair(SCENE, shifted)).score


def test_a_surprise_is_located_at_the_image_block_where_prediction_and_reality_differ():
    sc = trained(5.0)
    s = sc.score(pair(SCENE, noisy(with_patch(SCENE, 0, 0, colour=(255, 255, 255)), 5.0)))
    assert s.block == (0, 0) and s.score > 8.0 and s.unexpected == pytest.approx(s.score)  # no observed frame


def test_a_blocked_arm_scores_most_by_its_missed_change():
    # Normal chunks: the arm moves as predicted but the model draws it 0-2 px off, so some error is usual.
    # Blocked: the arm stays where it was: the whole predicted change is missing, and nothing happened that
    # was not predicted.
    sc = SurpriseScorer(warmup=30)
    for k in range(30):
        col = 10 + k % 7
        before, after = with_patch(SCENE, 20, col), with_patch(SCENE, 20, col + 20)
        sc.score(pair(after, noisy(with_patch(SCENE, 20, col + 20 + k % 3), 3.0), observed=before))
    before, after = with_patch(SCENE, 20, 12), with_patch(SCENE, 20, 32)
    normal = sc.score(pair(after, noisy(with_patch(SCENE, 20, 33), 3.0), observed=before))
    blocked = sc.score(pair(after, noisy(before, 3.0), observed=before))
    assert normal.score < 4.0
    assert blocked.missed > 8.0 and blocked.unexpected < 2.0 and blocked.score > 8.0


def test_a_picture_that_stays_identical_while_the_arm_moves_is_a_frozen_camera():
    check = FrozenCameraCheck(min_motion=0.05)
    big = np.repeat(np.repeat(SCENE, 4, 0), 4, 1)  # the frame at the camera's size, as the node gets it
    q = np.zeros(6)
    assert not check.update("scene", 0.0, big, q)
    for k in range(1, 6):  # a still arm and a still picture: a still scene, no fault
        assert not check.update("scene", 0.1 * k, big, q)
    assert not check.update("scene", 0.6, big, q + np.array([0.03, 0, 0, 0, 0, 0]))  # moved less than min_motion
    assert check.update("scene", 0.7, big, q + np.array([0.0, 0.06, 0, 0, 0, 0]))  # 0.06 rad and the picture unchanged
    assert check.moved("scene") == pytest.approx(0.06) and check.unchanged_for("scene", 0.7) == pytest.approx(0.7)
    assert not check.update("wrist", 0.7, big, q + 1.0)  # cameras are checked apart
    one_off = big.copy()
    one_off[0, 0, 0] += 1  # a single pixel value changed: a live camera (sensor noise does as much)
    assert not check.update("scene", 0.8, one_off, q + 0.5)
    assert not check.update("scene", 0.9, one_off, q + 0.6)  # one frame re-sent as the arm moved: a hiccup
    assert check.update("scene", 1.0, one_off, q + 0.6)  # the third frame of it: frozen
    assert not check.update("scene", 1.1, one_off, None)  # joints unknown: nothing claimed, the count forgotten
    assert not check.update("scene", 1.2, one_off, q + 1.0)
    with pytest.raises(ValueError, match="min_motion"):
        FrozenCameraCheck(min_motion=0.0)
    with pytest.raises(ValueError, match="min_frames"):
        FrozenCameraCheck(min_frames=1)


def test_a_frozen_camera_scores_above_any_threshold_without_statistics():
    mon = SurpriseMonitor(SurpriseScorer(warmup=5), SurpriseAlarm(threshold=900.0, clear=400.0),
                          FrozenCameraCheck(min_motion=0.05))
    assert mon.frame("wrist", 0.0, SCENE, np.zeros(6)) is None
    assert mon.frame("wrist", 0.25, SCENE, np.full(6, 0.1)) is None
    stuck = mon.frame("wrist", 0.5, SCENE, np.full(6, 0.2))
    assert stuck is not None and stuck.frozen and stuck.score == FROZEN_SCORE and stuck.offset == pytest.approx(0.5)
    score, alarm, scores = mon.update([pair(SCENE, noisy(SCENE, 3.0))], [stuck])  # the pair still warms up
    assert score == FROZEN_SCORE and alarm and [s.frozen for s in scores] == [False, True]
    assert "wrist@0.50" not in mon.scorer.stats  # nothing learned from it


def test_statistics_are_kept_per_camera_and_offset_and_surprises_are_not_learned():
    sc = trained(3.0)
    assert sc.warm("scene", 0.8) and not sc.warm("scene", 1.6) and not sc.warm("wrist", 0.8)
    assert math.isnan(sc.score(pair(SCENE, noisy(SCENE, 3.0), offset=1.6)).score)
    dark = np.zeros_like(SCENE)
    before = sc.stats["scene@0.80"].mean.copy()
    for _ in range(50):
        assert sc.score(pair(SCENE, dark)).score > 8.0  # stays surprising: never learned
    assert np.array_equal(sc.stats["scene@0.80"].mean, before)


def test_calibration_saves_and_loads(tmp_path):
    sc = SurpriseScorer(warmup=10)
    sc.calibrate(pair(SCENE, noisy(SCENE, 3.0)) for _ in range(10))
    assert sc.warm("scene", 0.8)
    sc.save(tmp_path / "cal.json")
    other = SurpriseScorer(warmup=10, learn=False)
    other.load(tmp_path / "cal.json")
    p = pair(SCENE, noisy(SCENE, 10.0))
    assert other.score(p).score == pytest.approx(sc.score(p).score)
    with pytest.raises(ValueError, match=r"cal\.json.*sigma 1\.5, grid 8.*sigma 3\.0, grid 8: calibrate again"):
        SurpriseScorer(sigma=3.0).load(tmp_path / "cal.json")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match=r"bad\.json"):
        SurpriseScorer().load(tmp_path / "bad.json")


def test_alarm_needs_consecutive_scores_and_clears_with_hysteresis():
    a = SurpriseAlarm(threshold=6.0, clear=4.0, on_count=2, off_count=3)
    assert [a.update(s) for s in (7, 1, 7, 5)] == [False, False, False, False]  # never two in a row above
    assert [a.update(s) for s in (7, 8)] == [False, True]
    # between clear and threshold it stays on; off only after three in a row below clear
    assert [a.update(s) for s in (5, 3, 3, 5, 3, 3, 3)] == [True, True, True, True, True, True, False]
    assert a.update(float("nan")) is False  # warming-up scores change nothing
    with pytest.raises(ValueError, match="clear <= threshold"):
        SurpriseAlarm(threshold=3.0, clear=4.0)


def test_monitor_scores_a_batch_by_its_most_surprising_pair():
    m = SurpriseMonitor(trained(3.0), SurpriseAlarm(on_count=1))
    odd = SCENE.copy()
    odd[:, :32] = 0
    score, alarm, scores = m.update([pair(SCENE, noisy(SCENE, 3.0)), pair(SCENE, odd)])
    assert score == max(s.score for s in scores) == scores[1].score and alarm


# ---------------------------------------------------------------------- the bridge's surprise actions
@pytest.fixture(scope="module")
def robot() -> RobotModel:
    return RobotModel.load()


def active_supervisor(robot: RobotModel) -> tuple[SafetySupervisor, np.ndarray]:
    sup = SafetySupervisor(SafetyChecker(robot))
    q = np.array([0.0, 0.3, 1.6, 0.0, 1.24, 0.0, 0.04])
    sup.update_joint_state(list(robot.actuated_joints), q, None, 0.0)
    assert sup.arm(0.0).ok
    return sup, q


def command(robot: RobotModel, q: np.ndarray, now: float, dq: float = 0.05) -> Trajectory:
    target = q.copy()
    target[0] += dq
    return Trajectory(now, robot.actuated_joints, np.array([0.5, 1.0]), np.vstack([q, target]))


def test_hold_stops_and_holds_back_commands_until_the_alarm_clears(robot):
    sup, q = active_supervisor(robot)
    gate = SurpriseGate("hold", timeout=1.0)
    sup.update_joint_state(list(robot.actuated_joints), q, None, 0.01)
    assert sup.command(command(robot, q, 0.01), 0.01).ok and sup.state is SafetyState.ACTIVE
    gate.update(12.0, 6.0, True, steady=0.02)
    reply = gate.apply(sup, 0.02, 0.02)
    assert reply is not None and sup.state is SafetyState.ARMED and sup.surprise_hold
    assert "surprise alarm" in reply.message and reply.outputs  # a controlled stop was sent
    refused = sup.command(command(robot, q, 0.1), 0.1)
    assert not refused.ok and "held back: surprise alarm" in refused.message and "score 12.0" in refused.message
    gate.update(1.0, 6.0, False, steady=0.2)
    assert gate.apply(sup, 0.2, 0.2) is not None and not sup.surprise_hold
    sup.update_joint_state(list(robot.actuated_joints), q, None, 0.3)
    assert sup.command(command(robot, q, 0.3), 0.3).ok


def test_slow_scales_speed_on_top_of_speed_scaling_and_none_does_nothing(robot):
    sup, _q = active_supervisor(robot)
    sup.set_speed_scaling(0.8, 0.0)
    gate = SurpriseGate("slow", slow_factor=0.25, timeout=1.0)
    gate.update(12.0, 6.0, True, steady=0.0)
    gate.apply(sup, 0.0, 0.0)
    assert sup.checker.speed_scaling == pytest.approx(0.2) and not sup.surprise_hold
    sup.set_speed_scaling(0.4, 0.1)  # the operator's scaling still applies, times the surprise factor
    assert sup.checker.speed_scaling == pytest.approx(0.1)
    gate.update(1.0, 6.0, False, steady=0.2)
    gate.apply(sup, 0.2, 0.2)
    assert sup.checker.speed_scaling == pytest.approx(0.4)
    none = SurpriseGate("none")
    none.update(50.0, 6.0, True, steady=0.3)
    assert none.apply(sup, 0.3, 0.3) is None and sup.checker.speed_scaling == pytest.approx(0.4)
    assert not sup.surprise_hold and none.warning(0.3) == ""


def test_a_stale_or_absent_alarm_neither_holds_nor_blocks(robot):
    sup, _q = active_supervisor(robot)
    gate = SurpriseGate("hold", timeout=1.0)
    assert gate.apply(sup, 0.0, 0.0) is None and "no surprise input yet" in gate.warning(0.0)
    gate.update(12.0, 6.0, True, steady=0.0)
    gate.apply(sup, 0.0, 0.0)
    assert sup.surprise_hold
    assert gate.apply(sup, 2.0, 2.0) is not None and not sup.surprise_hold  # the monitor went quiet: let go
    assert "stale" in gate.warning(2.0)
    with pytest.raises(ValueError, match="surprise_action 'stop'"):
        SurpriseGate("stop")


# ---------------------------------------------------------------------- disturbances
@pytest.fixture(scope="module")
def env() -> SimEnv:
    return SimEnv()


def test_cube_moved_and_removed_edit_the_world_and_revert(env):
    env.reset(1000)
    before = env.arm.object_positions()["red_cube"]
    d = Disturbance("cube_moved", cube="red_cube", distance=0.1)
    d.apply(env.arm)
    moved = env.arm.object_positions()["red_cube"]
    assert abs(np.linalg.norm(moved[:2] - before[:2]) - 0.1) < 1e-9
    r = Disturbance("cube_removed", cube="green_cube")
    green = env.arm.object_positions()["green_cube"]
    r.apply(env.arm)
    env.step(0.1)
    assert env.arm.object_positions()["green_cube"][2] < -1.0  # out of every view
    r.revert(env.arm)
    assert np.allclose(env.arm.object_positions()["green_cube"], green)


def reach(env: SimEnv, d: Disturbance | None, dq: float = 0.3) -> np.ndarray:
    env.reset(1000)
    q0 = env.arm.actuated_positions()
    if d is not None:
        d.apply(env.arm)
    target = q0.copy()
    target[0] += dq
    env.command_positions(target)
    env.step(1.0)
    out = env.arm.actuated_positions() - target
    if d is not None:
        d.revert(env.arm)
    return out


def test_a_blocked_arm_does_not_follow_and_a_payload_makes_it_sag(env):
    assert np.abs(reach(env, None)).max() < 0.01
    assert abs(reach(env, Disturbance("arm_blocked"))[0]) > 0.25  # barely moved toward the target
    sag = reach(env, Disturbance("heavy_payload", payload=2.0), dq=0.0)
    assert np.abs(sag).max() > 0.1
    assert np.abs(reach(env, None)).max() < 0.01  # reverted: the arm is itself again


def test_camera_edits_touch_only_their_camera():
    img = {"scene": SCENE.copy(), "wrist": SCENE.copy()}
    occ = Disturbance("camera_occluded", camera="scene", occlusion=0.5).edit_images(img)
    assert (occ["scene"][:, :32] == (30, 26, 24)).all() and np.array_equal(occ["scene"][:, 32:], SCENE[:, 32:])
    assert occ["wrist"] is img["wrist"]
    frozen = Disturbance("camera_frozen", camera="wrist")
    first = frozen.edit_images(img)["wrist"]
    later = frozen.edit_images({"scene": SCENE, "wrist": np.zeros_like(SCENE)})["wrist"]
    assert np.array_equal(first, SCENE) and np.array_equal(later, SCENE)
    with pytest.raises(ValueError, match="must be one of"):
        Disturbance("earthquake")
    assert set(KINDS) == {"cube_moved", "cube_removed", "arm_blocked", "heavy_payload", "camera_occluded",
                          "camera_frozen"}
