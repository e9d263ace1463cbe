"""``wam-eval``: closed-loop episodes in simulation through the full node graph.

Starts the sim graph as separate processes (the same graph as ``make demo``), then for
each episode: disarm, reset the simulated scene to the next seed, arm, and wait until
the task succeeds or the episode times out. Seeds start at ``--seed`` (default 1000,
disjoint from the seeds demonstrations are collected on). Prints one line per episode
and the success rate; ``--json`` writes the results.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from wam_ros.apps.graph import GraphOptions, add_options, options_from_args, sim_graph
from wam_ros.apps.graph_runner import GraphRunner, add_set_argument, parse_set, stop_on_termination_signals
from wam_ros.resources import resolve


def pick_policy(policy: str, checkpoint: str) -> str:
    """'auto' -> tiny_wam when the checkpoint exists, else the scripted expert."""
    if policy != "auto":
        return policy
    return "tiny_wam" if (resolve(checkpoint) / "config.json").is_file() else "expert"


@contextmanager
def sim_session(opts: GraphOptions, log_dir: Path, seed: int, ready_timeout: float = 90.0) -> Iterator:
    """Run the sim graph and yield (StackCommander, GraphRunner); everything is stopped on exit."""
    # The sim starts on seed-1 and every episode begins with a reset to the next seed, so the
    # episodes run exactly seeds seed, seed+1, ...
    opts.extra_params.setdefault("sim_robot_node", {}).setdefault("seed", max(seed - 1, 0))
    runner = GraphRunner(sim_graph(opts), log_dir=log_dir, echo=None)
    runner.start()
    from wam_ros.ros.stack_commander import StackCommander

    cmd = StackCommander()
    try:
        if not cmd.wait_ready(ready_timeout):
            raise RuntimeError(
                f"graph not ready after {ready_timeout:.0f} s (dead nodes: {runner.dead()}); logs in {log_dir}"
            )
        yield cmd, runner
    finally:
        cmd.disarm()
        cmd.close()
        runner.stop()


def run_episodes(
    cmd,
    runner: GraphRunner,
    episodes: int,
    timeout: float,
    on_tick: Callable[[int], None] | None = None,
    on_result: Callable | None = None,
) -> list:
    """Run ``episodes`` episodes; ``on_tick(i)`` once a second while episode i runs."""
    results = []
    for ep in range(1, episodes + 1):
        box: list = []
        done = threading.Event()

        def run(box=box, done=done) -> None:
            try:
                box.append(cmd.run_episode(timeout))
            except Exception as exc:
                box.append(exc)
            done.set()

        threading.Thread(target=run, daemon=True).start()
        while not done.wait(1.0):
            if runner.dead():
                raise RuntimeError(f"node(s) exited: {runner.dead()}; logs in {runner.log_dir}")
            if on_tick:
                on_tick(ep)
        if isinstance(box[0], Exception):
            raise box[0]
        results.append(box[0])
        if on_result:
            on_result(ep, box[0])
    return results


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="wam-eval", description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=50)
    ap.add_argument("--policy", choices=("auto", "tiny_wam", "expert", "remote"), default="auto")
    add_options(ap, "checkpoint", "server_url", "server_profile", "smoother_strategy", "extra_latency")
    ap.add_argument("--seed", type=int, default=1000, help="first seed")
    ap.add_argument("--episode-timeout", type=float, default=20.0)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--log-dir", type=Path, default=Path("outputs/eval-logs"))
    add_set_argument(ap)
    a = ap.parse_args(argv)
    stop_on_termination_signals()
    policy = pick_policy(a.policy, a.checkpoint)
    opts = options_from_args(a, policy=policy, checkpoint=str(resolve(a.checkpoint)), extra_params=parse_set(a.set))

    def report(i: int, r) -> None:
        faults = f" faults {r.faults}" if r.faults else ""
        verdict = "SUCCESS" if r.success else "fail"
        print(
            f"[wam-eval] {i:3d}/{a.episodes} seed {r.seed} '{r.instruction}': {verdict} ({r.duration:.1f} s){faults}",
            flush=True,
        )

    t0 = time.monotonic()
    with sim_session(opts, a.log_dir, a.seed) as (cmd, runner):
        results = run_episodes(cmd, runner, a.episodes, a.episode_timeout, on_result=report)
        wam = cmd.diagnostic("wam_node") or cmd.diagnostic("expert")
        sm = cmd.diagnostic("smoother")
    n_ok = sum(r.success for r in results)
    summary = {
        "policy": policy,
        "strategy": a.smoother_strategy,
        "extra_latency": a.extra_latency,
        "episodes": len(results),
        "successes": n_ok,
        "success_rate": n_ok / max(1, len(results)),
        "wall_s": round(time.monotonic() - t0, 1),
        "inference_latency_p50_ms": wam.get("latency_p50_ms", wam.get("infer_ms")),
        "inference_latency_p99_ms": wam.get("latency_p99_ms"),
        "stall_time_total_s": sm.get("stall_time_total"),
        "stall_time_max_s": sm.get("stall_time_max"),
        "boundary_jump_max_rad": sm.get("boundary_jump_position_max"),
        "results": [asdict(r) for r in results],
    }
    print(
        f"[wam-eval] {policy}/{a.smoother_strategy} +{a.extra_latency * 1000:.0f} ms: {n_ok}/{len(results)} successes "
        f"({summary['success_rate']:.0%}) in {summary['wall_s']} s"
    )
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(summary, indent=2))
    sys.exit(0)


if __name__ == "__main__":
    main()
