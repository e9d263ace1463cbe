"""The simulated task: "reach the <color> cube".

Three 4 cm cubes lie at seeded random, non-overlapping positions on the table in front
of the arm. Success: the end effector stays within ``success_radius`` of the point
``hover_height`` above the target cube's centre for ``hold_time`` seconds. The same
seed always gives the same episode, so evaluations are repeatable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from wam_ros.sim.scene import CUBE_NAMES, CUBE_SIZE, TABLE_TOP_Z


@dataclass(frozen=True)
class TaskConfig:
    x_range: tuple[float, float] = (0.35, 0.62)
    y_range: tuple[float, float] = (-0.28, 0.28)
    min_separation: float = 0.09  # between cube centres (cubes are 0.04 m)
    success_radius: float = 0.03
    hover_height: float = 0.04
    hold_time: float = 0.5
    # Demonstration design: k consecutive seeds share one cube layout and name k different cubes.
    # With 1 (evaluation) every seed is its own layout, and a policy can learn "this layout -> that
    # cube" without reading the instruction; with 3 the same layout appears with every target.
    targets_per_layout: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.targets_per_layout <= len(CUBE_NAMES):
            raise ValueError(f"targets_per_layout must be in [1, {len(CUBE_NAMES)}], got {self.targets_per_layout}")


@dataclass(frozen=True)
class Episode:
    seed: int
    target: str
    objects: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def instruction(self) -> str:
        return f"reach the {self.target.removesuffix('_cube')} cube"


def sample_episode(seed: int, config: TaskConfig | None = None) -> Episode:
    """Cube positions and target for ``seed`` (rejection-sampled, deterministic)."""
    cfg = config or TaskConfig()
    k = cfg.targets_per_layout
    rng = np.random.default_rng(seed // k)
    placed: list[np.ndarray] = []
    while len(placed) < len(CUBE_NAMES):
        xy = np.array([rng.uniform(*cfg.x_range), rng.uniform(*cfg.y_range)])
        if all(np.linalg.norm(xy - p) >= cfg.min_separation for p in placed):
            placed.append(xy)
    z = TABLE_TOP_Z + CUBE_SIZE / 2
    objects = {name: np.array([xy[0], xy[1], z]) for name, xy in zip(CUBE_NAMES, placed)}
    target = CUBE_NAMES[(int(rng.integers(len(CUBE_NAMES))) + seed % k) % len(CUBE_NAMES)]
    return Episode(seed=seed, target=target, objects=objects)


def goal_point(target_position: np.ndarray, config: TaskConfig | None = None) -> np.ndarray:
    """The point the end effector must reach: ``hover_height`` above the cube centre."""
    cfg = config or TaskConfig()
    return np.asarray(target_position, dtype=float) + np.array([0.0, 0.0, cfg.hover_height])


class SuccessMonitor:
    """Tracks the hold timer; ``success`` latches once the goal was held long enough."""

    def __init__(self, config: TaskConfig | None = None) -> None:
        self.config = config or TaskConfig()
        self.reset()

    def reset(self) -> None:
        self.success = False
        self._inside_since: float | None = None

    def update(self, t: float, ee_position: np.ndarray, target_position: np.ndarray) -> bool:
        dist = float(np.linalg.norm(np.asarray(ee_position) - goal_point(target_position, self.config)))
        if dist <= self.config.success_radius:
            if self._inside_since is None:
                self._inside_since = t
            if t - self._inside_since >= self.config.hold_time - 1e-9:
                self.success = True
        else:
            self._inside_since = None
        return self.success
