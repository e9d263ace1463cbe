"""Image similarity for judging predicted frames: PSNR and SSIM, over a whole frame or a pixel mask.

Plain numpy (+ OpenCV's Gaussian filter); no ROS, no torch. Frames are HxWx3 (or HxW) arrays
in ``[0, data_range]`` (uint8 frames: 255). A mask is an HxW bool array: the metric is taken over
those pixels only (all channels), e.g. the pixels that changed between the current and a future
frame (``changed_pixels``), where a world model has to get something right that copying the
current frame does not.

* PSNR: ``10 log10(data_range^2 / MSE)``; ``inf`` for identical pixels.
* SSIM (Wang et al. 2004): Gaussian window sigma 1.5 (11x11), K1 = 0.01, K2 = 0.03, per channel,
  the map averaged over channels; the image border is reflected (not cropped), so every pixel has
  an SSIM value and a mask can select any of them.
"""

from __future__ import annotations

import cv2
import numpy as np

SSIM_SIGMA = 1.5
SSIM_WINDOW = 11
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    if a.ndim not in (2, 3):
        raise ValueError(f"images must be HxW or HxWxC, got shape {a.shape}")
    return a.astype(np.float64), b.astype(np.float64)


def _checked_mask(mask: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    if mask is None:
        return None
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match the image's {shape[:2]}")
    if not mask.any():
        raise ValueError("mask selects no pixels")
    return mask


def mse(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean squared error over all pixels and channels, or over the ``mask``ed pixels."""
    x, y = _pair(a, b)
    m = _checked_mask(mask, x.shape)
    err = (x - y) ** 2
    return float(err.mean() if m is None else err[m].mean())


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB (``inf`` when the selected pixels are identical)."""
    e = mse(a, b, mask)
    return float("inf") if e == 0.0 else float(10.0 * np.log10(data_range**2 / e))


def ssim_map(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> np.ndarray:
    """Per-pixel SSIM, HxW (averaged over channels), 1 where the images are identical."""
    x, y = _pair(a, b)
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]

    def blur(img: np.ndarray) -> np.ndarray:
        out = cv2.GaussianBlur(img, (SSIM_WINDOW, SSIM_WINDOW), SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)
        return out.reshape(img.shape)

    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean(axis=-1)


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None, data_range: float = 255.0) -> float:
    """Mean SSIM over the whole image or the ``mask``ed pixels (the window still sees their neighbours)."""
    s = ssim_map(a, b, data_range)
    m = _checked_mask(mask, s.shape)
    return float(s.mean() if m is None else s[m].mean())


def window_interior(mask: np.ndarray) -> np.ndarray:
    """HxW bool: the pixels of ``mask`` whose whole SSIM window lies in ``mask`` (the border reflected, as SSIM
    does). Judging only these keeps the pixels outside ``mask`` (a label drawn over a frame) out of every value."""
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2:
        raise ValueError(f"mask must be HxW, got shape {m.shape}")
    kernel = np.ones((SSIM_WINDOW, SSIM_WINDOW), np.uint8)
    return cv2.erode(m.astype(np.uint8), kernel, borderType=cv2.BORDER_REFLECT).astype(bool)


def changed_pixels(
    current: np.ndarray, future: np.ndarray, threshold: float = 0.1, data_range: float = 255.0
) -> np.ndarray:
    """HxW bool: pixels where any channel of ``future`` differs from ``current`` by more than
    ``threshold * data_range`` (default: a tenth of the range, 25.5 grey levels on uint8)."""
    x, y = _pair(current, future)
    diff = np.abs(y - x)
    if diff.ndim == 3:
        diff = diff.max(axis=-1)
    return diff > threshold * data_range
