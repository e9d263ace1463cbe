"""Plans and the three blending strategies, on hand-made chunks (no ROS, no filter)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wam_ros.control.chunk_blending import (
    AlignedChunk,
    Plan,
    blend_latest,
    blend_rtc,
    blend_temporal_ensemble,
    soft_mask,
)


def _const_chunk(stamp: float, arrival: float, value: float, n: int = 10, period: float = 0.1) -> AlignedChunk:
    times = stamp + period * np.arange(1, n + 1)
    return AlignedChunk(stamp, arrival, times, np.full((n, 2), value))


def test_plan_interpolates_and_holds_without_extrapolating():
    plan = Plan(np.array([1.0, 2.0]), np.array([[0.0, 0.0], [1.0, -2.0]]))
    q, v = plan.sample(1.5)
    np.testing.assert_allclose(q, [0.5, -1.0])
    np.testing.assert_allclose(v, [1.0, -2.0])
    for t, expected in ((0.0, [0.0, 0.0]), (5.0, [1.0, -2.0])):  # held before and after, velocity 0
        q, v = plan.sample(t)
        np.testing.assert_allclose(q, expected)
        np.testing.assert_allclose(v, 0.0)
    np.testing.assert_allclose(plan.sample_many(np.array([0.0, 1.5, 5.0])), [[0, 0], [0.5, -1], [1, -2]])


def test_splice_keeps_the_past_and_makes_a_step():
    old = Plan.hold(0.0, np.zeros(2))
    new = Plan(np.array([1.0, 2.0]), np.array([[1.0, 1.0], [2.0, 2.0]]))
    plan = old.spliced(new, 1.0)
    np.testing.assert_allclose(plan.sample(0.999)[0], 0.0)
    np.testing.assert_allclose(plan.sample(1.0)[0], 1.0)  # the later knot wins at the step
    np.testing.assert_allclose(plan.sample_many(np.array([0.5, 1.0, 1.5])), [[0, 0], [1, 1], [1.5, 1.5]])


def test_soft_masks_go_from_old_to_new_monotonically():
    c = np.linspace(1.0, 0.0, 21)
    for kind in ("linear", "exp"):
        w = soft_mask(c, kind)
        assert w[0] == pytest.approx(1.0) and w[-1] == pytest.approx(0.0)
        assert np.all(np.diff(w) <= 1e-12)
    with pytest.raises(ValueError, match="soft mask"):
        soft_mask(c, "cosine")


def test_latest_takes_the_new_chunk_from_the_switch_time():
    old = Plan.hold(0.0, np.zeros(2))
    chunk = _const_chunk(stamp=0.5, arrival=1.0, value=1.0)
    new = blend_latest(old, chunk, 1.0)
    np.testing.assert_allclose(new.sample(1.0)[0], 1.0)
    # arriving before its first step: the old plan until that step, then the chunk
    early = _const_chunk(stamp=1.0, arrival=1.0, value=2.0)
    new = blend_latest(old, early, 1.0)
    np.testing.assert_allclose(new.sample(1.0)[0], 0.0)
    np.testing.assert_allclose(new.sample(1.1)[0], 2.0)


@pytest.mark.parametrize("k", [0.0, 0.5, -0.5, 3.0])
def test_temporal_ensemble_weights_oldest_first(k):
    old = Plan.hold(0.0, np.zeros(2))
    a = _const_chunk(stamp=0.0, arrival=0.2, value=1.0)  # covers 0.1 .. 1.0
    b = _const_chunk(stamp=0.5, arrival=0.6, value=3.0)  # covers 0.6 .. 1.5
    plan = blend_temporal_ensemble(old, [a, b], 0.6, k)
    w_old, w_new = 1.0, math.exp(-k)
    expected = (1.0 * w_old + 3.0 * w_new) / (w_old + w_new)
    np.testing.assert_allclose(plan.sample(0.8)[0], expected)  # both chunks cover 0.8
    np.testing.assert_allclose(plan.sample(1.3)[0], 3.0)  # only b covers 1.3
    np.testing.assert_allclose(plan.sample(2.0)[0], 3.0)  # held, not extrapolated


def test_rtc_blend_is_frozen_then_soft_masked_then_new():
    old = Plan(np.array([0.0, 10.0]), np.array([[0.0, 0.0], [10.0, 10.0]]))  # moving 1 rad/s
    chunk = _const_chunk(stamp=0.6, arrival=1.0, value=5.0, n=30)
    plan = blend_rtc(old, chunk, freeze_end=1.2, horizon=0.5, mask="linear", t_s=1.0)
    for t in (1.0, 1.1, 1.2):
        np.testing.assert_allclose(plan.sample(t)[0], old.sample(t)[0], atol=1e-12)
    t = 1.45  # halfway through a linear blend
    np.testing.assert_allclose(plan.sample(t)[0], 0.5 * old.sample(t)[0] + 0.5 * 5.0, atol=1e-9)
    for t in (1.7, 2.5):
        np.testing.assert_allclose(plan.sample(t)[0], 5.0, atol=1e-12)
