"""Latency tolerance: success rate and stalls vs injected inference latency, per execution mode.

Runs the headless closed loop (wam_ros.sim.closed_loop: the simulated arm, the policy, the
InferenceScheduler and the ChunkSmoother on simulation time) for the smoother
strategies latest / temporal_ensemble / rtc_blend and for synchronous stop-and-go,
at extra latencies 0, 200, 400, 800, 1200 ms.

    .venv/bin/python bench/bench_latency.py                       # scripted expert as the policy
    .venv/bin/python bench/bench_latency.py --policy tiny_wam     # the bundled checkpoint (renders cameras)

Async modes trigger the next inference when the unexecuted part of the chunk falls to
the expected latency + 0.3 s (real-time chunking's rule), so a chunk lands before the
previous one runs out whenever the horizon allows it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from wam_ros.resources import DEFAULT_CHECKPOINT
from wam_ros.sim.closed_loop import MODES, ClosedLoop, LoopConfig
from wam_ros.sim.sim_env import SimEnv

LATENCIES_MS = (0, 200, 400, 800, 1200)


def make_policy(name: str, env: SimEnv, checkpoint: str, noise_scale: float = 0.0):
    if name == "expert":
        from wam_ros.sim.scripted_expert import ScriptedExpertPolicy

        return ScriptedExpertPolicy(env.robot, env.scene_state), None
    from wam_ros.policies.tiny_wam_policy import TinyWamPolicy

    policy = TinyWamPolicy(checkpoint, device="cpu", joint_names=env.robot.actuated_joints, num_threads=1,
                           noise_scale=noise_scale)
    return policy, policy.spec.action_horizon * policy.spec.action_period


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policy", choices=("expert", "tiny_wam"), default="expert")
    ap.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT)
    ap.add_argument("--noise-scale", type=float, default=0.0, help="tiny_wam sampling noise (0: deterministic)")
    ap.add_argument("--episodes", type=int, default=20, help="seeded episodes per cell")
    ap.add_argument("--seed", type=int, default=1000, help="first seed (held out from training seeds)")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--latencies", default=",".join(map(str, LATENCIES_MS)), help="extra latency, ms")
    ap.add_argument(
        "--compute",
        type=float,
        default=None,
        help="fixed compute latency per inference in s (default: measured wall time)",
    )
    ap.add_argument("--max-time", type=float, default=15.0)
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    a = ap.parse_args(argv)
    env = SimEnv()
    policy, _ = make_policy(a.policy, env, a.checkpoint, a.noise_scale)
    horizon_s = policy.spec.action_horizon * policy.spec.action_period
    rows = []
    print(
        f"policy={a.policy} episodes/cell={a.episodes} seeds {a.seed}..{a.seed + a.episodes - 1} "
        f"chunk={policy.spec.action_horizon}x{policy.spec.action_period}s"
    )
    print(
        f"{'mode':<18}{'extra ms':>9}{'success':>9}{'t_success s':>12}{'stall s/ep':>11}{'max stall s':>12}"
        f"{'max raw jump rad':>17}{'at named':>10}{'end cm':>9}{'wall s':>8}"
    )
    for mode in a.modes.split(","):
        for lat_ms in (int(x) for x in a.latencies.split(",")):
            extra = lat_ms / 1000.0
            expected = (a.compute if a.compute is not None else 0.08) + extra
            threshold = min(expected + 0.3, horizon_s - 0.05)
            cfg = LoopConfig(
                mode=mode,
                extra_latency=extra,
                compute_latency=a.compute,
                trigger_threshold=threshold,
                max_time=a.max_time,
                render=a.policy != "expert",
            )
            loop = ClosedLoop(env, policy, cfg)
            t0 = time.perf_counter()
            outs = [loop.run_episode(a.seed + i) for i in range(a.episodes)]
            loop.close()
            ok = [o for o in outs if o.success]
            row = {
                "mode": mode,
                "extra_latency_ms": lat_ms,
                "episodes": len(outs),
                "success_rate": len(ok) / len(outs),
                "time_to_success_mean": float(np.mean([o.time_to_success for o in ok])) if ok else math.inf,
                "stall_time_mean": float(np.mean([o.stall_time for o in outs])),
                "max_stall": float(max(o.max_stall for o in outs)),
                "max_raw_jump": float(max(o.max_jump for o in outs)),
                "named_cube_nearest_rate": float(np.mean([o.nearest_is_named for o in outs])),
                "final_distance_median": float(np.median([o.final_distance for o in outs])),
                "wall_s": time.perf_counter() - t0,
            }
            rows.append(row)
            print(
                f"{mode:<18}{lat_ms:>9}{row['success_rate']:>9.0%}{row['time_to_success_mean']:>12.2f}"
                f"{row['stall_time_mean']:>11.3f}{row['max_stall']:>12.3f}{row['max_raw_jump']:>17.3f}"
                f"{row['named_cube_nearest_rate']:>10.0%}{row['final_distance_median'] * 100:>9.1f}"
                f"{row['wall_s']:>8.1f}",
                flush=True,
            )
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"policy": a.policy, "rows": rows}, indent=2))
    sys.exit(0)


if __name__ == "__main__":
    main()
