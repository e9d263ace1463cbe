"""One damped-least-squares step: the inverse-kinematics solve shared by teleop and the scripted expert.

``dq = J^T (J J^T + lambda^2 I)^-1 e``: the joint step that best produces the task-space
error (or twist) ``e``; near a singularity it shrinks instead of exploding. Optional
per-row weights scale both the Jacobian rows and the error, e.g. to let orientation
count less than position. Teleop (wam_ros.teleop.diff_ik) feeds it a twist and locks
joints by zeroing their columns; the scripted expert (wam_ros.sim.scripted_expert)
iterates it towards a pose.
"""

from __future__ import annotations

import numpy as np


def dls_step(jacobian: np.ndarray, error: np.ndarray, damping: float, weights: np.ndarray | None = None) -> np.ndarray:
    """Joint step (n,) for a (m, n) ``jacobian`` and an (m,) task-space ``error``; ``damping`` = lambda > 0."""
    jac = np.asarray(jacobian, dtype=float)
    err = np.asarray(error, dtype=float)
    if jac.ndim != 2 or err.shape != (jac.shape[0],):
        raise ValueError(f"dls_step: jacobian (m, n) and error (m,) expected, got {jac.shape} and {err.shape}")
    if not damping > 0:
        raise ValueError(f"dls_step: damping must be > 0, got {damping}")
    if weights is not None:
        w = np.asarray(weights, dtype=float)
        jac, err = jac * w[:, None], err * w
    m = jac.shape[0]
    return jac.T @ np.linalg.solve(jac @ jac.T + damping**2 * np.eye(m), err)
