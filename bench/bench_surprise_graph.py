"""The surprise monitor through the node graph: disturbances set on sim_robot_node mid-episode, alarms read back.

Run: .venv/bin/python bench/bench_surprise_graph.py [--episodes 2] [--kinds ...] [--checkpoint DIR]

``bench_surprise.py`` evaluates the monitor headless, on simulation time, with the classes wam_node
runs. This runs it where it is used: the sim graph of ``wam-eval`` (sim_robot_node with its cameras,
wam_node with the tiny WAM and the surprise monitor, chunk smoother, safety bridge; real DDS, real
timing on the shared 2-core machine). wam_node starts from the calibrated statistics
(``surprise_calibration``, made here from normal headless episodes as ``bench_surprise.py
--save-calibration`` makes them). Episodes are driven by ``StackCommander`` (reset, arm): normal
episodes first, then one per kind and seed, each disturbance set as an operator would set it
(``ros2 param set /sim_robot_node disturbance <kind>``) once the arm moves mid-task (episode time past
``--onset`` s and an arm joint faster than 0.1 rad/s on /joint_states), and reverted (``none``) after
the window. The alarm and scores are read from /wam/surprise (stamped with the real frame's simulation
time), so windows, ROC AUC, detection and delay are computed as in ``bench_surprise.py``; detected means
switched on within the window, so an alarm already on at the onset (switched on by the episode's first
pairs, ~0.8 s after the reset) is counted apart.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from bench_surprise import Trace, alarm_ons, auc, calibrate, sim_loop, windows  # same directory

from wam_ros.apps.evaluation import sim_session
from wam_ros.apps.graph import GraphOptions
from wam_ros.apps.graph_runner import stop_on_termination_signals
from wam_ros.resources import DEFAULT_CHECKPOINT, resolve
from wam_ros.robot.model import RobotModel
from wam_ros.sim.disturbances import KINDS

SIM = "/sim_robot_node"


class Watch:
    """/wam/surprise and the arm's joint speeds, on the commander's node."""

    def __init__(self, cmd) -> None:
        from geometry_msgs.msg import Vector3Stamped
        from sensor_msgs.msg import JointState

        from wam_ros.ros.qos import SENSOR
        from wam_ros.ros.time_conversion import time_to_sec

        self._t = time_to_sec
        self.lock = threading.Lock()
        self.surprise: list[tuple[float, float, bool]] = []  # (stamp, score, alarm)
        self.speed = (0.0, 0.0)  # (stamp, fastest arm joint [rad/s])
        self.arm = set(RobotModel.load().arm_joints)
        cmd.node.create_subscription(Vector3Stamped, "/wam/surprise", self._on_surprise, 50)
        cmd.node.create_subscription(JointState, "/joint_states", self._on_js, SENSOR)

    def _on_surprise(self, msg) -> None:
        with self.lock:
            self.surprise.append((self._t(msg.header.stamp), float(msg.vector.x), msg.vector.z > 0.5))

    def _on_js(self, msg) -> None:
        v = [abs(x) for n, x in zip(msg.name, msg.velocity) if n in self.arm]
        self.speed = (self._t(msg.header.stamp), max(v, default=0.0))

    def trace(self, seed: int, kind: str | None, start: float, end: float, onset: float | None) -> Trace:
        """The scores between ``start`` and ``end`` (simulation stamps), times relative to ``start``."""
        with self.lock:
            rows = [r for r in self.surprise if start <= r[0] < end]
        tr = Trace(seed, kind, None if onset is None else onset - start)
        tr.t, tr.score, tr.alarm = [r[0] - start for r in rows], [r[1] for r in rows], [r[2] for r in rows]
        return tr


def on_at_onset(tr: Trace) -> bool:
    """The alarm was on when the disturbance came (switched on before it, by the episode's first pairs)."""
    before = [a for t, a in zip(tr.t, tr.alarm) if t < tr.onset]
    return bool(before and before[-1])


def run_one(cmd, watch: Watch, kind: str | None, a: argparse.Namespace) -> Trace:
    """One episode: reset and arm, the disturbance once the arm moves mid-task, ``a.duration`` s of scores."""
    scene = cmd.new_episode()
    start = float(scene["stamp"]) - float(scene["episode_time"])
    onset = None
    if kind is not None:
        moving = cmd.wait_until(lambda: cmd.scene.get("episode_time", 0.0) >= a.onset
                                and watch.speed[0] - start >= a.onset and watch.speed[1] > a.moving, a.duration * 3)
        onset = watch.speed[0]
        ok, why = cmd.set_parameter(SIM, "disturbance", kind)
        if not (moving and ok):
            raise RuntimeError(f"{kind}: {'set_parameters refused: ' + why if not ok else 'the arm never moved'}")
    cmd.wait_until(lambda: cmd.scene.get("episode_time", 0.0) >= a.duration, a.duration * 4 + 30)
    if kind is not None:
        cmd.set_parameter(SIM, "disturbance", "none")
    time.sleep(0.5)  # the last scores on their way
    return watch.trace(int(scene["seed"]), kind, start, start + a.duration, onset)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT)
    ap.add_argument("--episodes", type=int, default=2, help="normal episodes, and episodes per disturbance kind")
    ap.add_argument("--seed", type=int, default=1010, help="first seed (held out from training)")
    ap.add_argument("--kinds", nargs="*", default=list(KINDS), choices=KINDS)
    ap.add_argument("--calibration", type=int, default=10, help="headless normal episodes (seeds from 2000)")
    ap.add_argument("--duration", type=float, default=8.0, help="episode time [s] per episode")
    ap.add_argument("--onset", type=float, default=1.0, help="earliest disturbance time [s] (normal windows from it)")
    ap.add_argument("--moving", type=float, default=0.1, help="the disturbance once an arm joint moves this fast")
    ap.add_argument("--window", type=float, default=2.5, help="s of a scoring window")
    ap.add_argument("--log-dir", type=Path, default=Path("outputs/bench-surprise-graph-logs"))
    a = ap.parse_args(argv)
    stop_on_termination_signals()
    import torch

    torch.set_num_threads(2)
    t0 = time.monotonic()
    loop, rate, tol = sim_loop(a.checkpoint)
    try:
        scorer, _ = calibrate(loop, a.calibration, rate, tol)
    finally:
        loop.close()
    calib = Path(tempfile.mkdtemp(prefix="surprise_calibration_")) / "calibration.json"
    scorer.save(calib)
    torch.set_num_threads(1)
    opts = GraphOptions(policy="tiny_wam", checkpoint=str(resolve(a.checkpoint)),
                        extra_params={"wam_node": {"surprise_calibration": str(calib)}})
    plan = [None] * a.episodes + [k for k in a.kinds for _ in range(a.episodes)]
    traces: list[Trace] = []
    with sim_session(opts, a.log_dir, a.seed) as (cmd, runner):
        watch = Watch(cmd)
        for i, kind in enumerate(plan):
            if runner.dead():
                raise RuntimeError(f"node(s) exited: {runner.dead()}; logs in {a.log_dir}")
            tr = run_one(cmd, watch, kind, a)
            traces.append(tr)
            on = alarm_ons(tr, tr.onset if tr.onset is not None else -np.inf)
            when = "" if tr.onset is None else f"onset {tr.onset:.2f} s{' (alarm on already)' * on_at_onset(tr)}, "
            print(f"  {i + 1}/{len(plan)} seed {tr.seed} {kind or 'normal'}: {when}{len(tr.t)} scores, "
                  f"largest {max(tr.score, default=float('nan')):.1f}, alarm on at {[round(t, 2) for t in on]}",
                  flush=True)
        wam = cmd.diagnostic("surprise")
    normal = [tr for tr in traces if tr.kind is None]
    neg = [w for tr in normal for w in windows(tr, a.window, a.onset)[0]]
    print(f"\ncheckpoint {a.checkpoint}; through the sim graph, seeds from {a.seed}: {len(normal)} normal + "
          f"{a.episodes} per kind, {a.duration:g} s each; disturbance once the arm moves (> {a.moving:g} rad/s) "
          f"after {a.onset:g} s; windows {a.window:g} s; wam_node's threshold {wam.get('threshold', '?')}, "
          f"calibrated on {a.calibration} headless episodes; {time.monotonic() - t0:.0f} s\n")
    print(f"normal: {len(neg)} windows, window score max {max(neg, default=float('nan')):.1f}; false alarms "
          f"{sum(len(alarm_ons(tr)) for tr in normal)} in {len(normal)} episodes\n")
    print("| disturbance | ROC AUC | detected | alarm on already at the onset | delay median s | delay max s | "
          "window score median |")
    print("|---|---|---|---|---|---|---|")
    for kind in a.kinds:
        trs = [tr for tr in traces if tr.kind == kind]
        pos = [windows(tr, a.window, a.onset)[1] for tr in trs]
        delays = [ons[0] - tr.onset for tr in trs
                  if (ons := [t for t in alarm_ons(tr, tr.onset) if t < tr.onset + a.window])]  # fmt: skip
        print(f"| {kind} | {auc(pos, neg) if neg else float('nan'):.2f} | {len(delays)}/{len(trs)} | "
              f"{sum(on_at_onset(tr) for tr in trs)} | "
              f"{np.median(delays) if delays else float('nan'):.2f} | {max(delays, default=float('nan')):.2f} | "
              f"{np.median(pos):.1f} |")
    sys.exit(0)


if __name__ == "__main__":
    main()
