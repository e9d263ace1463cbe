"""PSNR / SSIM / changed-pixel masks (wam_ros.tiny_wam.image_metrics): the numbers the world-model bench reports."""

from __future__ import annotations

import numpy as np
import pytest

from wam_ros.tiny_wam.image_metrics import changed_pixels, mse, psnr, ssim, ssim_map, window_interior


def _image(seed=0, size=(32, 32)):
    rng = np.random.default_rng(seed)
    # smooth structure (not white noise) so SSIM's local statistics mean something
    y, x = np.mgrid[: size[0], : size[1]]
    base = 128 + 60 * np.sin(x / 4.0)[..., None] * np.cos(y / 5.0)[..., None] * np.array([1.0, 0.5, -0.7])
    return np.clip(base + rng.normal(0, 3, (*size, 3)), 0, 255).astype(np.uint8)


def test_psnr_follows_its_definition():
    a = np.zeros((8, 8, 3), np.uint8)
    b = np.full((8, 8, 3), 10, np.uint8)  # MSE 100
    assert mse(a, b) == pytest.approx(100.0)
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 / 100))
    assert psnr(a, a) == float("inf")
    assert psnr(a / 255.0, b / 255.0, data_range=1.0) == pytest.approx(psnr(a, b))


def test_a_mask_restricts_the_error_to_its_pixels():
    a = np.zeros((8, 8, 3), np.uint8)
    b = a.copy()
    b[:2] = 50  # a quarter of the image differs
    mask = np.zeros((8, 8), bool)
    mask[:2] = True
    assert mse(a, b, mask) == pytest.approx(2500.0)
    assert mse(a, b, ~mask) == 0.0
    assert mse(a, b) == pytest.approx(2500.0 / 4)
    assert psnr(a, b, mask) < psnr(a, b)  # the whole frame dilutes the error with unchanged pixels


def test_ssim_is_one_for_identical_images_and_falls_with_distortion():
    a = _image()
    assert ssim(a, a) == pytest.approx(1.0)
    assert np.allclose(ssim_map(a, a), 1.0)
    rng = np.random.default_rng(1)
    mild = np.clip(a + rng.normal(0, 5, a.shape), 0, 255).astype(np.uint8)
    strong = np.clip(a + rng.normal(0, 40, a.shape), 0, 255).astype(np.uint8)
    assert 1.0 > ssim(a, mild) > ssim(a, strong) > 0.0
    assert ssim(a, strong) == pytest.approx(ssim(strong, a))  # symmetric
    flat = np.full_like(a, int(a.mean()))
    assert ssim(a, flat) < ssim(a, mild)  # the mean colour alone has no structure


def test_ssim_of_flat_images_is_the_luminance_term():
    x, y = np.full((16, 16, 3), 100.0), np.full((16, 16, 3), 140.0)
    c1 = (0.01 * 255) ** 2  # no variance: the contrast-structure term is c2 / c2 = 1
    assert ssim(x, y) == pytest.approx((2 * 100 * 140 + c1) / (100**2 + 140**2 + c1))


def test_ssim_over_a_mask_sees_only_the_damaged_region():
    a = _image()
    b = a.copy()
    b[8:16, 8:16] = 255 - b[8:16, 8:16]
    mask = np.zeros(a.shape[:2], bool)
    mask[8:16, 8:16] = True
    assert ssim(a, b, mask) < ssim(a, b) < 1.0
    far = np.zeros_like(mask)
    far[24:, 24:] = True  # more than the window's reach from the damage
    assert ssim(a, b, far) == pytest.approx(1.0, abs=1e-6)


def test_window_interior_keeps_what_lies_outside_a_mask_out_of_ssim():
    a = _image()
    label = np.zeros(a.shape[:2], bool)
    label[:6, :10] = True  # a label drawn over the top-left corner of one of the frames
    b = a.copy()
    b[label] = 0
    inner = window_interior(~label)
    assert not inner[label].any() and inner[20:, 20:].all()
    assert not inner[8, 4] and not inner[3, 14]  # within the window's reach (5 px) of the label
    assert ssim(a, b, ~label) < 1.0  # the label's pixels still reach the SSIM of their neighbours
    assert ssim(a, b, inner) == pytest.approx(1.0, abs=1e-6)
    assert psnr(a, b, inner) == float("inf")
    with pytest.raises(ValueError, match="HxW"):
        window_interior(np.ones((4, 4, 3), bool))


def test_grey_images_work_like_one_channel():
    a = _image()[..., 0]
    b = np.clip(a.astype(int) + 20, 0, 255).astype(np.uint8)
    assert ssim_map(a, b).shape == a.shape
    assert ssim(a, b) == pytest.approx(ssim(a[..., None], b[..., None]))


def test_changed_pixels_threshold_a_share_of_the_range():
    cur = np.zeros((4, 4, 3), np.uint8)
    fut = cur.copy()
    fut[0, 0, 2] = 30  # one channel above 25.5
    fut[1, 1] = 20  # all channels below
    m = changed_pixels(cur, fut)
    assert m.dtype == bool and m.shape == (4, 4)
    assert m.sum() == 1 and m[0, 0]
    assert changed_pixels(cur, fut, threshold=0.05).sum() == 2


def test_bad_inputs_are_refused_with_a_reason():
    a = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="shape"):
        psnr(a, np.zeros((8, 9, 3), np.uint8))
    with pytest.raises(ValueError, match="no pixels"):
        psnr(a, a, np.zeros((8, 8), bool))
    with pytest.raises(ValueError, match="mask shape"):
        ssim(a, a, np.ones((4, 4), bool))
