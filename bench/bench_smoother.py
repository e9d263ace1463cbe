"""Chunk smoother benchmark: per-tick compute time, strategy comparison, and DDS jitter.

    .venv/bin/python bench/bench_smoother.py [--seconds 5] [--skip-dds]

1. compute: ChunkSmoother.step() (+ the trajectory-mode look-ahead) for the 7-joint arm,
   headless on a simulated clock at 100 Hz, chunks of 16 x 0.1 s every 0.3 s, 0.4 s late.
2. strategies: the same stream with noisy chunks and 0.2-0.6 s random delay: raw boundary
   jumps, stall time and tracking error of the filtered output against the true path.
3. dds: chunk_smoother_node in its own process publishing /wam/command at 100 and 500 Hz;
   inter-arrival times measured by a subscriber in this process (p50/p99/max).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "test"))
# DDS stays on this machine, in a private domain (as in test/conftest.py).
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 80))
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(REPO / "config" / "fastdds.xml"))

from wam_ros.control.chunk_blending import STRATEGIES  # noqa: E402
from wam_ros.control.chunk_smoother import ChunkSmoother, SmootherConfig  # noqa: E402
from wam_ros.robot.model import RobotModel  # noqa: E402
from wam_ros.robot.trajectory import Trajectory  # noqa: E402

ROBOT = RobotModel.load()
NAMES = ROBOT.actuated_joints


def true_path(t: np.ndarray) -> np.ndarray:
    t = np.atleast_1d(t)[:, None]
    return np.array([0, 0, 0, 0, 0, 0, 0.02]) + np.array([0.5, 0.4, 0.5, 0.6, 0.6, 0.6, 0.015]) * np.sin(
        1.2 * t + np.arange(7)
    )


def run_stream(strategy: str, seconds: float, rate: float, delay, noise: float, rng, lookahead: int = 0):
    """Headless smoother on a simulated clock; returns per-tick times [s] and the smoother."""
    dt = 1.0 / rate
    s = ChunkSmoother(ROBOT, SmootherConfig(strategy=strategy, dt=dt))
    s.set_joint_state(NAMES, true_path(0.0)[0])
    s.step(0.0)
    times = 0.1 * np.arange(1, 17)
    pending = []
    for stamp in np.arange(0.0, seconds, 0.3):
        pos = true_path(stamp + times) + rng.normal(0, noise, (16, 7))
        pending.append((stamp + delay(rng), Trajectory(stamp, NAMES, times, pos)))
    pending.sort(key=lambda x: x[0])
    tick_s, chunk_s, err = [], [], []
    i = 0
    for k in range(1, int(seconds * rate)):
        t = k * dt
        while i < len(pending) and pending[i][0] <= t:
            t0 = time.perf_counter()
            s.add_chunk(pending[i][1], t)
            chunk_s.append(time.perf_counter() - t0)
            i += 1
        t0 = time.perf_counter()
        cmd = s.step(t)
        if lookahead:
            s.lookahead(lookahead, 0.02)
        tick_s.append(time.perf_counter() - t0)
        if t > 1.0:
            err.append(np.max(np.abs(cmd.positions[:6] - true_path(t)[0, :6])))
    return np.array(tick_s), np.array(chunk_s), np.array(err), s


def bench_compute(seconds: float) -> None:
    print("\n## per-tick compute, 7 joints, 100 Hz simulated clock (us)")
    print(f"{'strategy':<18} {'mode':<22} {'tick p50':>9} {'tick p99':>9} {'chunk p50':>10} {'chunk p99':>10}")
    for strategy in STRATEGIES:
        for label, la in (("stream (step)", 0), ("trajectory (+6 pts)", 6)):
            rng = np.random.default_rng(0)
            ticks, chunks, _, _ = run_stream(strategy, seconds, 100.0, lambda r: 0.4, 0.01, rng, lookahead=la)
            us = 1e6
            print(f"{strategy:<18} {label:<22} {np.percentile(ticks, 50) * us:9.1f} "
                  f"{np.percentile(ticks, 99) * us:9.1f} {np.percentile(chunks, 50) * us:10.1f} "
                  f"{np.percentile(chunks, 99) * us:10.1f}")


def bench_strategies(seconds: float) -> None:
    print("\n## strategies: noisy chunks (sigma 0.02 rad), delay U(0.2, 0.6) s, every 0.3 s")
    print(f"{'strategy':<18} {'raw jump mean':>13} {'raw jump max':>12} {'stall s':>8} {'track err p50':>13} "
          f"{'track err max':>13}")
    for strategy in STRATEGIES:
        rng = np.random.default_rng(1)
        _, _, err, s = run_stream(strategy, seconds, 100.0, lambda r: r.uniform(0.2, 0.6), 0.02, rng)
        st = s.stats()
        print(f"{strategy:<18} {s.jump_position.mean:13.4f} {st['boundary_jump_position_max']:12.4f} "
              f"{st['stall_time_total']:8.2f} {np.percentile(err, 50):13.4f} {np.max(err):13.4f}")


def bench_dds(seconds: float) -> None:
    import rclpy  # noqa: F401  (after the DDS environment is set)
    from ros_harness import NodeProcess, RosTestNode, wait_for
    from sensor_msgs.msg import JointState
    from trajectory_msgs.msg import JointTrajectory

    from wam_ros.ros import qos
    from wam_ros.ros.time_conversion import time_to_sec
    from wam_ros.ros.trajectory_conversion import trajectory_to_msg

    print(f"\n## /wam/command over DDS (node in its own process, subscriber here, {seconds:.0f} s each)")
    print(f"{'rate':>5} {'mode':<11} {'msgs':>6} {'arrival p50 ms':>14} {'p99 ms':>8} {'max ms':>8} "
          f"{'stamp step p99 ms':>17} {'latency p50 ms':>14}")
    probe = RosTestNode("bench_smoother_probe")
    try:
        js_pub = probe.node.create_publisher(JointState, "/joint_states", qos.SENSOR)
        chunk_pub = probe.node.create_publisher(JointTrajectory, "/wam/action_chunk", qos.COMMAND)
        q0 = true_path(0.0)[0]

        def publish_state() -> None:
            msg = JointState(name=list(NAMES), position=[float(x) for x in q0])
            msg.header.stamp = probe.node.get_clock().now().to_msg()
            js_pub.publish(msg)

        def publish_chunk() -> None:
            now = probe.node.get_clock().now().nanoseconds * 1e-9
            stamp = now - 0.3
            times = 0.1 * np.arange(1, 17)
            chunk_pub.publish(trajectory_to_msg(Trajectory(stamp, NAMES, times, true_path(stamp + times))))

        probe.node.create_timer(0.01, publish_state)
        probe.node.create_timer(0.3, publish_chunk)
        for rate, mode in ((100.0, "trajectory"), (100.0, "stream"), (500.0, "stream")):
            arrivals: list[tuple[float, float]] = []
            sub = probe.node.create_subscription(
                JointTrajectory, "/wam/command",
                lambda m, sink=arrivals: sink.append((time.monotonic(), time_to_sec(m.header.stamp), time.time())),
                qos.COMMAND)
            with NodeProcess("wam_ros.nodes.chunk_smoother_node",
                             params={"publish_rate": rate, "output_mode": mode}) as proc:
                wait_for(lambda sink=arrivals, p=proc: len(sink) > 50 or not p.alive(), 30)
                time.sleep(0.5)
                arrivals.clear()
                time.sleep(seconds)
                data = np.array(arrivals)
            probe.node.destroy_subscription(sub)
            gaps = np.diff(data[:, 0]) * 1e3
            stamp_steps = np.diff(data[:, 1]) * 1e3
            latency = (data[:, 2] - data[:, 1]) * 1e3
            print(f"{rate:5.0f} {mode:<11} {len(data):6d} {np.percentile(gaps, 50):14.2f} "
                  f"{np.percentile(gaps, 99):8.2f} {gaps.max():8.2f} {np.percentile(stamp_steps, 99):17.2f} "
                  f"{np.percentile(latency, 50):14.2f}")
    finally:
        probe.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each DDS run [s]")
    ap.add_argument("--skip-dds", action="store_true", help="only the headless parts")
    args = ap.parse_args()
    bench_compute(20.0)
    bench_strategies(20.0)
    if not args.skip_dds:
        bench_dds(args.seconds)


if __name__ == "__main__":
    main()
