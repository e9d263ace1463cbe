"""The surprise monitor against injected disturbances: ROC AUC, false alarms and detection delay.

Run: .venv/bin/python bench/bench_surprise.py [--checkpoint DIR] [--episodes 10] [--calibration 10]

Method (headless, no ROS): the simulated arm runs the tiny WAM closed loop (``ClosedLoop``'s
scheduler and chunk smoother, a fixed ``--compute`` s per inference) on simulation time;
both cameras are rendered at sim_robot_node's size for each observation and at its frame times
(``camera_rate``); the real frames and each chunk's predicted frames go to the same
``PredictionMatcher`` + ``SurpriseMonitor`` wam_node runs (calibration episodes render only the frames
a predicted frame waits for, ``PredictionMatcher.wants``: they give the same pairs).

* Calibration: ``--calibration`` normal episodes (seeds from 2000) give the usual error per
  camera, offset and block (``SurpriseScorer.calibrate``).
* Normal episodes: ``--episodes`` held-out seeds (from 1000), ``--duration`` s each, nothing
  injected. Every episode starts from the calibrated statistics (which it then follows, as
  the node does).
* Disturbed episodes: the same seeds, one disturbance kind at a time
  (``wam_ros.sim.disturbances``), injected mid-task: at a seeded random time in ``--onset`` s at
  which the arm moves (faster than ``--moving`` rad/s on some joint) in the undisturbed episode of
  the same seed (the simulation is deterministic, so the disturbed one is the same up to then).
  Why: the tiny WAM finishes its task in ~2-3 s; blocking, or filming with a frozen camera, an arm
  that rests afterwards changes nothing any camera could see (the real frames' change falls to
  pixel noise), and no monitor of frames can or should notice it.

Windows of ``--window`` s: a disturbed window starts at the onset; normal windows tile the
normal episodes from ``--onset``'s start. A window's score is the largest batch score in it.
ROC AUC: disturbed windows of a kind vs all normal windows. False alarms: alarm switch-ons per normal episode at the
chosen threshold. Delay: onset -> alarm on (median over detected episodes; detected = on
within the window). The table is in docs/wam.md.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from wam_ros.monitoring.frozen_camera import FROZEN_MOTION, FrozenCameraCheck  # noqa: E402
from wam_ros.monitoring.prediction_matching import FramePair, PredictionMatcher  # noqa: E402
from wam_ros.monitoring.surprise import SurpriseAlarm, SurpriseMonitor, SurpriseScorer, pair_features  # noqa: E402
from wam_ros.params import defaults  # noqa: E402
from wam_ros.params.sim_robot_node import PARAMS as SIM_PARAMS  # noqa: E402
from wam_ros.params.wam_node import PARAMS as WAM_PARAMS  # noqa: E402
from wam_ros.policies.base import Observation  # noqa: E402
from wam_ros.policies.tiny_wam_policy import TinyWamPolicy  # noqa: E402
from wam_ros.resources import DEFAULT_CHECKPOINT  # noqa: E402
from wam_ros.robot.trajectory import Trajectory  # noqa: E402
from wam_ros.sim.closed_loop import ClosedLoop, LoopConfig  # noqa: E402
from wam_ros.sim.disturbances import KINDS, Disturbance  # noqa: E402
from wam_ros.sim.mujoco_arm import CAMERAS  # noqa: E402
from wam_ros.sim.sim_env import SimEnv  # noqa: E402


@dataclass
class Trace:
    """One episode: batch scores (time since episode start, score, alarm) and its onset (None: normal)."""

    seed: int
    kind: str | None
    onset: float | None
    t: list[float] = field(default_factory=list)
    score: list[float] = field(default_factory=list)
    alarm: list[bool] = field(default_factory=list)
    pairs: list[FramePair] = field(default_factory=list)  # kept for calibration episodes only
    start: float = 0.0  # simulation time of the episode's start (pairs carry simulation stamps)
    moving: list[float] = field(default_factory=list)  # camera frame times (since start) the arm moved at
    seen: dict[tuple[str, float], np.ndarray] = field(default_factory=dict)  # (camera, time) -> paired real frame


def run_episode(loop: ClosedLoop, seed: int, duration: float, compute: float, monitor: SurpriseMonitor | None,
                kind: str | None, onset: float | None, camera_rate: float, tolerance: float,
                keep_pairs: bool = False, moving: float = 0.1) -> Trace:
    """Closed loop for ``duration`` s; camera frames at ``camera_rate``; a disturbance of ``kind`` at ``onset``, made
    as sim_robot_node makes it (the cube the instruction names, the first camera)."""
    env, sm, sched, policy = loop.env, loop.smoother, loop.scheduler, loop.policy
    env.reset(seed)
    disturbance = None if kind is None else Disturbance(kind, cube=env.episode.target, camera=CAMERAS[0])
    policy.reset()
    if sched.busy:
        sched.finished(env.time)
    sched.reset()
    names = env.robot.actuated_joints
    arm = [names.index(n) for n in env.robot.arm_joints]  # joints whose motion a camera shows (not the gripper)
    sm.set_joint_state(names, env.arm.actuated_positions(), env.time)
    sm.reset(env.time)
    matcher = PredictionMatcher(tolerance)
    start = env.time
    trace = Trace(seed, disturbance.kind if disturbance else None, onset, start=start)
    next_frame = start
    pending = None
    applied = False

    def render(cams: tuple[str, ...]) -> dict[str, np.ndarray]:
        """The cameras' frames now, as the (possibly disturbed) cameras deliver them."""
        if not cams:
            return {}
        images = loop.renderer.render(env.arm.data.qpos.copy(), cams)
        return disturbance.edit_images(images) if applied else images
    try:
        while env.time - start < duration:
            now, rel = env.time, env.time - start
            if disturbance is not None and not applied and rel >= onset:
                disturbance.apply(env.arm)
                applied = True
            if now >= next_frame - 1e-9:  # the camera's frame time
                next_frame += 1.0 / camera_rate
                if np.abs(env.arm.actuated_velocities()[arm]).max() > moving:
                    trace.moving.append(rel)
                # with a monitor, every frame (its frozen-camera check sees each, as in wam_node); without, only
                # the frames that may be paired (calibration: the pairs are the same)
                cams = CAMERAS if monitor is not None else tuple(
                    c for c in CAMERAS if matcher.wants(c, now, 2.0 / camera_rate))
                frames = render(cams)
                q_arm = env.arm.actuated_positions()[arm]
                pairs, stuck = [], []
                for cam, img in frames.items():
                    pairs += matcher.observe(cam, now, img)
                    if monitor is not None and (s := monitor.frame(cam, now, img, q_arm)):
                        stuck.append(s)
                for p in pairs:  # what the monitor saw, at the predicted size (for the disturbance's visibility)
                    trace.seen[(p.camera, round(p.real_stamp - start, 3))] = cv2.resize(
                        p.real, p.predicted.shape[1::-1], interpolation=cv2.INTER_AREA)
                if pairs or stuck:
                    if keep_pairs:
                        trace.pairs += pairs
                    if monitor is not None:
                        score, alarm, _ = monitor.update(pairs, stuck)
                        trace.t.append(rel)
                        trace.score.append(score)
                        trace.alarm.append(alarm)
            if pending is None and sched.should_start(now):
                sched.started(now)
                obs = Observation(render(CAMERAS), env.arm.actuated_positions(), env.episode.instruction, now)
                pred = policy.infer(obs, decode_frames=True)
                chunk = Trajectory(now, names, pred.action_period * np.arange(1, len(pred.actions) + 1), pred.actions)
                pending = (now + compute, chunk, pred, obs)
            if pending is not None and now >= pending[0] - 1e-9:
                _, chunk, pred, obs = pending
                pending = None
                sm.add_chunk(chunk, now)
                sched.finished(now, chunk.stamp, float(chunk.times[-1]))
                matcher.add(obs.timestamp, pred.frame_offsets, pred.frames, obs.images)
            sm.set_joint_state(names, env.arm.actuated_positions(), now)
            cmd = sm.step(now)
            if cmd is not None:
                env.command_positions(cmd.positions)
            env.step(loop.cfg.control_period)
    finally:
        if disturbance is not None:
            disturbance.revert(env.arm)
    return trace


def windows(trace: Trace, window: float, start: float) -> tuple[list[float], float | None]:
    """(normal window scores, tiling from ``start``; disturbed window score or None)."""
    t, s = np.array(trace.t), np.nan_to_num(np.array(trace.score), nan=-np.inf)
    if trace.onset is not None:
        inside = (t >= trace.onset) & (t < trace.onset + window)
        return [], float(s[inside].max()) if inside.any() else -np.inf
    out = []
    end = t.max() if t.size else 0.0
    lo = start
    while lo + window <= end + 1e-9:
        inside = (t >= lo) & (t < lo + window)
        out.append(float(s[inside].max()) if inside.any() else -np.inf)
        lo += window
    return out, None


def visibility(disturbed: Trace, undisturbed: Trace, window: float) -> float:
    """How much the disturbance changed what the monitor saw in its window: the largest block error (the
    surprise's first feature) of the undisturbed run's frame, taken as a perfect prediction, against the
    disturbed run's frame of the same camera and time. The simulation is deterministic, so up to the
    onset the two runs are the same; a small value means no frame prediction could have shown much."""
    best = 0.0
    for (cam, t), real in disturbed.seen.items():
        ref = undisturbed.seen.get((cam, t))
        if ref is not None and disturbed.onset <= t < disturbed.onset + window:
            best = max(best, float(pair_features(FramePair(cam, t, 0.0, ref, real, t))[0]))
    return best


def auc(pos: list[float], neg: list[float]) -> float:
    """P(a disturbed window scores above a normal one), ties count half."""
    p, n = np.array(pos)[:, None], np.array(neg)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def alarm_ons(trace: Trace, after: float = -np.inf) -> list[float]:
    """Times the alarm switched on (after ``after``)."""
    a = np.array(trace.alarm, bool)
    on = np.flatnonzero(a & ~np.concatenate([[False], a[:-1]]))
    return [trace.t[i] for i in on if trace.t[i] >= after]


def calibration_max(scorer: SurpriseScorer, cals: list[Trace], after: float) -> float:
    """The largest batch score the calibrated statistics give the calibration episodes' own pairs after ``after``
    s: what normal operation reaches, the basis of the alarm threshold (docs/wam.md)."""
    frozen = copy.deepcopy(scorer)
    frozen.learn = False
    best = -np.inf
    for tr in cals:
        for p in tr.pairs:
            if p.real_stamp - tr.start >= after:
                best = max(best, frozen.score(p).score)
    return float(best)


def sim_loop(checkpoint: str) -> tuple[ClosedLoop, float, float]:
    """The headless closed loop as wam_node and sim_robot_node run it: (loop, camera rate, match tolerance)."""
    sim, wam = defaults(SIM_PARAMS), defaults(WAM_PARAMS)
    env = SimEnv()
    policy = TinyWamPolicy(checkpoint, device="cpu", joint_names=env.robot.actuated_joints)
    # wam_node's trigger: the next chunk is inferred before the last predicted frame's time, as in the graph
    loop = ClosedLoop(env, policy, LoopConfig(image_size=(sim["image_height"], sim["image_width"]),
                                              trigger_threshold=wam["trigger_threshold"]))
    return loop, sim["camera_rate"], wam["surprise_match_tolerance"]


def calibrate(loop: ClosedLoop, episodes: int, camera_rate: float, tolerance: float, duration: float = 10.0,
              compute: float = 0.15, first_seed: int = 2000) -> tuple[SurpriseScorer, list[Trace]]:
    """The usual values from ``episodes`` normal episodes (seeds from ``first_seed``): the scorer and the traces."""
    scorer = SurpriseScorer()
    cals = [run_episode(loop, seed, duration, compute, None, None, None, camera_rate, tolerance, keep_pairs=True)
            for seed in range(first_seed, first_seed + episodes)]  # fmt: skip
    for cal in cals:
        scorer.calibrate(cal.pairs)
    return scorer, cals


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT)
    ap.add_argument("--episodes", type=int, default=10, help="held-out seeds: normal and per disturbance kind")
    ap.add_argument("--first-seed", type=int, default=1000)
    ap.add_argument("--calibration", type=int, default=10, help="normal episodes (seeds from 2000) to calibrate")
    ap.add_argument("--duration", type=float, default=10.0, help="s per episode")
    ap.add_argument("--onset", type=float, nargs=2, default=(1.0, 6.0),
                    help="disturbance time range [s] (normal windows tile from its start)")
    ap.add_argument("--moving", type=float, default=0.1,
                    help="onset only at a time the undisturbed arm moves faster than this on some joint [rad/s]")
    ap.add_argument("--window", type=float, default=2.5, help="s of a scoring window")
    ap.add_argument("--compute", type=float, default=0.15, help="s per inference (fixed, for repeatability)")
    ap.add_argument("--kinds", nargs="*", default=list(KINDS), choices=KINDS)
    ap.add_argument("--visible", type=float, default=0.1,
                    help="block error a perfect prediction would show, above which a disturbance counts as visible")
    ap.add_argument("--threshold", type=float, default=SurpriseAlarm.threshold)
    ap.add_argument("--clear", type=float, default=SurpriseAlarm.clear)
    ap.add_argument("--frozen-motion", type=float, default=FROZEN_MOTION,
                    help="arm motion [rad] under an unchanged picture that makes a camera frozen (wam_node's "
                         "surprise_frozen_motion)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save-calibration", type=Path, default=None, help="write the calibrated statistics (JSON)")
    ap.add_argument("--dump", type=Path, default=None, help="write every episode's score trace (JSON)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    loop, rate, tol = sim_loop(a.checkpoint)
    t0 = time.monotonic()
    try:
        scorer, cals = calibrate(loop, a.calibration, rate, tol, a.duration, a.compute)
        if a.save_calibration:
            scorer.save(a.save_calibration)
        cal_max = calibration_max(scorer, cals, a.onset[0])

        def monitor() -> SurpriseMonitor:  # a new episode: the calibrated statistics, a new scene
            return SurpriseMonitor(copy.deepcopy(scorer), SurpriseAlarm(a.threshold, a.clear),
                                   FrozenCameraCheck(a.frozen_motion))

        seeds = range(a.first_seed, a.first_seed + a.episodes)
        normal = [run_episode(loop, s, a.duration, a.compute, monitor(), None, None, rate, tol, moving=a.moving)
                  for s in seeds]  # fmt: skip
        rng = np.random.default_rng(0)
        mid_task = {tr.seed: [t for t in tr.moving if a.onset[0] <= t <= a.onset[1]] for tr in normal}
        still = sorted(s for s, ts in mid_task.items() if not ts)
        disturbed: dict[str, list[Trace]] = {}
        for kind in a.kinds:
            disturbed[kind] = [run_episode(loop, s, a.duration, a.compute, monitor(), kind,
                                           float(rng.choice(mid_task[s])), rate, tol) for s in seeds if mid_task[s]]
    finally:
        loop.close()
    if a.dump:
        a.dump.write_text(json.dumps([{"seed": tr.seed, "kind": tr.kind, "onset": tr.onset, "t": tr.t,
                                       "score": tr.score, "alarm": tr.alarm}
                                      for tr in normal + [t for ts in disturbed.values() for t in ts]]))
    neg = [w for tr in normal for w in windows(tr, a.window, a.onset[0])[0]]
    false_alarms = [len(alarm_ons(tr)) for tr in normal]
    print(f"checkpoint {a.checkpoint}; {a.calibration} calibration episodes, {a.episodes} normal + {a.episodes} "
          f"per kind, {a.duration:g} s each; onset in [{a.onset[0]:g}, {a.onset[1]:g}] s while the arm moves "
          f"(> {a.moving:g} rad/s); windows {a.window:g} s; "
          f"threshold {a.threshold:g} (clear {a.clear:g}); frozen camera at {a.frozen_motion:g} rad; "
          f"{time.monotonic() - t0:.0f} s\n")
    print(f"calibration episodes (the threshold's basis): largest batch score after {a.onset[0]:g} s {cal_max:.2f}\n")
    if still:
        print(f"seeds whose arm never moves faster than {a.moving:g} rad/s within the onset range (not disturbed): "
              f"{still}\n")
    print(f"normal: {len(neg)} windows, window score median {np.median(neg):.1f}, max {np.max(neg):.1f}; "
          f"false alarms {sum(false_alarms)} in {len(normal)} episodes "
          f"({sum(f > 0 for f in false_alarms)} episodes with any)\n")
    print("| disturbance | ROC AUC | detected | delay median s | delay max s | window score median | visible "
          f"(> {a.visible:g}) | ROC AUC of the visible |")
    print("|---|---|---|---|---|---|---|---|")
    aucs = []
    undisturbed = {tr.seed: tr for tr in normal}
    for kind, traces in disturbed.items():
        pos = [windows(tr, a.window, a.onset[0])[1] for tr in traces]
        shown = [p for p, tr in zip(pos, traces) if visibility(tr, undisturbed[tr.seed], a.window) > a.visible]
        delays = []
        for tr in traces:
            ons = [t for t in alarm_ons(tr, tr.onset) if t < tr.onset + a.window]
            if ons:
                delays.append(ons[0] - tr.onset)
        aucs.append(auc(pos, neg))
        print(f"| {kind} | {aucs[-1]:.2f} | {len(delays)}/{len(traces)} | "
              f"{np.median(delays) if delays else float('nan'):.2f} | {max(delays) if delays else float('nan'):.2f} | "
              f"{np.median(pos):.1f} | {len(shown)}/{len(traces)} | {auc(shown, neg) if shown else float('nan'):.2f} |")
    every = [windows(tr, a.window, a.onset[0])[1] for ts in disturbed.values() for tr in ts]
    print(f"| all | {auc(every, neg):.2f} | | | | | | |")


if __name__ == "__main__":
    main()
