"""``make demo``: the whole stack, closed loop, on the simulated arm.

Starts the sim graph as separate processes (simulated arm + cameras, the WAM node with
the bundled checkpoint — or the scripted expert while no checkpoint exists — the chunk
smoother and the safety bridge), arms it, runs seeded episodes, prints a live status
line, and writes a video of the scene camera with the predicted-future filmstrip beside
it to ``outputs/`` (the chunk's path drawn into each camera; predicted frames beside the real
frames that arrived for their time, and their difference). Ctrl-C disarms (the bridge holds
the arm) and stops every process.
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
#: (w, h) of the demo video: the scene camera at 480x360 and the filmstrip (observed, predicted, real and
#: difference tiles of both cameras) beside it.
VIDEO_SIZE = (1440, 360)


def _fit(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``img`` scaled to fit ``size`` (w, h) with its aspect ratio kept, centred on a dark background."""
    w, h = size
    scale = min(w / img.shape[1], h / img.shape[0])
    fw, fh = max(1, round(img.shape[1] * scale)), max(1, round(img.shape[0] * scale))
    out = np.full((h, w, 3), 20, np.uint8)
    y, x = (h - fh) // 2, (w - fw) // 2
    out[y : y + fh, x : x + fw] = cv2.resize(img, (fw, fh), interpolation=cv2.INTER_AREA if scale < 1
                                             else cv2.INTER_NEAREST)
    return out


def compose(camera: np.ndarray | None, filmstrip: np.ndarray | None, size: tuple[int, int] = VIDEO_SIZE) -> np.ndarray:
    """One video frame of ``size`` (w, h, even): the scene camera (left, 4:3 at full height) and the latest
    predicted-future filmstrip fitted beside it. The filmstrip's shape changes (its comparison columns appear
    once real frames are paired); the frame's does not."""
    w, h = size
    cam_w = h * 4 // 3 // 2 * 2
    boxes = []
    for img, what, box in ((camera, "waiting for the scene camera", (cam_w, h)),
                           (filmstrip, "no predicted frames (policy has none)", (w - cam_w, h))):
        if img is None:
            img = np.zeros((h, cam_w, 3), np.uint8)
            cv2.putText(img, what, (8, h // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (200, 200, 200), 1, cv2.LINE_AA)
        boxes.append(_fit(img, box))
    return np.concatenate(boxes, axis=1)


class VideoRecorder(threading.Thread):
    """Samples the commander's latest camera frame + filmstrip at VIDEO_FPS into an MP4 (PyAV)."""

    def __init__(self, commander, path: Path) -> None:
        super().__init__(daemon=True)
        self.commander, self.path = commander, path
        self.stop_event = threading.Event()
        self.frames = 0

    def run(self) -> None:
        from wam_ros.dataset.video import VideoEncoder, available_encoder, encoder_options

        encoder = None
        with open(self.path, "wb") as f:
            while not self.stop_event.wait(1.0 / VIDEO_FPS):
                frame = compose(self.commander.camera_frame, self.commander.filmstrip)
                if encoder is None:
                    codec = available_encoder("libx264")
                    encoder = VideoEncoder(f, *VIDEO_SIZE, VIDEO_FPS, codec, encoder_options(codec, 23, 20, "veryfast"))
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
