"""Pick joint positions by name out of a (names, positions) pair, as JointState carries them.

/joint_states may list joints in any order, include joints a consumer does not use
(the mimic finger) or come from a publisher with a subset; every consumer needs the
same strict, named-error selection.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class JointStateError(ValueError):
    """The joint state cannot give the wanted joints; the message names what is wrong."""


def positions_in_order(
    names: Sequence[str], positions: Sequence[float], wanted: Sequence[str], what: str = "joint state"
) -> np.ndarray:
    """Positions of ``wanted`` in that order; raises JointStateError for a length mismatch,
    missing joints or non-finite values (``what`` names the source in the message)."""
    if len(names) != len(positions):
        raise JointStateError(f"{what} has {len(names)} names but {len(positions)} positions")
    index = {n: i for i, n in enumerate(names)}
    missing = [n for n in wanted if n not in index]
    if missing:
        raise JointStateError(f"{what} lacks joint(s) {missing}")
    q = np.array([positions[index[n]] for n in wanted], dtype=float)
    if not np.all(np.isfinite(q)):
        bad = [wanted[i] for i in np.flatnonzero(~np.isfinite(q))]
        raise JointStateError(f"{what} has non-finite position(s) for {bad}")
    return q
