"""``make demo``: the whole stack, closed loop, on the simulated arm.

Starts the sim graph as separate processes (simulated arm + cameras, the WAM node with
the bundled checkpoint — or the scripted expert while no checkpoint exists — the chunk
smoother and the safety bridge), arms it, runs seeded episodes, prints a live status
line, and writes a video of the scene camera with the predicted-future filmstrip beside
it to ``outputs/``. Ctrl-C disarms (the bridge holds the arm) and stops every process.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from wam_ros.apps.evaluation import pick_policy, run_episodes, sim_session
from wam_ros.apps.graph import add_options, options_from_args
from wam_ros.apps.graph_runner import add_set_argument, parse_set, stop_on_termination_signals
from wam_ros.resources import resolve

VIDEO_FPS = 10


def compose(camera: np.ndarray | None, filmstrip: np.ndarray | None, height: int = 240) -> np.ndarray:
    """Camera view (left) and the latest predicted-future filmstrip (right), same height."""
    tiles = []
    for img, what in ((camera, "waiting for the scene camera"), (filmstrip, "no predicted frames (policy has none)")):
        if img is None:
            img = np.zeros((height, height * 4 // 3, 3), np.uint8)
            cv2.putText(img, what, (8, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (200, 200, 200), 1, cv2.LINE_AA)
        scale = height / img.shape[0]
        tiles.append(cv2.resize(img, (max(2, round(img.shape[1] * scale)), height), interpolation=cv2.INTER_AREA))
    frame = np.concatenate(tiles, axis=1)
    return frame[:, : frame.shape[1] // 2 * 2]  # even width for yuv420p


class VideoRecorder(threading.Thread):
    """Samples the commander's latest camera frame + filmstrip at VIDEO_FPS into an MP4 (PyAV)."""

    def __init__(self, commander, path: Path) -> None:
        super().__init__(daemon=True)
        self.commander, self.path = commander, path
        self.stop_event = threading.Event()
        self.frames = 0

    def run(self) -> None:
        from wam_ros.dataset.video import VideoEncoder, available_encoder, encoder_options

        encoder, size = None, None
        with open(self.path, "wb") as f:
            while not self.stop_event.wait(1.0 / VIDEO_FPS):
                frame = compose(self.commander.camera_frame, self.commander.filmstrip)
                if encoder is None:
                    codec = available_encoder("libx264")
                    size = (frame.shape[1], frame.shape[0])
                    encoder = VideoEncoder(f, *size, VIDEO_FPS, codec, encoder_options(codec, 23, 20, "veryfast"))
                if (frame.shape[1], frame.shape[0]) != size:
                    frame = cv2.resize(frame, size)
                encoder.add(frame)
                self.frames += 1
            if encoder is not None:
                encoder.close()


def status_line(cmd, episode: int, total: int, successes: int, started: float) -> str:
    wam = cmd.diagnostic("wam_node") or cmd.diagnostic("expert")
    sm = cmd.diagnostic("smoother")
    lat = wam.get("latency_p50_ms") or wam.get("infer_ms") or "?"
    try:
        rate = f"{1.0 / float(sm.get('inference_interval_mean', 'nan')):.2f}"
    except (ValueError, ZeroDivisionError):
        rate = "?"
    return (
        f"t={time.monotonic() - started:6.1f}s episode {episode}/{total} successes {successes} | "
        f"safety {cmd.safety_state or '?':<10} | inference p50 {lat} ms | chunks/s {rate} | "
        f"stall {sm.get('stall_time_total', '?')} s"
    )


def choose_policy(requested: str, checkpoint: str) -> str:
    """The policy to run: 'auto' is the bundled checkpoint when present, else the scripted expert (said so)."""
    policy = pick_policy(requested, checkpoint)
    if policy == "expert" and requested == "auto":
        print(f"[demo] no checkpoint at {checkpoint}: the scripted expert stands in as the policy")
    return policy


def episode_line(ep: int, r) -> str:
    """One finished episode, for the log."""
    faults = f" faults {r.faults}" if r.faults else ""
    return (f"\r[demo] episode {ep}: seed {r.seed} '{r.instruction}' -> "
            f"{'SUCCESS' if r.success else 'fail'} in {r.duration:.1f} s{faults}\x1b[K")


@dataclass
class DemoRun:
    """What a demo session leaves behind for the summary."""

    results: list = field(default_factory=list)  # EpisodeResult per finished episode
    wam: dict = field(default_factory=dict)  # the policy node's last diagnostics
    smoother: dict = field(default_factory=dict)  # the smoother's last diagnostics
    codes: dict = field(default_factory=dict)  # node -> exit code
    recorder: VideoRecorder | None = None


def run_session(opts, a: argparse.Namespace, log_dir: Path, video: Path | None) -> DemoRun:
    """Start the sim graph, record the video (unless ``video`` is None), run the episodes with a live status
    line; Ctrl-C ends it early, disarmed. Every node has exited on return."""
    run = DemoRun()
    started = time.monotonic()
    try:
        with sim_session(opts, log_dir, a.seed) as (cmd, runner):
            if video is not None:
                run.recorder = VideoRecorder(cmd, video)
                run.recorder.start()

            def tick(ep: int) -> None:
                line = status_line(cmd, ep, a.episodes, sum(r.success for r in run.results), started)
                print("\r" + line + "\x1b[K", end="", flush=True)

            def done(ep: int, r) -> None:
                run.results.append(r)
                print(episode_line(ep, r))

            try:
                run_episodes(cmd, runner, a.episodes, a.episode_timeout, on_tick=tick, on_result=done)
            except KeyboardInterrupt:
                print("\n[demo] Ctrl-C: disarming (the bridge holds the arm) and stopping")
            run.wam = cmd.diagnostic("wam_node") or cmd.diagnostic("expert")
            run.smoother = cmd.diagnostic("smoother")
            if run.recorder is not None:
                run.recorder.stop_event.set()
                run.recorder.join(timeout=10)
        run.codes = runner.dead()  # every node has exited by now: their exit codes
    except KeyboardInterrupt:
        print("\n[demo] Ctrl-C: stopped")
    return run


def summary_lines(policy: str, strategy: str, extra_latency: float, run: DemoRun) -> list[str]:
    """The summary printed at the end: successes, inference latency, smoother stalls, video, exit codes."""
    wam, sm, results = run.wam, run.smoother, run.results
    n = len(results)
    ok = sum(r.success for r in results)
    lines = [
        "\n[demo] summary",
        f"  policy            {policy} (strategy {strategy}, extra latency {extra_latency:.2f} s)",
        f"  episodes          {n}, successes {ok}" + (f" ({ok / n:.0%})" if n else ""),
    ]
    if ok:
        lines.append(f"  time to success   {np.mean([r.duration for r in results if r.success]):.1f} s mean")
    lines += [
        f"  inference         p50 {wam.get('latency_p50_ms', wam.get('infer_ms', '?'))} ms, "
        f"p99 {wam.get('latency_p99_ms', '?')} ms",
        f"  smoother          stall total {sm.get('stall_time_total', '?')} s "
        f"(longest {sm.get('stall_time_max', '?')} s), "
        f"max boundary jump {sm.get('boundary_jump_position_max', '?')} rad, "
        f"chunks accepted {sm.get('chunks_accepted', '?')}",
    ]
    if run.recorder is not None:
        lines.append(f"  video             {run.recorder.path} ({run.recorder.frames} frames at {VIDEO_FPS} fps)")
    lines.append(f"  processes         {run.codes}")
    return lines


def exit_code(run: DemoRun) -> int:
    """0 when episodes ran and every node exited cleanly (0, or -2: stopped by SIGINT)."""
    return 0 if run.results and run.codes and all(c in (0, -2) for c in run.codes.values()) else 1


def run_demo(a: argparse.Namespace) -> int:
    """The demo for parsed options: the sim graph, the episodes, the summary; the process exit code."""
    policy = choose_policy(a.policy, a.checkpoint)
    opts = options_from_args(a, policy=policy, checkpoint=str(resolve(a.checkpoint)), extra_params=parse_set(a.set))
    a.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_dir = a.out / f"demo-{stamp}-logs"
    print(f"[demo] starting the sim graph (policy {policy}, strategy {a.smoother_strategy}); logs in {log_dir}")
    run = run_session(opts, a, log_dir, None if a.no_video else a.out / f"demo-{stamp}.mp4")
    for line in summary_lines(policy, a.smoother_strategy, a.extra_latency, run):
        print(line)
    return exit_code(run)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="wam-demo", description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=5)
    ap.add_argument(
        "--policy",
        choices=("auto", "tiny_wam", "expert"),
        default="auto",
        help="auto: the bundled tiny_wam checkpoint if present, else the scripted expert",
    )
    add_options(ap, "checkpoint", "smoother_strategy", "extra_latency")
    ap.add_argument("--seed", type=int, default=1000, help="first simulator seed")
    ap.add_argument("--episode-timeout", type=float, default=20.0, help="episode time before it counts as failed [s]")
    ap.add_argument("--out", type=Path, default=Path("outputs"))
    ap.add_argument("--no-video", action="store_true")
    add_set_argument(ap)
    a = ap.parse_args(argv)
    stop_on_termination_signals()

    sys.exit(run_demo(a))


if __name__ == "__main__":
    main()
