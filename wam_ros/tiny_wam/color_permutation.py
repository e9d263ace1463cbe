"""Colour-permutation augmentation for colour-word instructions ("reach the red cube").

A policy that must pick an object by its colour sees, per demonstration, one colour
named and one object reached: a few hundred demonstrations give few examples of that
binding, and a small model learns to go to the average object instead. Permuting the
red/green/blue channels of the *saturated* pixels only (the coloured objects; the grey
arm, the tan table and the shading stay as they are) and renaming the colour words the
same way multiplies those examples by six without changing where anything is, so the
actions stay valid.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

COLOR_WORDS = ("red", "green", "blue")  # the dominant channel of each, in RGB order
_WORD = re.compile(r"\b(red|green|blue)\b", re.IGNORECASE)


def saturated_mask(frames: np.ndarray, min_spread: int = 60, min_ratio: float = 2.0) -> np.ndarray:
    """Pixels whose brightest channel clearly dominates: ``uint8 [..., 3] -> bool [...]``."""
    f = frames.astype(np.int16)
    hi, lo = f.max(-1), f.min(-1)
    return ((hi - lo) >= min_spread) & (hi >= min_ratio * lo)


def permute_colors(frames: Sequence[np.ndarray], instruction: str, perm: Sequence[int]) -> tuple[list[np.ndarray], str]:
    """Apply one channel permutation to the saturated pixels of every frame array and rename the
    colour words: new channel k is old channel ``perm[k]``, so an object that was ``COLOR_WORDS[i]``
    becomes ``COLOR_WORDS[k]`` with ``perm[k] == i``. All arrays of one sample must get the same
    ``perm`` (context and future frames show the same scene)."""
    perm = [int(p) for p in perm]
    if sorted(perm) != [0, 1, 2]:
        raise ValueError(f"perm must be a permutation of (0, 1, 2), got {perm}")
    out = []
    for f in frames:
        g = f.copy()
        m = saturated_mask(f)
        g[m] = f[m][:, perm]
        out.append(g)
    renamed = {COLOR_WORDS[p]: COLOR_WORDS[k] for k, p in enumerate(perm)}

    def swap(match: re.Match) -> str:
        word = renamed[match.group(0).lower()]
        return word.capitalize() if match.group(0)[0].isupper() else word

    return out, _WORD.sub(swap, instruction)


def random_permutation(rng: np.random.Generator) -> list[int]:
    return rng.permutation(3).tolist()
