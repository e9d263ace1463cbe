"""Colour-permutation augmentation: coloured objects swap colours, the rest of the scene and
the geometry stay, and the instruction is renamed consistently with the pixels."""

from __future__ import annotations

import numpy as np
import pytest

from wam_ros.tiny_wam.color_permutation import COLOR_WORDS, permute_colors, saturated_mask


def _scene() -> np.ndarray:
    img = np.zeros((20, 30, 3), np.uint8)
    img[:] = (190, 173, 140)  # tan table
    img[:, 25:] = (140, 145, 158)  # grey arm
    img[2:5, 2:5] = (217, 25, 25)  # red cube
    img[8:11, 2:5] = (25, 178, 38)  # green cube
    img[14:17, 2:5] = (25, 51, 217)  # blue cube
    img[14:17, 10:13] = (110, 13, 13)  # shaded side of a red cube: dark but saturated
    return img


def _dominant(img: np.ndarray, rows: slice, cols: slice) -> str:
    return COLOR_WORDS[int(np.argmax(img[rows, cols].reshape(-1, 3).mean(0)))]


def test_mask_selects_the_coloured_objects_only():
    m = saturated_mask(_scene())
    assert m[2:5, 2:5].all() and m[8:11, 2:5].all() and m[14:17, 2:5].all() and m[14:17, 10:13].all()
    assert m.sum() == 4 * 9  # no table or arm pixel


@pytest.mark.parametrize("perm", [[1, 2, 0], [2, 0, 1], [0, 2, 1], [0, 1, 2]])
def test_named_object_keeps_its_place_and_gets_the_new_name(perm):
    img = _scene()
    (out,), text = permute_colors([img], "Reach the Red cube, not the blue one", perm)
    new_red_name = text.split()[2].rstrip(",").lower()
    # the object the instruction names is still at the red cube's place, now in the colour the text says
    assert _dominant(out, slice(2, 5), slice(2, 5)) == new_red_name
    assert _dominant(out, slice(14, 17), slice(2, 5)) == text.split()[-2]
    assert text.split()[2][0].isupper()  # capitalisation kept
    unsat = ~saturated_mask(img)
    np.testing.assert_array_equal(out[unsat], img[unsat])  # table and arm untouched
    assert out.dtype == np.uint8 and out.shape == img.shape


def test_all_arrays_of_a_sample_get_the_same_permutation_and_inputs_are_not_modified():
    img = _scene()
    before = img.copy()
    (a, b), _ = permute_colors([img, img[None].repeat(2, 0)], "reach the green cube", [2, 0, 1])
    np.testing.assert_array_equal(b[0], a)
    np.testing.assert_array_equal(img, before)


def test_invalid_permutation_is_named():
    with pytest.raises(ValueError, match="perm must be a permutation"):
        permute_colors([_scene()], "reach the red cube", [0, 0, 1])
