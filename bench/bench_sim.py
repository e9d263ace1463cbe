"""Simulator speed: physics rate, render cost per camera, expert success rate, node CPU and rates.

Run: .venv/bin/python bench/bench_sim.py [--quick]
Prints small tables; the numbers in docs/simulation.md come from here.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(150, 230)))
REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(REPO / "config" / "fastdds.xml"))
sys.path.insert(0, str(REPO / "test"))
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from wam_ros.sim.mujoco_arm import ArmRenderer  # noqa: E402
from wam_ros.sim.rollout import run_episode  # noqa: E402
from wam_ros.sim.scripted_expert import ScriptedExpert  # noqa: E402
from wam_ros.sim.sim_env import SimEnv  # noqa: E402


def bench_physics(env: SimEnv, seconds: float = 20.0) -> None:
    env.reset(0)
    t0 = time.perf_counter()
    env.step(seconds)
    wall = time.perf_counter() - t0
    steps = seconds / env.arm.timestep
    print("\n| physics (headless, control update every step) | value |\n|---|---|")
    print(f"| timestep | {env.arm.timestep * 1e3:.1f} ms |")
    print(f"| physics steps/s | {steps / wall:,.0f} |")
    print(f"| real-time factor achieved | {seconds / wall:.0f}x |")


def bench_render(env: SimEnv, sizes: list[tuple[int, int]], n: int = 30) -> None:
    print("\n| image size | render ms per camera (mean) | both cameras at 15 Hz, CPU share |\n|---|---|---|")
    qpos = env.arm.data.qpos.copy()
    for w, h in sizes:
        r = ArmRenderer(env.arm.model, w, h)
        r.render(qpos)  # first render builds the GL context
        t0 = time.perf_counter()
        for i in range(n):
            qpos[0] = 0.01 * i
            r.render(qpos)
        per_cam = (time.perf_counter() - t0) / n / 2
        print(f"| {w}x{h} | {per_cam * 1e3:.1f} | {per_cam * 2 * 15 * 100:.0f}% of a core |")
        r.close()


def bench_expert(env: SimEnv, episodes: int) -> None:
    expert = ScriptedExpert(env.robot)
    t0 = time.perf_counter()
    results = [run_episode(env, expert.act, s, expert.period) for s in range(episodes)]
    wall = time.perf_counter() - t0
    ok = [r for r in results if r.success]
    print("\n| scripted expert | value |\n|---|---|")
    print(f"| success | {len(ok)}/{episodes} ({100 * len(ok) / episodes:.0f}%) |")
    print(f"| mean time to success | {np.mean([r.time_to_success for r in ok]):.2f} s (sim) |")
    print(f"| wall time | {wall:.1f} s ({wall / episodes * 1e3:.0f} ms per episode, headless) |")


def bench_node(seconds: float = 6.0) -> None:
    import psutil
    from ros_harness import NodeProcess, RosTestNode, wait_for
    from sensor_msgs.msg import Image, JointState

    print(
        "\n| sim_robot_node (rtf 1) | CPU % of one core | joint_states Hz | inter-arrival p50 / p99 / max ms "
        "| images Hz per camera |\n|---|---|---|---|---|"
    )
    for label, params in [
        ("cameras off", {"cameras_enabled": False}),
        ("2 cameras 160x120 @ 15 Hz", {}),
        ("2 cameras 320x240 @ 15 Hz", {"image_width": 320, "image_height": 240}),
    ]:
        node = NodeProcess("wam_ros.nodes.sim_robot_node", params=params)
        probe = RosTestNode("bench_probe")
        arrivals: list[float] = []
        probe.node.create_subscription(
            JointState, "/joint_states", lambda _m, a=arrivals: a.append(time.monotonic()), 100
        )
        images = probe.collect(Image, "/camera/scene/color/image_raw", 10)
        try:
            wait_for(lambda a=arrivals: len(a) > 20, 20.0)
            time.sleep(1.0)
            proc = psutil.Process(node.pid)
            proc.cpu_percent()
            n0, i0, t0 = len(arrivals), len(images), time.monotonic()
            time.sleep(seconds)
            cpu = proc.cpu_percent()
            dt = time.monotonic() - t0
            gaps = np.diff(arrivals[n0:]) * 1e3
            print(
                f"| {label} | {cpu:.0f} | {(len(arrivals) - n0) / dt:.0f} | {np.percentile(gaps, 50):.1f} / "
                f"{np.percentile(gaps, 99):.1f} / {gaps.max():.1f} | {(len(images) - i0) / dt:.1f} |"
            )
        finally:
            probe.close()
            node.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="10 expert episodes, no node run")
    args = ap.parse_args()
    env = SimEnv()
    bench_physics(env)
    bench_render(env, [(128, 128), (160, 120), (320, 240)])
    bench_expert(env, 10 if args.quick else 50)
    if not args.quick:
        bench_node()


if __name__ == "__main__":
    main()
