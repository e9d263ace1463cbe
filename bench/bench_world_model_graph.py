"""The world model through the full node graph: predictions on /wam/predicted_frames against the frames that came.

Run: .venv/bin/python bench/bench_world_model_graph.py [--episodes 3] [--latencies 0,800] [--checkpoint DIR]

``bench_world_model.py`` judges the predicted frames headless, the chunk executed open loop. This
judges them where they are used: the sim graph (``wam-eval``'s: sim_robot_node, wam_node with the
tiny WAM, chunk smoother, safety bridge) runs closed loop, episodes from seed 1000 driven by
``StackCommander`` (reset, arm, wait for success or the timeout), and this process watches the topics.

Where the predicted frames come from. No topic carries wam_node's predicted frames undecorated: they
are published only inside the ``/wam/predicted_frames`` filmstrip, each 64x64 frame enlarged
(nearest neighbour) to a tile, labelled in its top-left corner and, for a calibrated camera, with the
chunk's path drawn over it. So the graph runs with ``camera_calibrations: [""]`` (display only: no
path drawn; the policy's own calibrations are the checkpoint's) and the frames are read back exactly
(``filmstrip.predicted_from_strip``, the tile a whole multiple of 64); what the label covers, and the
SSIM window's reach into it, is left out of every metric, for every kind alike ("whole frame" is
the frame without its top-left label corner, ~10 % of its pixels). A new topic for the raw frames would
add to the node's contract for a benchmark's sake; the strip is what an operator sees.

Pairing: the filmstrip's stamp is the observation's; each predicted frame (obs stamp + offset) is
paired with the camera frame closest to its time within wam_node's ``surprise_match_tolerance``
(the same ``PredictionMatcher`` as the surprise monitor, fed here with the frames this process
receives), and with the camera frame at the observation stamp, the copy baseline. Only the pairs of
an episode count (``PredictionLog``: observed after the scene's reset, for a time before the episode's
success or disarm); the bridge is armed right after each reset, and the printed arm delays say how
soon. Closed loop, each chunk starts executing when it arrives (the inference latency after its
observation, plus ``extra_latency``) and is replaced by the next one when that arrives (the printed
prediction interval), so the real frames show what the graph did with the chunk, not the chunk run
open loop from its observation. Metrics at the model's 64x64 (the real frames INTER_AREA-resized as
the policy does), as in ``bench_world_model.py``: PSNR / SSIM, whole frame and changed pixels, per
camera and offset, with the copy baseline and the AE ceiling; ``--latencies`` in ms sets wam_node's
``extra_latency``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from bench_world_model import Comparison, autoencode, compare, gaps, mean_metric, table  # same directory

from wam_ros.apps.evaluation import run_episodes, sim_session
from wam_ros.apps.graph import GraphOptions
from wam_ros.apps.graph_runner import stop_on_termination_signals
from wam_ros.monitoring.prediction_log import PredictionLog
from wam_ros.params import by_name
from wam_ros.params import wam_node as wam_node_params
from wam_ros.policies.tiny_wam_policy import TinyWamPolicy
from wam_ros.resources import DEFAULT_CHECKPOINT, resolve
from wam_ros.safety.supervisor import SafetyState
from wam_ros.tiny_wam.data import resize_frame
from wam_ros.tiny_wam.image_metrics import window_interior
from wam_ros.visualization.filmstrip import predicted_from_strip, predicted_pixels

_WAM = by_name(wam_node_params.PARAMS)
RUNNING = (SafetyState.ARMED.value, SafetyState.ACTIVE.value)


def watch(log: PredictionLog, cameras: tuple[str, ...], offsets: list[float], frame_size: tuple[int, int],
          tile: int):
    """A node (own context, background thread) feeding ``log`` from the running graph's topics."""
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from wam_ros.ros.background_node import BackgroundNode
    from wam_ros.ros.image_conversion import ImageConversionError, image_from_msg
    from wam_ros.ros.qos import LATCHED, SENSOR
    from wam_ros.ros.time_conversion import time_to_sec

    class Watcher(BackgroundNode):
        def __init__(self) -> None:
            super().__init__("wam_world_model_bench")
            self.node.set_parameters([Parameter("use_sim_time", Parameter.Type.BOOL, True)])  # stamps are sim time
            self.refused: dict[str, int] = {}  # strips that could not be read, by reason
            self.state = ""  # the safety bridge's
            self.episode: int | None = None  # the sim's; the scene it started with is no episode of this run
            self.reset_at = float("nan")
            self.arm_delays: list[float] = []  # s from each reset to the bridge armed
            n = self.node
            n.create_subscription(Image, "/wam/predicted_frames", self._on_strip, 10)
            for cam in cameras:
                n.create_subscription(Image, f"/camera/{cam}/color/image_raw",
                                      lambda m, c=cam: self._on_frame(c, m), SENSOR)
            n.create_subscription(String, "/wam/safety_state", self._on_safety, LATCHED)
            n.create_subscription(String, "/sim/scene_state", self._on_scene, LATCHED)

        def _now(self) -> float:
            """Simulation time (before the first /clock: the newest camera stamp)."""
            return self.node.get_clock().now().nanoseconds * 1e-9 or log.newest

        def _on_strip(self, msg: Image) -> None:
            try:
                frames = predicted_from_strip(image_from_msg(msg), cameras, offsets, frame_size, (tile, tile))
            except (ImageConversionError, ValueError) as exc:
                self.refused[str(exc)] = self.refused.get(str(exc), 0) + 1
                return
            log.add_prediction(time_to_sec(msg.header.stamp), offsets, frames)

        def _on_frame(self, camera: str, msg: Image) -> None:
            log.add_frame(camera, time_to_sec(msg.header.stamp), image_from_msg(msg).copy())

        def _on_safety(self, msg: String) -> None:
            if msg.data not in RUNNING:
                log.stopped(self._now())  # disarmed for the next reset, or a fault
            elif self.state not in RUNNING:  # armed (ARMED <-> ACTIVE is the same run)
                self.arm_delays.append(self._now() - self.reset_at)
            self.state = msg.data

        def _on_scene(self, msg: String) -> None:
            scene = json.loads(msg.data)
            if self.episode is not None and scene["episode"] != self.episode:
                self.reset_at = float(scene["stamp"]) - float(scene["episode_time"])
                log.started(self.reset_at)
            self.episode = scene["episode"]
            if scene.get("success"):
                log.stopped(float(scene["stamp"]))

    return Watcher()


def judge(log: PredictionLog, policy: TinyWamPolicy, judged: dict[float, np.ndarray], threshold: float
          ) -> list[Comparison]:
    """Every pair of the episodes, at the model's size: predicted, copy and AE ceiling against the real."""
    size = policy.spec.image_size
    out = []
    for p in log.pairs():  # observed frames come at the predicted frames' size, the model's
        real, current = resize_frame(p.real, size), resize_frame(p.observed, size)
        guesses = {"predicted": p.predicted, "copy": current, "AE ceiling": autoencode(policy, real)}
        out.append(compare(current, real, guesses, threshold, p.camera, p.offset, judged[p.offset]))
    return out


def run(opts: GraphOptions, policy: TinyWamPolicy, a: argparse.Namespace) -> tuple[list[Comparison], str]:
    """One graph session of ``a.episodes`` episodes: the comparisons and a summary line."""
    cams, size = policy.spec.cameras, policy.spec.image_size
    offsets = [float(o) for o in policy.frame_offsets]
    tile = _WAM["filmstrip_tile"].default
    log = PredictionLog(_WAM["surprise_match_tolerance"].default)
    watcher = watch(log, cams, offsets, size, tile)
    t0 = time.monotonic()
    try:
        def said(i: int, r) -> None:
            print(f"  episode {i}: seed {r.seed} '{r.instruction}': {'SUCCESS' if r.success else 'fail'} "
                  f"({r.duration:.1f} s)", flush=True)

        with sim_session(opts, a.log_dir, a.seed) as (cmd, runner):
            results = run_episodes(cmd, runner, a.episodes, a.episode_timeout, on_result=said)
            wam = cmd.diagnostic("wam_node")
    finally:
        watcher.close()
    # a window still open (the last episode's success not seen) ends with the newest frame
    log.stopped(log.newest)
    judged = {o: window_interior(m) for o, m in zip(offsets, predicted_pixels(offsets, size, (tile, tile)))}
    comparisons = judge(log, policy, judged, a.threshold)
    st = log.stats()
    share = sum(m.sum() for m in judged.values()) / sum(m.size for m in judged.values())
    steps = np.diff(log.prediction_stamps)
    delays = [d for d in watcher.arm_delays if np.isfinite(d)]
    summary = (f"extra latency {opts.extra_latency * 1e3:.0f} ms: {sum(r.success for r in results)}/{len(results)} "
               f"successes; wam_node chunks {wam.get('chunks', '?')}, inference p50 "
               f"{float(wam.get('latency_p50_ms', 'nan')):.0f} ms; predictions read {st['predictions']} "
               f"(median interval {np.median(steps) if steps.size else float('nan'):.2f} s), "
               f"pairs {st['pairs']} ({st['pairs_in_episodes']} in episodes), unmatched {st['unmatched']}, "
               f"expired {st['expired']}, without observed frame {st['no_observed_frame']}; armed "
               f"{min(delays, default=float('nan')):.2f}-{max(delays, default=float('nan')):.2f} s after the resets; "
               f"{share * 100:.0f} % of each frame judged; {time.monotonic() - t0:.0f} s")
    if watcher.refused:
        summary += f"; unreadable strips: {watcher.refused}"
    return comparisons, summary


def split_still(comparisons: list[Comparison]) -> tuple[list[Comparison], list[Comparison]]:
    """(the rest, the comparisons whose real frame is the observed one pixel for pixel): where nothing moved, the
    copy's PSNR is infinite and would swamp every mean, so those are reported apart (``still_line``)."""
    still = [c for c in comparisons if np.isinf(c.whole["copy"][0])]
    return [c for c in comparisons if not np.isinf(c.whole["copy"][0])], still


def still_line(still: list[Comparison]) -> str:
    """What the prediction measured where reality stood still (the copy is exact there)."""
    if not still:
        return "no comparison where nothing moved"
    per = ", ".join(f"{cam} +{off:.1f} s: {sum(c.camera == cam and c.offset == off for c in still)}"
                    for cam in sorted({c.camera for c in still}) for off in sorted({c.offset for c in still}))
    return (f"{len(still)} comparison(s) where nothing moved (the real frame is the observed one; {per}), left out "
            f"of the table: there the prediction measured PSNR {mean_metric(still, 'whole', 'predicted', 0):.1f} dB, "
            f"SSIM {mean_metric(still, 'whole', 'predicted', 1):.3f} (whole frame), the copy is exact")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT)
    ap.add_argument("--episodes", type=int, default=3, help="closed-loop episodes per latency")
    ap.add_argument("--seed", type=int, default=1000, help="first seed (held out from training)")
    ap.add_argument("--latencies", default="0", help="wam_node extra_latency values, ms, comma-separated")
    ap.add_argument("--episode-timeout", type=float, default=20.0)
    ap.add_argument("--threshold", type=float, default=0.1, help="changed pixel: |real - current| > this share")
    ap.add_argument("--log-dir", type=Path, default=Path("outputs/bench-world-model-graph-logs"))
    a = ap.parse_args(argv)
    stop_on_termination_signals()
    import torch

    torch.set_num_threads(1)
    policy = TinyWamPolicy(a.checkpoint, device="cpu")  # its spec and offsets, and the AE for the ceiling
    h, w = policy.spec.image_size
    for ms in (int(x) for x in a.latencies.split(",")):
        opts = GraphOptions(policy="tiny_wam", checkpoint=str(resolve(a.checkpoint)), extra_latency=ms / 1e3,
                            extra_params={"wam_node": {"camera_calibrations": [""]}})
        comparisons, summary = run(opts, policy, a)
        moved, still = split_still(comparisons)
        print(f"\ncheckpoint {a.checkpoint}; seeds {a.seed}-{a.seed + a.episodes - 1} through the sim graph; "
              f"{len(comparisons)} comparisons at {h}x{w}; changed pixel: |real - current| > {a.threshold:g} "
              f"of the range\n{summary}\n{still_line(still)}\n")
        if moved:
            print(table(moved))
            print("\n" + gaps(moved), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
