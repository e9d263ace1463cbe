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

    policy = pick_policy(a.policy, a.checkpoint)
    if policy == "expert" and a.policy == "auto":
        print(f"[demo] no checkpoint at {a.checkpoint}: the scripted expert stands in as the policy")
    opts = options_from_args(a, policy=policy, checkpoint=str(resolve(a.checkpoint)), extra_params=parse_set(a.set))
    a.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_dir = a.out / f"demo-{stamp}-logs"
    print(f"[demo] starting the sim graph (policy {policy}, strategy {a.smoother_strategy}); logs in {log_dir}")
    results: list = []
    recorder = None
    wam: dict = {}
    sm: dict = {}
    codes: dict = {}
    started = time.monotonic()
    try:
        with sim_session(opts, log_dir, a.seed) as (cmd, runner):
            if not a.no_video:
                recorder = VideoRecorder(cmd, a.out / f"demo-{stamp}.mp4")
                recorder.start()

            def tick(ep: int) -> None:
                line = status_line(cmd, ep, a.episodes, sum(r.success for r in results), started)
                print("\r" + line + "\x1b[K", end="", flush=True)

            def done(ep: int, r) -> None:
                results.append(r)
                faults = f" faults {r.faults}" if r.faults else ""
                print(
                    f"\r[demo] episode {ep}: seed {r.seed} '{r.instruction}' -> "
                    f"{'SUCCESS' if r.success else 'fail'} in {r.duration:.1f} s{faults}\x1b[K"
                )

            try:
                run_episodes(cmd, runner, a.episodes, a.episode_timeout, on_tick=tick, on_result=done)
            except KeyboardInterrupt:
                print("\n[demo] Ctrl-C: disarming (the bridge holds the arm) and stopping")
            wam = cmd.diagnostic("wam_node") or cmd.diagnostic("expert")
            sm = cmd.diagnostic("smoother")
            if recorder is not None:
                recorder.stop_event.set()
                recorder.join(timeout=10)
        codes = runner.dead()  # every node has exited by now: their exit codes
    except KeyboardInterrupt:
        print("\n[demo] Ctrl-C: stopped")
    n = len(results)
    ok = sum(r.success for r in results)
    print("\n[demo] summary")
    print(f"  policy            {policy} (strategy {a.smoother_strategy}, extra latency {a.extra_latency:.2f} s)")
    print(f"  episodes          {n}, successes {ok}" + (f" ({ok / n:.0%})" if n else ""))
    if ok:
        print(f"  time to success   {np.mean([r.duration for r in results if r.success]):.1f} s mean")
    print(
        f"  inference         p50 {wam.get('latency_p50_ms', wam.get('infer_ms', '?'))} ms, "
        f"p99 {wam.get('latency_p99_ms', '?')} ms"
    )
    print(
        f"  smoother          stall total {sm.get('stall_time_total', '?')} s "
        f"(longest {sm.get('stall_time_max', '?')} s), "
        f"max boundary jump {sm.get('boundary_jump_position_max', '?')} rad, "
        f"chunks accepted {sm.get('chunks_accepted', '?')}"
    )
    if recorder is not None:
        print(f"  video             {recorder.path} ({recorder.frames} frames at {VIDEO_FPS} fps)")
    print(f"  processes         {codes}")
    sys.exit(0 if n and codes and all(c in (0, -2) for c in codes.values()) else 1)


if __name__ == "__main__":
    main()
