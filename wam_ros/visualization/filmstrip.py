"""The predicted-futures filmstrip: the observed frame then the K predicted frames.

One row per camera, each tile labelled with its time offset ("obs", "+0.8s"), so an
operator sees in RViz what the model expects its action chunk to do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np


def _label(tile: np.ndarray, text: str) -> None:
    scale = max(0.3, tile.shape[0] / 256)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(tile, (0, 0), (tw + 4, th + 6), (0, 0, 0), -1)
    cv2.putText(tile, text, (2, th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def _tile(img: np.ndarray, text: str, tile_size: tuple[int, int]) -> np.ndarray:
    """One frame resized to ``tile_size`` (h, w) with its label."""
    th, tw = tile_size
    tile = cv2.resize(np.ascontiguousarray(img, dtype=np.uint8), (tw, th), interpolation=cv2.INTER_NEAREST)
    _label(tile, text)
    return tile


def make_filmstrip(
    observed: Mapping[str, np.ndarray],
    predicted: Mapping[str, np.ndarray],
    offsets: Sequence[float] | np.ndarray,
    tile_size: tuple[int, int] = (128, 128),
    cameras: Sequence[str] | None = None,
) -> np.ndarray:
    """RGB uint8 image: per camera a row [observed | predicted_0 | ... | predicted_K-1].

    ``observed``: camera -> HxWx3; ``predicted``: camera -> (K, h, w, 3); ``offsets``: (K,)
    seconds after the observation; every tile is resized to ``tile_size`` (h, w).
    """
    cams = list(cameras) if cameras is not None else [c for c in predicted if c in observed]
    if not cams:
        raise ValueError("no camera has both an observed and predicted frames")
    offsets = [float(o) for o in offsets]
    rows = []
    for cam in cams:
        pred = np.asarray(predicted[cam])
        if pred.ndim != 4 or pred.shape[0] != len(offsets):
            raise ValueError(f"camera '{cam}': {pred.shape} predicted frames for {len(offsets)} offsets")
        tiles = []
        for img, text in [(observed[cam], f"{cam} obs"), *((p, f"+{o:.1f}s") for p, o in zip(pred, offsets))]:
            tiles.append(_tile(img, text, tile_size))
        rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)


def observed_only_strip(observed: Mapping[str, np.ndarray], note: str,
                        tile_size: tuple[int, int] = (128, 128)) -> np.ndarray:
    """Per camera [observed | a tile saying ``note``]: for backends that predict no frames, so the
    filmstrip says so instead of going silent."""
    th, tw = tile_size
    rows = []
    for cam, img in observed.items():
        tile = _tile(img, f"{cam} obs", tile_size)
        blank = np.full((th, tw, 3), 40, np.uint8)
        scale = max(0.3, th / 384)
        y = th // 3
        for line in _wrap(note, max(8, int(tw / (11 * scale)))):
            cv2.putText(blank, line, (4, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (230, 230, 230), 1, cv2.LINE_AA)
            y += int(22 * scale) + 4
        rows.append(np.concatenate([tile, blank], axis=1))
    return np.concatenate(rows, axis=0)


def _wrap(text: str, width: int) -> list[str]:
    lines, cur = [], ""
    for word in text.split():
        if cur and len(cur) + 1 + len(word) > width:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}".strip()
    return [*lines, cur] if cur else lines
