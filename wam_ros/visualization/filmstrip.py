"""The predicted-futures filmstrip: the observed frame then the K predicted frames.

One row per camera, each tile labelled with its time offset ("obs", "+0.8s"), so an
operator sees in RViz what the model expects its action chunk to do. With a calibrated
camera and the chunk's path, every tile also shows the end-effector path as that camera
sees it at the tile's time (``wam_ros.visualization.path_overlay``). Once real frames
are compared, each predicted tile is followed by the real frame that arrived for its time
and their amplified difference: ``[obs | pred +t1 | real +t1 | diff +t1 | pred +t2 | ...]``.
``predicted_from_strip`` reads the predicted frames back out of a strip (for a benchmark that
sees only the topic).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from wam_ros.camera.pinhole import PinholeCamera
from wam_ros.visualization.path_overlay import ChunkPath, draw_path

#: |predicted - real| is multiplied by this before colour-mapping, so small errors show.
DIFF_GAIN = 4.0
#: The heat map's colours (inferno, RGB) as a lookup table: one table lookup per pixel.
_HEAT = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], cv2.COLORMAP_INFERNO)[:, 0, ::-1].copy()


def _label(tile: np.ndarray, text: str) -> None:
    scale = max(0.3, tile.shape[0] / 256)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(tile, (0, 0), (tw + 4, th + 6), (0, 0, 0), -1)
    cv2.putText(tile, text, (2, th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def _resized(img: np.ndarray, tile_size: tuple[int, int]) -> np.ndarray:
    th, tw = tile_size
    return cv2.resize(np.ascontiguousarray(img, dtype=np.uint8), (tw, th), interpolation=cv2.INTER_NEAREST)


def _tile(img: np.ndarray, text: str, tile_size: tuple[int, int], camera: PinholeCamera | None = None,
          path: ChunkPath | None = None, at_time: float = 0.0) -> np.ndarray:
    """One frame resized to ``tile_size`` (h, w), the path drawn as ``camera`` sees it at ``at_time``
    (when both are given), and its label."""
    tile = _resized(img, tile_size)
    if camera is not None and path is not None:
        draw_path(tile, camera, path, at_time)
    _label(tile, text)
    return tile


def _note_tile(note: str, tile_size: tuple[int, int]) -> np.ndarray:
    """A dark tile saying ``note`` (word-wrapped)."""
    th, tw = tile_size
    blank = np.full((th, tw, 3), 40, np.uint8)
    scale = max(0.3, th / 384)
    y = th // 3
    for line in _wrap(note, max(8, int(tw / (11 * scale)))):
        cv2.putText(blank, line, (4, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (230, 230, 230), 1, cv2.LINE_AA)
        y += int(22 * scale) + 4
    return blank


def psnr(predicted: np.ndarray, real: np.ndarray) -> float:
    """PSNR [dB] of ``predicted`` against ``real`` (uint8 images of the same shape)."""
    mse = float(np.mean((predicted.astype(np.float32) - real.astype(np.float32)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def difference_tile(predicted: np.ndarray, real: np.ndarray, tile_size: tuple[int, int]) -> np.ndarray:
    """|predicted - real| x DIFF_GAIN as a heat map (black: equal, yellow: far), labelled with the PSNR.

    The real frame is first brought to the predicted frame's size (area averaging), the size the model
    predicts at, so the difference is the model's error and not resampling noise."""
    ph, pw = predicted.shape[:2]
    real_small = cv2.resize(np.ascontiguousarray(real, dtype=np.uint8), (pw, ph), interpolation=cv2.INTER_AREA)
    diff = np.abs(predicted.astype(np.int16) - real_small.astype(np.int16)).mean(axis=2)
    heat = _HEAT[np.clip(diff * DIFF_GAIN, 0, 255).astype(np.uint8)]
    tile = _resized(heat, tile_size)
    db = psnr(predicted, real_small)
    _label(tile, "diff: none" if np.isinf(db) else f"diff {db:.1f}dB")
    return tile


def make_filmstrip(
    observed: Mapping[str, np.ndarray],
    predicted: Mapping[str, np.ndarray],
    offsets: Sequence[float] | np.ndarray,
    tile_size: tuple[int, int] = (128, 128),
    cameras: Sequence[str] | None = None,
    *,
    path: ChunkPath | None = None,
    calibrations: Mapping[str, PinholeCamera] | None = None,
    real: Mapping[str, Mapping[int, np.ndarray]] | None = None,
) -> np.ndarray:
    """RGB uint8 image: per camera a row [observed | predicted_0 | ... | predicted_K-1].

    ``observed``: camera -> HxWx3; ``predicted``: camera -> (K, h, w, 3); ``offsets``: (K,)
    seconds after the observation; every tile is resized to ``tile_size`` (h, w).
    ``path`` with ``calibrations`` (camera -> calibration): the chunk's end-effector path is drawn on
    the calibrated cameras' tiles. ``real`` (camera -> {k: the real frame for offsets[k]}), even empty:
    each predicted tile is followed by its real frame and their difference (a "waiting" tile while the
    real frame has not arrived), so the layout stays the same while the comparison fills in.
    """
    cams = list(cameras) if cameras is not None else [c for c in predicted if c in observed]
    if not cams:
        raise ValueError("no camera has both an observed and predicted frames")
    calibrations = calibrations or {}
    return np.concatenate([
        filmstrip_row(cam, observed[cam], predicted[cam], offsets, tile_size, path=path,
                      calibration=calibrations.get(cam), real=None if real is None else real.get(cam, {}))
        for cam in cams
    ], axis=0)


def filmstrip_row(
    camera: str,
    observed: np.ndarray,
    predicted: np.ndarray,
    offsets: Sequence[float] | np.ndarray,
    tile_size: tuple[int, int] = (128, 128),
    *,
    path: ChunkPath | None = None,
    calibration: PinholeCamera | None = None,
    real: Mapping[int, np.ndarray] | None = None,
) -> np.ndarray:
    """One camera's row of ``make_filmstrip`` (a caller redraws only the row whose real frames changed)."""
    offsets = [float(o) for o in offsets]
    pred = np.asarray(predicted)
    if pred.ndim != 4 or pred.shape[0] != len(offsets):
        raise ValueError(f"camera '{camera}': {pred.shape} predicted frames for {len(offsets)} offsets")
    tiles = [_tile(observed, f"{camera} obs", tile_size, calibration, path, 0.0)]
    for k, (p, o) in enumerate(zip(pred, offsets)):
        tiles.append(_tile(p, _offset_text(o), tile_size, calibration, path, o))
        if real is None:
            continue
        frame = real.get(k)
        if frame is None:
            tiles += [_note_tile(f"real +{o:.1f}s: waiting", tile_size), _note_tile("", tile_size)]
        else:
            tiles += [_tile(frame, f"real +{o:.1f}s", tile_size, calibration, path, o),
                      difference_tile(p, frame, tile_size)]
    return np.concatenate(tiles, axis=1)


def observed_only_strip(observed: Mapping[str, np.ndarray], note: str, tile_size: tuple[int, int] = (128, 128),
                        *, path: ChunkPath | None = None,
                        calibrations: Mapping[str, PinholeCamera] | None = None) -> np.ndarray:
    """Per camera [observed | a tile saying ``note``]: for backends that predict no frames, so the
    filmstrip says so instead of going silent (the chunk's path still drawn on calibrated cameras)."""
    calibrations = calibrations or {}
    rows = [np.concatenate([_tile(img, f"{cam} obs", tile_size, calibrations.get(cam), path),
                            _note_tile(note, tile_size)], axis=1)
            for cam, img in observed.items()]
    return np.concatenate(rows, axis=0)


def _offset_text(offset: float) -> str:
    """A predicted tile's label."""
    return f"+{offset:.1f}s"


def label_footprint(text: str, tile_size: tuple[int, int]) -> np.ndarray:
    """(h, w) bool: the pixels of a ``tile_size`` tile that its label ``text`` covers (box and letters), found
    by drawing it on a black and on a white tile."""
    th, tw = tile_size
    black, white = np.zeros((th, tw, 3), np.uint8), np.full((th, tw, 3), 255, np.uint8)
    _label(black, text)
    _label(white, text)
    return (black != 0).any(axis=2) | (white != 255).any(axis=2)


def predicted_from_strip(
    strip: np.ndarray,
    cameras: Sequence[str],
    offsets: Sequence[float] | np.ndarray,
    frame_size: tuple[int, int],
    tile_size: tuple[int, int] = (128, 128),
) -> dict[str, np.ndarray]:
    """The predicted frames read back out of a filmstrip (``make_filmstrip``'s layout, with or without the
    real/difference columns): for someone who sees only ``/wam/predicted_frames``, e.g. a benchmark of the
    running graph.

    ``cameras`` in row order, ``offsets`` the predicted times (K), ``frame_size`` (h, w) the size the model
    predicts at; the tile must be a whole multiple of it, so the nearest-neighbour enlargement is undone
    exactly. Returns camera -> (K, h, w, 3). Exact only where nothing is drawn: ``predicted_pixels`` says
    which pixels the labels leave; a path drawn on the tiles (a calibrated camera) cannot be told from the
    prediction, so read strips of uncalibrated cameras. ValueError when the strip does not have this layout
    (with one offset, an ``observed_only_strip`` looks like a strip of one predicted frame).
    """
    strip, k = np.asarray(strip), len(offsets)
    sy, sx = _enlargement(frame_size, tile_size)
    th, tw = tile_size
    if strip.ndim != 3 or strip.shape[0] != len(cameras) * th or strip.shape[1] % tw:
        raise ValueError(f"strip of shape {strip.shape} is not {len(cameras)} row(s) of {th}x{tw} tiles")
    columns = strip.shape[1] // tw
    if columns not in (1 + k, 1 + 3 * k):
        raise ValueError(f"strip has {columns} tiles per row: neither 1 + {k} predicted nor 1 + 3 x {k} compared")
    step = 1 if columns == 1 + k else 3  # [obs | pred ...] or [obs | pred | real | diff ...]
    return {
        cam: np.stack([strip[r * th:(r + 1) * th, (1 + step * i) * tw:(2 + step * i) * tw][::sy, ::sx]
                       for i in range(k)])
        for r, cam in enumerate(cameras)
    }


def predicted_pixels(
    offsets: Sequence[float] | np.ndarray, frame_size: tuple[int, int], tile_size: tuple[int, int] = (128, 128)
) -> np.ndarray:
    """(K, h, w) bool: the pixels of each predicted frame that ``predicted_from_strip`` reads back as the model
    made them (False where the tile's label covers any part of the pixel's enlargement)."""
    sy, sx = _enlargement(frame_size, tile_size)
    fh, fw = frame_size
    covered = [label_footprint(_offset_text(float(o)), tile_size).reshape(fh, sy, fw, sx).any(axis=(1, 3))
               for o in offsets]
    return ~np.stack(covered)


def _enlargement(frame_size: tuple[int, int], tile_size: tuple[int, int]) -> tuple[int, int]:
    """Tile / frame size per axis; ValueError unless whole numbers (then nearest-neighbour enlargement is exact)."""
    (th, tw), (fh, fw) = tile_size, frame_size
    if th % fh or tw % fw:
        raise ValueError(f"tile {th}x{tw} is not a whole multiple of the frame size {fh}x{fw}: "
                         "the enlargement cannot be undone exactly")
    return th // fh, tw // fw


def _wrap(text: str, width: int) -> list[str]:
    lines, cur = [], ""
    for word in text.split():
        if cur and len(cur) + 1 + len(word) > width:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}".strip()
    return [*lines, cur] if cur else lines
