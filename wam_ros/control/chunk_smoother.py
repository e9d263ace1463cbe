"""The action-chunk smoother: late, overlapping chunks in, one jerk-limited reference out.

ROS-free and clock-free: the caller passes ``now`` (node clock, or a simulated clock
in a benchmark) to ``add_chunk`` and ``step``. Pipeline per tick::

    chunks --(align to stamp, reject bad)--> strategy --> raw plan(t) --> jerk-limited filter --> command

- Chunks are aligned to their observation stamp; at arrival ``t_s`` the strategy
  (chunk_blending) rebuilds the plan for ``t >= t_s`` only, so steps whose time has
  passed are never replayed. The delay ``t_s - stamp`` is measured, not assumed.
- When the plan runs out the raw target holds the last step (the filter decelerates
  into it: no jump, no extrapolation); after ``chunk_timeout`` without a chunk the
  filter brakes to rest where it is.
- ``reset`` (start, re-arm) puts both plan and filter at the measured joint state,
  so the first command equals it.
- Never catch up on lost time (issue 15 D3/D4). While the arm is not following the
  reference (``set_following(False)``: the safety bridge is ARMED, not ACTIVE) the
  reference is pinned to the measured state every tick, so the bridge's "first command
  starts near the measured position" check passes whenever motion may resume; on
  ``set_following(True)`` it restarts from the measured state at rest and takes the
  newest chunk observed meanwhile from its beginning (the arm stood still since its
  observation). A tick gap longer than ``max_tick_gap`` (node clock, or the steady
  clock the caller passes: a frozen process or a frozen /clock) emits nothing until
  fresh joint states have arrived, then restarts from them. Chunks observed before
  such a restart are refused: they assumed the motion that did not happen.
- Chunks longer than ``max_chunk_points`` are refused (size cap).
- ``stats()`` gives the diagnostics (keys documented in docs/chunk_smoother.md).
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace

import numpy as np

from wam_ros.control.chunk_blending import (
    LATEST,
    MASKS,
    RTC_BLEND,
    STRATEGIES,
    TEMPORAL_ENSEMBLE,
    AlignedChunk,
    Plan,
    blend_latest,
    blend_rtc,
    blend_temporal_ensemble,
)
from wam_ros.control.jerk_limited_filter import JerkLimitedFilter
from wam_ros.params import check_fields, param
from wam_ros.robot.joint_state import positions_in_order
from wam_ros.robot.model import RobotModel
from wam_ros.robot.trajectory import Trajectory, TrajectoryError

GRIPPER_MODES = ("continuous", "binary")
#: After a tick gap, joint states must keep arriving this long (and at least RESYNC_JOINT_STATES of them)
#: before the reference restarts from them: the first ones out of the middleware may be queued from before.
RESYNC_SETTLE = 0.05
RESYNC_JOINT_STATES = 2


@dataclass(frozen=True)
class SmootherConfig:
    """Tuning of the smoother; every field except ``dt`` may change at run time."""

    # Each setting is defined once, here (default, range, choices, description): chunk_smoother_node
    # declares every field but dt as a dynamic parameter of the same name (wam_ros.params.chunk_smoother_node).
    strategy: str = param(RTC_BLEND, "chunk blending strategy", choices=STRATEGIES, dynamic=True)
    ensemble_k: float = param(0.01, "temporal_ensemble: weight exp(-k*i), i=0 for the oldest chunk",
                              range=(-10.0, 10.0), dynamic=True)
    blend_horizon: float = param(0.3, "rtc_blend: seconds over which the plan moves from old to new chunk",
                                 range=(0.0, 10.0), dynamic=True)
    blend_mask: str = param("exp", "rtc_blend: soft mask shape", choices=MASKS, dynamic=True)
    commit_time: float = param(0.0, "rtc_blend: seconds after arrival kept frozen to the current plan",
                               range=(0.0, 5.0), dynamic=True)
    gripper_mode: str = param("continuous", "gripper joints: follow the chunk, or snap open/closed",
                              choices=GRIPPER_MODES, dynamic=True)
    gripper_threshold: float = param(0.5, "binary gripper: fraction of the range above which it opens",
                                     range=(0.0, 1.0), dynamic=True)
    max_chunk_age: float = param(2.0, "chunks older than this [s] at arrival are rejected", range=(0.0, 60.0),
                                 dynamic=True)
    chunk_timeout: float = param(2.0, "brake to rest after this long [s] without a chunk (0: hold the last step)",
                                 range=(0.0, 600.0), dynamic=True)
    track_lookahead: float = param(0.2, "filter intercepts the plan this far ahead [s] (0: chase it time-optimally)",
                                   range=(0.0, 2.0), dynamic=True)
    smoothing_window: float = param(0.2, "triangular smoothing of the plan [s], at most track_lookahead",
                                    range=(0.0, 2.0), dynamic=True)
    max_chunk_points: int = param(1000, "longer chunks are refused (size cap)", range=(1, 100000), dynamic=True)
    max_tick_gap: float = param(0.25, "a longer gap [s] between ticks (frozen process or clock) restarts from the "
                                "measured state", range=(0.01, 60.0), dynamic=True)
    dt: float = param(0.01, "filter tick [s] (the node's 1 / publish_rate)", range=(1e-4, 1.0))

    def validated(self) -> SmootherConfig:
        """Raise ValueError naming the first bad field; return self."""
        check_fields(self)  # each field's range / choices, as defined above
        if self.smoothing_window > self.track_lookahead:
            raise ValueError(
                f"smoothing_window = {self.smoothing_window} must not exceed track_lookahead = "
                f"{self.track_lookahead} (the filter would look at instants already past)"
            )
        if self.max_tick_gap < 2 * self.dt:
            raise ValueError(f"max_tick_gap = {self.max_tick_gap} must be at least two ticks (2 * {self.dt})")
        return self


@dataclass(frozen=True)
class ChunkVerdict:
    accepted: bool
    reason: str = ""  # why it was rejected (empty when accepted)
    dropped_steps: int = 0  # steps already in the past on arrival (skipped, never replayed)


@dataclass(frozen=True)
class Command:
    """The filtered reference at ``stamp`` (+ ``target``: what the filter aimed at, see filter_target)."""

    stamp: float
    positions: np.ndarray
    velocities: np.ndarray
    accelerations: np.ndarray
    target: np.ndarray


@dataclass
class _Running:
    """Running min/mean/max/last of a scalar statistic."""

    count: int = 0
    last: float = math.nan
    total: float = 0.0
    max: float = 0.0
    recent: deque = field(default_factory=lambda: deque(maxlen=200))

    def add(self, v: float) -> None:
        self.count += 1
        self.last = v
        self.total += v
        self.max = max(self.max, v) if self.count > 1 else v
        self.recent.append(v)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else math.nan

    def p95(self) -> float:
        return float(np.percentile(list(self.recent), 95)) if self.recent else math.nan


class ChunkSmoother:
    """Chunks + measured joint state in, a jerk-limited joint reference out (see module doc)."""

    def __init__(self, robot: RobotModel, config: SmootherConfig | None = None) -> None:
        self.config = (config or SmootherConfig()).validated()
        self.joint_names = robot.actuated_joints
        lim = robot.limits(self.joint_names)
        self.lower, self.upper = lim["lower"], lim["upper"]
        self.max_velocity, self.max_acceleration, self.max_jerk = lim["velocity"], lim["acceleration"], lim["jerk"]
        self.gripper_idx = np.array([self.joint_names.index(n) for n in robot.gripper_joints], dtype=int)
        self._filter = JerkLimitedFilter(
            lim["velocity"], lim["acceleration"], lim["jerk"], self.config.dt, self.joint_names,
            lim["lower"], lim["upper"],
        )
        self._check_gripper_config(self.config)
        self._measured: np.ndarray | None = None
        self._measured_stamp = math.nan
        self._plan: Plan | None = None
        self._chunks: list[AlignedChunk] = []
        self._t = math.nan  # time of the filter state
        self._last: Command | None = None
        self._newest_stamp = -math.inf
        self._last_arrival = math.nan
        self._last_received = -math.inf  # arrival of the newest chunk, whatever its verdict
        self._braking = False
        self._following = True  # the arm follows the reference (False: pinned to the measured state)
        self._held: AlignedChunk | None = None  # newest chunk taken while not following
        self._restart_time = -math.inf  # chunks observed before this assumed motion that did not happen
        self._joint_states = 0  # joint states received (a restart after a gap waits for fresh ones)
        self._gap: tuple[float, int] | None = None  # (when, joint states then): waiting to restart after a gap
        self._steady = math.nan  # caller's steady clock at the last step
        self._reset_stats()

    # ------------------------------------------------------------------ configuration
    def configure(self, **changes: object) -> None:
        """Change tuning at run time (e.g. ``configure(strategy="latest")``); ValueError names a bad one."""
        unknown = set(changes) - {f.name for f in fields(SmootherConfig)}
        if unknown:
            raise ValueError(f"unknown smoother setting(s) {sorted(unknown)}")
        if "dt" in changes and changes["dt"] != self.config.dt:
            raise ValueError("dt cannot change at run time (the filter is discretised with it)")
        new = replace(self.config, **changes).validated()
        self._check_gripper_config(new)
        self.config = new

    def _check_gripper_config(self, cfg: SmootherConfig) -> None:
        if cfg.gripper_mode == "binary":
            for i in self.gripper_idx:
                if not (np.isfinite(self.lower[i]) and np.isfinite(self.upper[i])):
                    raise ValueError(f"gripper_mode binary needs position limits for '{self.joint_names[i]}'")

    # ------------------------------------------------------------------ inputs
    def set_joint_state(self, names: Sequence[str], positions: Sequence[float], stamp: float = math.nan) -> None:
        """Record the measured positions of the actuated joints (other joints are ignored).

        Raises ValueError naming missing or non-finite joints; the previous state is kept.
        """
        q = positions_in_order(list(names), positions, self.joint_names)
        self._measured = q
        self._measured_stamp = stamp
        self._joint_states += 1

    @property
    def measured(self) -> np.ndarray | None:
        return None if self._measured is None else self._measured.copy()

    @property
    def initialized(self) -> bool:
        return self._plan is not None

    def reset(self, now: float) -> bool:
        """(Re)start at the measured joint state at rest; drop all chunks. False if nothing measured yet."""
        if not self._pin(now):
            return False
        self._newest_stamp = -math.inf
        self._last_arrival = math.nan
        self._held = None
        self._gap = None
        self.resets += 1
        return True

    def _pin(self, now: float) -> bool:
        """Plan and filter at the measured joint state, at rest, at ``now`` (no chunk is followed)."""
        if self._measured is None:
            return False
        q = np.clip(self._measured, self.lower, self.upper)
        self._filter.reset(q)
        self._plan = Plan.hold(now, q)
        self._chunks = []
        self._t = now
        self._braking = False
        if self._stall_start == self._stall_start:
            self._end_stall(now)
        self._last = Command(now, q.copy(), np.zeros_like(q), np.zeros_like(q), q.copy())
        return True

    @property
    def following(self) -> bool:
        return self._following

    def set_following(self, following: bool, now: float) -> None:
        """Whether the arm follows the reference (the safety bridge is ACTIVE, or there is no bridge).

        False: from now on every tick pins the reference to the measured state at rest,
        and chunks are only kept (the newest) — the reference cannot run away from an
        arm that stands. True (again): restart from the measured state at rest and take
        the newest chunk observed since the stop from its first step on, shifted to now.
        """
        if following == self._following:
            return
        self._following = following
        if not following:
            if self._plan is not None and self.accepted_since_reset():  # it was moving along chunks
                self._restart_time = now
            self._held = None
            self._pin(now)
            return
        held = self._held
        if not self.reset(now):
            return
        self.engagements += 1
        if held is not None and now - held.stamp <= self.config.max_chunk_age:
            shift = now - held.stamp  # the arm stood still since the observation: nothing was lost
            self._accept(AlignedChunk(now, now, held.times + shift, held.positions), now)
            self._last_arrival = now
            self._newest_stamp = held.stamp

    def add_chunk(self, chunk: Trajectory, now: float) -> ChunkVerdict:
        """Take a chunk (stamp = observation time) arriving at ``now``; bad chunks are refused with a reason."""
        verdict = self._add_chunk(chunk, now)
        return verdict if verdict.accepted else self.refuse(verdict.reason, counted=True)

    def too_long(self, num_points: int) -> str:
        """The refusal reason for a chunk of ``num_points`` over the size cap ("" when it fits)."""
        cap = self.config.max_chunk_points
        return f"too long: {num_points} points > max_chunk_points {cap}" if num_points > cap else ""

    def refuse(self, reason: str, counted: bool = False, now: float | None = None) -> ChunkVerdict:
        """Record a chunk refused with ``reason`` (also for chunks the caller could not even convert)."""
        if not counted:
            self.received += 1
        if now is not None:
            self._last_received = now
        self.rejected[reason.split(":")[0]] += 1
        self.last_reject_reason = reason
        return ChunkVerdict(False, reason)

    def _add_chunk(self, chunk: Trajectory, now: float) -> ChunkVerdict:
        self.received += 1
        self._last_received = now
        if self._plan is None and not self.reset(now):
            return ChunkVerdict(False, "not initialised: no joint state received yet")
        if too_long := self.too_long(chunk.num_points):
            return ChunkVerdict(False, too_long)
        try:
            chunk.validate()
            chunk = chunk.reordered(self.joint_names)
        except TrajectoryError as exc:
            return ChunkVerdict(False, f"malformed: {exc}")
        age = now - chunk.stamp
        if age > self.config.max_chunk_age:
            return ChunkVerdict(False, f"too old: age {age:.3f} s > max_chunk_age {self.config.max_chunk_age} s")
        if age < -0.5:
            return ChunkVerdict(False, f"from the future: stamp {chunk.stamp:.3f} is {-age:.3f} s after now")
        if chunk.stamp <= self._newest_stamp:
            return ChunkVerdict(
                False, f"out of order: stamp {chunk.stamp:.3f} is not newer than {self._newest_stamp:.3f}")
        if chunk.stamp < self._restart_time:
            return ChunkVerdict(
                False, f"before restart: observed at {chunk.stamp:.3f}, before the reference restarted from the "
                f"measured state at {self._restart_time:.3f}")
        if absurd := self._absurd_positions(chunk):
            return ChunkVerdict(False, absurd)
        times = chunk.absolute_times
        pos = self._condition(chunk.positions)
        aligned = AlignedChunk(chunk.stamp, now, times, pos)
        if not self._following:  # kept, not followed: replayed from its start when the arm follows again
            self._held = aligned
            dropped = 0
        elif times[-1] <= now:
            return ChunkVerdict(False, f"stale: all {chunk.num_points} steps lie in the past (age {age:.3f} s)")
        else:
            dropped = int(np.count_nonzero(times < now))
            self._accept(aligned, now)
        self.steps_dropped += dropped
        if self._last_arrival == self._last_arrival:  # not NaN
            self.interval.add(now - self._last_arrival)
        self.age.add(age)
        self._last_arrival = now
        self._newest_stamp = chunk.stamp
        self.accepted += 1
        return ChunkVerdict(True, "", dropped)

    def _absurd_positions(self, chunk: Trajectory) -> str:
        """Why a chunk is no pose at all ("" when it is one): a target further outside a joint's limits than
        that joint's whole range (and 1 rad | 1 m) is a broken policy or wrong units (degrees), not a target
        to clip (issue 15 campaign:
        a point at 1e6 rad used to be clipped to the limit and driven there)."""
        span = self.upper - self.lower
        excess = np.maximum(chunk.positions - self.upper, self.lower - chunk.positions)
        bad = np.isfinite(span) & (excess > np.maximum(span, 1.0))  # at least 1 rad | 1 m: small grippers clip
        if not bad.any():
            return ""
        i, j = (int(k) for k in np.argwhere(bad)[0])
        return (f"out of range: point {i} of {self.joint_names[j]} is {chunk.positions[i, j]:.6g}, more than the "
                f"joint's range (or 1) outside [{self.lower[j]:.3g}, {self.upper[j]:.3g}]")

    def _condition(self, positions: np.ndarray) -> np.ndarray:
        """Clamp to position limits and apply the gripper mode."""
        pos = np.clip(positions, self.lower, self.upper)
        self.clamped_values += int(np.count_nonzero(pos != positions))
        if self.config.gripper_mode == "binary" and self.gripper_idx.size:
            g = self.gripper_idx
            lo, hi = self.lower[g], self.upper[g]
            threshold = lo + self.config.gripper_threshold * (hi - lo)
            pos[:, g] = np.where(pos[:, g] >= threshold, hi, lo)
        return pos

    def _accept(self, chunk: AlignedChunk, t_s: float) -> None:
        assert self._plan is not None
        old = self._plan.trimmed(min(t_s, self._t))
        cfg = self.config
        self._chunks = [c for c in self._chunks if c.last_time >= t_s] + [chunk]
        if cfg.strategy == LATEST:
            new = blend_latest(old, chunk, t_s)
        elif cfg.strategy == TEMPORAL_ENSEMBLE:
            new = blend_temporal_ensemble(old, self._chunks, t_s, cfg.ensemble_k)
        else:
            new = blend_rtc(old, chunk, t_s + cfg.commit_time, cfg.blend_horizon, cfg.blend_mask, t_s)
        q_old, v_old = old.sample(t_s - 1e-9)
        q_new, v_new = new.sample(t_s)
        self.jump_position.add(float(np.max(np.abs(q_new - q_old))))
        self.jump_velocity.add(float(np.max(np.abs(v_new - v_old))))
        self._plan = old.spliced(new, t_s)
        self._braking = False

    # ------------------------------------------------------------------ output
    def raw_target(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """The raw plan (position, velocity) at ``t``, before the filter (diagnostics/tests)."""
        if self._plan is None:
            raise RuntimeError("smoother not initialised")
        q, v = self._plan.sample(t)
        clamped = np.clip(q, self.lower, self.upper)
        v = np.where(clamped != q, 0.0, v)  # do not run into a position limit at speed
        return clamped, v

    def step(self, now: float, steady: float | None = None) -> Command | None:
        """Advance the filter to ``now`` (whole ticks of dt) and return the reference.

        None until initialised, and after a tick gap (``now`` or the caller's ``steady``
        clock jumped by more than ``max_tick_gap``, or ``now`` went back) until fresh joint
        states restart the reference from the measured state: lost time is never caught up.
        """
        last_steady, self._steady = self._steady, (math.nan if steady is None else float(steady))
        if self._plan is None and not self.reset(now):
            return None
        gap = max(now - self._t, self._t - now, self._steady - last_steady if steady is not None else 0.0)
        if self._gap is None and gap > self.config.max_tick_gap:
            self._gap = (now, self._joint_states)
            self.resyncs += 1
        if self._gap is not None:
            since, js = self._gap
            if now < since:  # the clock went back while waiting
                self._gap = (now, js)
            if now - since < RESYNC_SETTLE or self._joint_states - js < RESYNC_JOINT_STATES:
                return None
            self._gap = None
            if self._following:  # (while not following, held chunks are replayed from their start anyway)
                self._restart_time = now
                self._held = None
            self._pin(now)
            return self._last
        dt = self.config.dt
        ticks = math.floor((now - self._t) / dt + 1e-6)  # never stamp a reference in the future
        if ticks <= 0:
            return self._last
        if not self._following:  # the arm stands: the reference stays at the measured state
            self._pin(self._t + ticks * dt)
            return self._last
        for _ in range(ticks):
            self._tick(self._t + dt)
        return self._last

    def _tick(self, t: float) -> None:
        assert self._plan is not None
        cfg = self.config
        plan_done = t > self._plan.end_time and self.accepted_since_reset()
        if plan_done and self._stall_start != self._stall_start:
            self._stall_start = t - self.config.dt
            self.stalls += 1
        if not plan_done and self._stall_start == self._stall_start:
            self._end_stall(t - self.config.dt)
        timed_out = (
            cfg.chunk_timeout > 0
            and self._last_arrival == self._last_arrival
            and t - self._last_arrival > cfg.chunk_timeout
            and not self._braking_done()
        )
        if timed_out:
            self._braking = True
            st = self._filter.brake()
            target = st.position
            if np.all(np.abs(st.velocity) < 1e-9) and np.all(np.abs(st.acceleration) < 1e-9):
                self._plan = Plan.hold(t, st.position)  # at rest: hold here
                self._chunks = []
        else:
            target, vel = self.filter_target(t)
            st = self._filter.update(target, vel, min_duration=cfg.track_lookahead)
        self._t = t
        self._last = Command(t, st.position, st.velocity, st.acceleration, np.asarray(target).copy())

    def _end_stall(self, t: float) -> None:
        stall = max(t - self._stall_start, 0.0)
        self.stall_time_total += stall
        self.stall_time_max = max(self.stall_time_max, stall)
        self._stall_start = math.nan

    def filter_target(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """What the filter aims at on the tick ending at ``t``: the smoothed plan at ``t + tau``.

        The filter is asked to be there no sooner than ``t + tau`` (interception): on a
        feasible plan the output follows it without lag or lead; where it is not (a jump,
        an abrupt stop) ruckig takes longer, within limits. The smoothing window is at
        most tau, so no past instant of the plan is ever used.
        """
        assert self._plan is not None
        cfg = self.config
        q, v = self._plan.smoothed(t + cfg.track_lookahead, cfg.smoothing_window)
        clamped = np.clip(q, self.lower, self.upper)
        return clamped, np.where(clamped != q, 0.0, v)

    def _braking_done(self) -> bool:
        return self._braking and self._plan is not None and self._plan.times.shape[0] == 1

    def accepted_since_reset(self) -> bool:
        return self._last_arrival == self._last_arrival

    def lookahead(
        self, points: int, spacing: float, now: float | None = None, lead: float | None = None
    ) -> Trajectory:
        """The command to send at ``now``: ``points`` references at ``lead``, ``lead + spacing``, ... after it.

        Stamped ``now`` (default: the time of the current reference); ``lead`` (default
        ``spacing``) covers the delivery latency, so no point is already in the past when
        the receiver compares the stamp with its own clock (the current reference, at or
        before ``now``, is never sent: a receiver would skip it and retime the rest).
        Read off the jerk-limited trajectories the filter planned on its last tick (towards
        the plan ``track_lookahead`` ahead), so positions, velocities and accelerations are
        consistent (for quintic splines) and cost no extra updates. They are a prediction:
        the next ticks re-plan towards later points.
        """
        if self._plan is None or self._last is None:
            raise RuntimeError("smoother not initialised")
        stamp = self._t if now is None else max(float(now), self._t)
        times = (spacing if lead is None else float(lead)) + np.arange(points) * float(spacing)
        pos, vel, acc = self._filter.predict(times + (stamp - self._t))
        pos = np.clip(pos, self.lower, self.upper)
        return Trajectory(stamp, self.joint_names, times, pos, vel, acc)

    def chunk_silence(self, now: float, since: float = -math.inf) -> float:
        """Seconds without any chunk (accepted or not), counted from ``since`` at the earliest (e.g. arming)."""
        return now - max(self._last_received, since)

    # ------------------------------------------------------------------ diagnostics
    def _reset_stats(self) -> None:
        self.received = 0
        self.accepted = 0
        self.rejected: Counter[str] = Counter()
        self.last_reject_reason = ""
        self.steps_dropped = 0
        self.clamped_values = 0
        self.age = _Running()
        self.interval = _Running()
        self.jump_position = _Running()
        self.jump_velocity = _Running()
        self.stalls = 0
        self.stall_time_total = 0.0
        self.stall_time_max = 0.0  # longest single stall (the current one included in stats())
        self._stall_start = math.nan
        self.resets = 0
        self.resyncs = 0
        self.engagements = 0

    def stall_time(self) -> float:
        """Total seconds the plan had run out while waiting for a chunk (incl. the current stall)."""
        return self.stall_time_total + self._current_stall()

    def _current_stall(self) -> float:
        """Seconds the plan has been exhausted so far (0 when not stalled)."""
        return self._t - self._stall_start if self._stall_start == self._stall_start else 0.0

    def stats(self) -> dict[str, object]:
        """Diagnostic key/values (documented in docs/chunk_smoother.md)."""
        stalled = self._stall_start == self._stall_start
        return {
            "strategy": self.config.strategy,
            "initialized": self.initialized,
            "chunks_received": self.received,
            "chunks_accepted": self.accepted,
            "chunks_rejected": sum(self.rejected.values()),
            "rejected_by_reason": dict(self.rejected),
            "last_reject_reason": self.last_reject_reason,
            "steps_dropped_on_arrival": self.steps_dropped,
            "values_clamped": self.clamped_values,
            "chunk_age_last": self.age.last,
            "chunk_age_mean": self.age.mean,
            "chunk_age_max": self.age.max,
            "inference_interval_last": self.interval.last,
            "inference_interval_mean": self.interval.mean,
            "inference_interval_p95": self.interval.p95(),
            "boundary_jump_position_last": self.jump_position.last,
            "boundary_jump_position_max": self.jump_position.max,
            "boundary_jump_velocity_last": self.jump_velocity.last,
            "boundary_jump_velocity_max": self.jump_velocity.max,
            "stalled": stalled,
            "stall_count": self.stalls,
            "stall_time_total": self.stall_time(),
            "stall_time_current": self._current_stall(),
            "stall_time_max": max(self.stall_time_max, self._current_stall()),
            "braking": self._braking,
            "filter_errors": self._filter.errors,
            "filter_last_error": self._filter.last_error,
            "filter_hard_holds": self._filter.hard_holds,
            "filter_limit_brakes": self._filter.limit_brakes,
            "resets": self.resets,
            "clock_resyncs": self.resyncs,
            "waiting_after_gap": self._gap is not None,
            "following": self._following,
            "engagements": self.engagements,
        }
