"""The /wam/predicted_frames filmstrip: path overlay, predicted/real comparison, and the display state (no ROS)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from test_path_overlay import SCENE, WRIST, reach_path

from wam_ros.camera.pinhole import PinholeCamera
from wam_ros.visualization.filmstrip import (
    difference_tile,
    make_filmstrip,
    observed_only_strip,
    predicted_from_strip,
    predicted_pixels,
    psnr,
)
from wam_ros.visualization.prediction_display import PredictionDisplay

T = 96  # tile size
OFFSETS = [0.8, 1.6]
GREY = 128


@dataclass(frozen=True)
class Pair:
    """What the matcher hands out (wam_ros.monitoring.prediction_matching.FramePair), the fields the display reads."""

    camera: str
    obs_stamp: float
    offset: float
    real: np.ndarray


def observed() -> dict[str, np.ndarray]:
    return {c: np.full((120, 160, 3), GREY, np.uint8) for c in ("scene", "wrist")}


def predicted(value: int = GREY) -> dict[str, np.ndarray]:
    return {c: np.full((2, 64, 64, 3), value, np.uint8) for c in ("scene", "wrist")}


def tile(img: np.ndarray, row: int, col: int) -> np.ndarray:
    return img[row * T : (row + 1) * T, col * T : (col + 1) * T]


def coloured(t: np.ndarray) -> int:
    """Pixels of the path's colours (blue..red; grey frames, black/white labels and rings are not)."""
    rgb = t.astype(int)
    return int(((np.abs(rgb[..., 0] - rgb[..., 2]) > 60) & (rgb[..., 1] < 120)).sum())


def has_label(t: np.ndarray) -> bool:
    box = t[1:12, 2:30]
    return bool((box == 0).any() and (box >= 200).any())


def test_the_path_is_drawn_on_calibrated_cameras_tiles_only():
    img = make_filmstrip(observed(), predicted(), OFFSETS, (T, T), path=reach_path(), calibrations={"scene": SCENE})
    assert img.shape == (2 * T, 3 * T, 3)  # sizes as without the overlay
    for col in range(3):
        assert coloured(tile(img, 0, col)) > 30  # scene: observed and both predicted tiles
        assert coloured(tile(img, 1, col)) == 0  # wrist: no calibration given, no path
        assert has_label(tile(img, 0, col)) and has_label(tile(img, 1, col))
    plain = make_filmstrip(observed(), predicted(), OFFSETS, (T, T))
    assert coloured(plain) == 0 and plain.shape == img.shape


def test_each_tile_marks_its_own_time():
    path = reach_path()
    img = make_filmstrip(observed(), predicted(), OFFSETS, (T, T), path=path, calibrations={"scene": SCENE})
    # the scene camera's path is the same in every tile; the ring around the point of the tile's time is not
    obs, p08, p16 = (tile(img, 0, c) for c in range(3))
    assert (obs != p08).any() and (p08 != p16).any()
    # with the wrist camera the whole path moves: it is seen from the arm's pose at each tile's time
    wrist = make_filmstrip(observed(), predicted(), OFFSETS, (T, T), path=path, calibrations={"wrist": WRIST})
    w0, w16 = tile(wrist, 1, 0), tile(wrist, 1, 2)
    assert coloured(w0) > 30 and coloured(w16) > 30
    assert ((w0 != w16).any(axis=2)).sum() > ((obs != p16).any(axis=2)).sum()


def test_no_comparison_columns_until_real_frames_are_given():
    assert make_filmstrip(observed(), predicted(), OFFSETS, (T, T)).shape == (2 * T, 3 * T, 3)
    # comparing, nothing arrived yet: each predicted tile is followed by a waiting tile and an empty one
    waiting = make_filmstrip(observed(), predicted(), OFFSETS, (T, T), real={})
    assert waiting.shape == (2 * T, 7 * T, 3)
    assert (tile(waiting, 0, 2) != 40).any() and (tile(waiting, 0, 3) == 40).all()  # the note's text / blank


def test_predicted_real_and_difference_side_by_side():
    real_scene = np.full((120, 160, 3), GREY, np.uint8)
    real_scene[60:, :] = 250  # the lower half differs from the prediction
    real = {"scene": {0: np.full((120, 160, 3), GREY, np.uint8), 1: real_scene}}
    img = make_filmstrip(observed(), predicted(), OFFSETS, (T, T), real=real)
    assert img.shape == (2 * T, 7 * T, 3)
    # scene row: [obs | pred +0.8 | real +0.8 | diff +0.8 | pred +1.6 | real +1.6 | diff +1.6]
    assert (tile(img, 0, 2)[T // 2 :, T // 2 :] == GREY).all()  # the real frame (its label at the top)
    assert (tile(img, 0, 3)[20:] == tile(img, 0, 3)[20:][0, 0]).all()  # identical frames: a flat heat map
    assert tile(img, 0, 3)[40:].max() < 10  # ... and dark
    diff = tile(img, 0, 6)
    assert diff[T // 2 + 5 :].mean() > 150 and diff[20 : T // 2 - 5].max() < 10  # bright where they differ
    assert (tile(img, 0, 5)[T // 2 + 5 :] == 250).all()
    # wrist: no real frame yet
    assert (tile(img, 1, 3) == 40).all()


@pytest.mark.parametrize("tile_size", [64, 128, 192])
def test_predicted_frames_read_back_exactly_where_no_label_covers_them(tile_size: int):
    rng = np.random.default_rng(tile_size)
    pred = {c: rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8) for c in ("scene", "wrist")}
    seen = {c: rng.integers(0, 256, (120, 160, 3), dtype=np.uint8) for c in ("scene", "wrist")}
    keep = predicted_pixels(OFFSETS, (64, 64), (tile_size, tile_size))
    assert keep.shape == (2, 64, 64) and 0.85 < keep.mean() < 0.99  # the label's corner only
    assert not keep[:, :3, :3].any() and keep[:, 32:, :].all()
    # plain layout, and the comparison layout ([obs | pred | real | diff] ...) once real frames come
    for real in (None, {}, {"scene": {0: seen["scene"]}}):
        strip = make_filmstrip(seen, pred, OFFSETS, (tile_size, tile_size), real=real)
        got = predicted_from_strip(strip, ["scene", "wrist"], OFFSETS, (64, 64), (tile_size, tile_size))
        for cam in ("scene", "wrist"):
            assert got[cam].shape == (2, 64, 64, 3)
            assert (got[cam][keep] == pred[cam][keep]).all()
            assert (got[cam][~keep] != pred[cam][~keep]).any()  # the label is there, and excluded
    # rows follow the order given: swapped names read the other row
    swapped = predicted_from_strip(make_filmstrip(seen, pred, OFFSETS, (tile_size, tile_size)), ["wrist", "scene"],
                                   OFFSETS, (64, 64), (tile_size, tile_size))
    assert (swapped["wrist"][keep] == pred["scene"][keep]).all()


def test_a_strip_of_another_layout_is_refused_with_the_reason():
    strip = make_filmstrip(observed(), predicted(), OFFSETS, (128, 128))
    with pytest.raises(ValueError, match="whole multiple"):
        predicted_from_strip(strip, ["scene", "wrist"], OFFSETS, (48, 48), (128, 128))
    with pytest.raises(ValueError, match="1 row"):
        predicted_from_strip(strip, ["scene"], OFFSETS, (64, 64), (128, 128))
    with pytest.raises(ValueError, match="tiles per row"):
        predicted_from_strip(strip, ["scene", "wrist"], [0.4, 0.8, 1.6], (64, 64), (128, 128))
    with pytest.raises(ValueError, match="whole multiple"):
        predicted_pixels(OFFSETS, (64, 64), (96, 96))


def test_difference_tile_is_labelled_with_the_psnr_and_grows_with_the_error():
    pred = np.full((64, 64, 3), 100, np.uint8)
    assert psnr(pred, pred) == float("inf")
    small, large = np.full((120, 160, 3), 110, np.uint8), np.full((120, 160, 3), 160, np.uint8)
    assert psnr(pred, small[:64, :64]) == pytest.approx(10 * np.log10(255**2 / 100))
    a, b = difference_tile(pred, small, (T, T)), difference_tile(pred, large, (T, T))
    assert a.shape == (T, T, 3) and has_label(a)
    assert b[30:].mean() > a[30:].mean() > 0


def test_observed_only_strip_draws_the_path_too():
    img = observed_only_strip(observed(), "no predicted frames", (T, T), path=reach_path(),
                              calibrations={"scene": SCENE})
    assert img.shape == (2 * T, 2 * T, 3)
    assert coloured(tile(img, 0, 0)) > 30 and coloured(tile(img, 1, 0)) == 0


def test_display_fills_in_the_shown_predictions_real_frames():
    display = PredictionDisplay({"scene": SCENE, "wrist": WRIST}, (T, T))
    assert PredictionDisplay({}).add_pairs([Pair("scene", 1.0, 0.8, observed()["scene"])]) is None  # none shown
    strip = display.show(5.0, observed(), reach_path(), predicted(), np.array(OFFSETS))
    assert strip.shape == (2 * T, 3 * T, 3) and display.overlay_cameras == ["scene", "wrist"]
    # a pair of an older prediction: the matcher works, so the layout switches to comparing, nothing filled
    stamp, strip = display.add_pairs([Pair("scene", 4.0, 0.8, observed()["scene"])])
    assert stamp == 5.0 and strip.shape == (2 * T, 7 * T, 3) and (tile(strip, 0, 3) == 40).all()
    assert display.add_pairs([Pair("scene", 4.0, 1.6, observed()["scene"])]) is None  # nothing new to draw
    real = np.full((120, 160, 3), 250, np.uint8)
    stamp, strip = display.add_pairs([Pair("wrist", 5.0, 1.6, real)])
    assert stamp == 5.0 and tile(strip, 1, 6)[30:].mean() > 100  # wrist +1.6: the difference is drawn
    assert (tile(strip, 0, 3) == 40).all()  # scene +0.8 still waiting
    stamp, strip = display.add_pairs([Pair("scene", 5.0, 0.8, real)])
    # only the changed camera's row is redrawn; the strip is what composing it whole gives, cameras in order
    whole = make_filmstrip(observed(), predicted(), OFFSETS, (T, T), path=reach_path(),
                           calibrations={"scene": SCENE, "wrist": WRIST}, real={"scene": {0: real}, "wrist": {1: real}})
    np.testing.assert_array_equal(strip, whole)
    # the next prediction starts with waiting tiles (same size), its own pairs fill it
    strip = display.show(6.0, observed(), reach_path(), predicted(), np.array(OFFSETS))
    assert strip.shape == (2 * T, 7 * T, 3) and (tile(strip, 1, 6) == 40).all()
    # a pair can reach the display before its prediction does (the matcher is fed first): it is kept for it
    assert display.add_pairs([Pair("scene", 7.0, 0.8, real)]) is None
    strip = display.show(7.0, observed(), reach_path(), predicted(), np.array(OFFSETS))
    assert tile(strip, 0, 3)[30:].mean() > 100 and (tile(strip, 0, 6) == 40).all()


def test_display_says_which_cameras_get_no_path():
    wide = PinholeCamera("wrist", 1280, 720, WRIST.K, WRIST.pose, "ee")
    display = PredictionDisplay({"wrist": wide}, (T, T))
    frames = {**observed(), "side": np.full((120, 160, 3), GREY, np.uint8)}
    strip = display.show(1.0, frames, reach_path(), note="no predicted frames")
    assert strip.shape == (3 * T, 2 * T, 3) and coloured(strip) == 0
    assert display.overlay_cameras == []
    assert any("'scene' has no calibration" in n for n in display.notes)
    assert any("'side' has no calibration" in n for n in display.notes)
    assert any("1280x720" in n and "160x120" in n for n in display.notes)
    display.show(2.0, frames, reach_path(), note="no predicted frames")
    assert len(display.notes) == 3  # said once
