"""How overlapping, late action chunks become one raw joint plan (ROS-free).

A *plan* is a function of absolute time giving the raw joint target: piecewise
linear through knots ``(t_k, q_k)`` and held constant before the first and after
the last knot (never extrapolated). A chunk, once aligned to its observation stamp,
is itself a plan over ``[first point, last point]``.

When a chunk arrives at time ``t_s`` the strategy builds the plan for ``t >= t_s``;
the smoother splices it onto the old plan at ``t_s``. Nothing before ``t_s`` is ever
changed, so a step whose time has passed is never replayed. The three strategies:

- ``latest``: the new chunk from ``t_s`` on (the raw plan may jump at ``t_s``).
- ``temporal_ensemble`` (ACT): each future instant averages the predictions of all
  chunks covering it with weights ``exp(-k * i)``, ``i`` = age rank of the chunk
  among those covering the instant, **0 = oldest** (ACT's convention: with k > 0
  the oldest prediction weighs most; k < 0 favours the newest).
- ``rtc_blend`` (real-time chunking for a black-box model, soft-masking variant):
  up to ``t_s + commit`` (the inference delay ``d`` is ``t_s - stamp``; everything
  the robot executed during ``d`` is already committed) the new plan equals the old
  one, over the next ``horizon`` seconds it moves from old to new with a linear or
  exponential soft mask, and after that it is the new chunk.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LATEST, TEMPORAL_ENSEMBLE, RTC_BLEND = "latest", "temporal_ensemble", "rtc_blend"
STRATEGIES = (LATEST, TEMPORAL_ENSEMBLE, RTC_BLEND)
MASKS = ("linear", "exp")


class Plan:
    """Piecewise-linear joint targets over absolute time; holds outside its knots.

    Knot times are non-decreasing; two knots at the same time make a step (the later
    knot wins from that instant on), which is how a raw discontinuity is represented.
    """

    __slots__ = ("_seg", "_slopes", "positions", "times")

    def __init__(self, times: np.ndarray, positions: np.ndarray) -> None:
        self.times = np.asarray(times, dtype=float).reshape(-1)
        self.positions = np.asarray(positions, dtype=float).reshape(self.times.shape[0], -1)
        if self.times.shape[0] == 0:
            raise ValueError("a plan needs at least one knot")
        seg = np.diff(self.times)
        if np.any(seg < 0):
            raise ValueError("plan knot times must be non-decreasing")
        self._seg = seg
        with np.errstate(divide="ignore", invalid="ignore"):
            slopes = np.diff(self.positions, axis=0) / seg[:, None]
        self._slopes = np.where(seg[:, None] > 0, slopes, 0.0)  # a step (zero-length segment) has no slope

    @classmethod
    def hold(cls, t: float, position: np.ndarray) -> Plan:
        """Stand still at ``position`` (from ``t`` on, and before it)."""
        return cls(np.array([t]), np.asarray(position, dtype=float)[None, :])

    @property
    def start_time(self) -> float:
        return float(self.times[0])

    @property
    def end_time(self) -> float:
        return float(self.times[-1])

    @property
    def num_joints(self) -> int:
        return int(self.positions.shape[1])

    def sample(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(position, velocity) at absolute time ``t``; velocity is the segment slope."""
        times = self.times
        i = int(np.searchsorted(times, t, side="right")) - 1
        if i < 0:
            return self.positions[0].copy(), np.zeros(self.num_joints)
        if i >= times.shape[0] - 1:
            return self.positions[-1].copy(), np.zeros(self.num_joints)
        t0, t1 = times[i], times[i + 1]
        q0, q1 = self.positions[i], self.positions[i + 1]
        slope = (q1 - q0) / (t1 - t0)
        return q0 + slope * (t - t0), slope

    def sample_many(self, ts: np.ndarray) -> np.ndarray:
        """Positions (len(ts), J) at many times; same semantics as ``sample`` (steps included)."""
        return self.sample_many_with_velocity(ts)[0]

    def sample_many_with_velocity(self, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions and segment slopes (len(ts), J) at many times (slope 0 outside the knots)."""
        ts = np.asarray(ts, dtype=float).reshape(-1)
        times, pos = self.times, self.positions
        if times.shape[0] == 1:
            return np.repeat(pos, ts.shape[0], axis=0), np.zeros((ts.shape[0], self.num_joints))
        i = np.clip(np.searchsorted(times, ts, side="right") - 1, 0, times.shape[0] - 2)
        into = np.clip(ts - times[i], 0.0, self._seg[i])
        q = pos[i] + into[:, None] * self._slopes[i]
        after = ts >= times[-1]
        q[after] = pos[-1]
        inside = (ts >= times[0]) & ~after
        v = self._slopes[i] * inside[:, None]
        return q, v

    def smoothed(self, t: float, window: float, samples: int = 9) -> tuple[np.ndarray, np.ndarray]:
        """(position, velocity) of the plan averaged with a triangular kernel over ``t ± window``.

        A triangle is a box convolved with a box, so a piecewise-linear plan becomes
        smooth in velocity: the jerk-limited filter can then follow it instead of
        saturating at every knot. Only instants within ``t ± window`` are used.
        """
        if window <= 0:
            return self.sample(t)
        offsets, w = _triangle(window, samples)
        q, v = self.sample_many_with_velocity(t + offsets)
        return w @ q, w @ v

    def trimmed(self, before: float) -> Plan:
        """Drop knots no longer needed to evaluate the plan at times >= ``before``."""
        i = int(np.searchsorted(self.times, before, side="right")) - 1
        if i <= 0:
            return self
        return Plan(self.times[i:], self.positions[i:])

    def spliced(self, new: Plan, t_s: float) -> Plan:
        """This plan before ``t_s``, ``new`` from ``t_s`` on (a step at ``t_s`` if they differ)."""
        keep = self.times < t_s
        q_old, _ = self.sample(t_s)
        new_keep = new.times > t_s
        q_new, _ = new.sample(t_s)
        times = np.concatenate([self.times[keep], [t_s, t_s], new.times[new_keep]])
        pos = np.concatenate([self.positions[keep], q_old[None], q_new[None], new.positions[new_keep]])
        return Plan(times, pos)


@functools.lru_cache(maxsize=16)
def _triangle(window: float, samples: int) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.linspace(-window, window, samples)
    w = 1.0 - np.abs(offsets) / window
    return offsets, w / w.sum()


@dataclass(frozen=True)
class AlignedChunk:
    """A validated chunk on the absolute time axis, in the smoother's joint order."""

    stamp: float  # observation time
    arrival: float  # when the smoother received it
    times: np.ndarray  # (N,) absolute times, strictly increasing
    positions: np.ndarray  # (N, J)

    @property
    def first_time(self) -> float:
        return float(self.times[0])

    @property
    def last_time(self) -> float:
        return float(self.times[-1])

    @property
    def delay(self) -> float:
        """Inference delay d: arrival minus observation stamp."""
        return self.arrival - self.stamp

    def as_plan(self) -> Plan:
        return Plan(self.times, self.positions)

    def covers(self, ts: np.ndarray) -> np.ndarray:
        return (ts >= self.times[0]) & (ts <= self.times[-1])


def soft_mask(c: np.ndarray, kind: str) -> np.ndarray:
    """Weight of the OLD plan for progress ``c`` in [0, 1] (1 = start of blend, 0 = end).

    ``linear``: w = c. ``exp``: RTC's soft mask w = c (e^c - 1) / (e - 1), which lets go
    of the old plan slowly at first and fast near the end.
    """
    c = np.clip(np.asarray(c, dtype=float), 0.0, 1.0)
    if kind == "linear":
        return c
    if kind == "exp":
        return c * np.expm1(c) / (math.e - 1.0)
    raise ValueError(f"unknown soft mask {kind!r}; expected one of {list(MASKS)}")


def blend_latest(old: Plan, chunk: AlignedChunk, t_s: float) -> Plan:
    """The new chunk from ``t_s`` (the old plan until the chunk's first point, if later)."""
    new = chunk.as_plan()
    if chunk.first_time > t_s:  # arrived before its first step is due: keep the old plan until then
        q_old, _ = old.sample(chunk.first_time)
        new = Plan(
            np.concatenate([[t_s], [chunk.first_time], new.times]),
            np.concatenate([old.sample(t_s)[0][None], q_old[None], new.positions]),
        )
    return new


def blend_temporal_ensemble(old: Plan, chunks: Sequence[AlignedChunk], t_s: float, k: float) -> Plan:
    """ACT temporal ensembling of ``chunks`` (oldest first) for ``t >= t_s``.

    Where no chunk covers an instant the old plan (or its hold) is used.
    """
    ends = [c.last_time for c in chunks]
    t_end = max([*ends, t_s])
    knots = [np.array([t_s])] + [c.times[(c.times > t_s)] for c in chunks]
    ts = np.unique(np.concatenate(knots))
    ts = ts[ts <= t_end]
    num = np.zeros((ts.shape[0], old.num_joints))
    den = np.zeros(ts.shape[0])
    rank = np.zeros(ts.shape[0])
    for c in chunks:
        cov = c.covers(ts)
        if not np.any(cov):
            continue
        w = np.exp(-k * rank[cov])
        num[cov] += w[:, None] * c.as_plan().sample_many(ts[cov])
        den[cov] += w
        rank[cov] += 1
    out = old.sample_many(ts)
    has = den > 0
    out[has] = num[has] / den[has, None]
    return Plan(ts, out)


def blend_rtc(old: Plan, chunk: AlignedChunk, freeze_end: float, horizon: float, mask: str, t_s: float) -> Plan:
    """Frozen to ``old`` until ``freeze_end``, soft-masked to ``chunk`` over ``horizon``, then ``chunk``."""
    freeze_end = max(freeze_end, chunk.first_time)  # the chunk says nothing about earlier instants
    horizon = horizon if horizon > 1e-6 else 0.0  # shorter than any tick: switch over one knot interval
    blend_end = freeze_end + horizon
    t_end = max(chunk.last_time, blend_end, t_s)
    extra = np.linspace(freeze_end, blend_end, 11) if horizon > 0 else np.array([freeze_end])
    ts = np.unique(np.concatenate([[t_s], old.times, chunk.times, extra, [t_end]]))
    ts = ts[(ts >= t_s) & (ts <= t_end)]
    q_old = old.sample_many(ts)
    q_new = chunk.as_plan().sample_many(ts)
    if horizon > 0:
        w_old = soft_mask((blend_end - ts) / horizon, mask)
    else:
        w_old = (ts < freeze_end).astype(float)
    w_old = np.where(ts <= freeze_end, 1.0, w_old)
    return Plan(ts, w_old[:, None] * q_old + (1.0 - w_old[:, None]) * q_new)
