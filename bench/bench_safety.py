"""Per-command safety check time (SafetyChecker.check and the full SafetySupervisor.command path).

7 joints; a 10-point trajectory (trajectory mode) and a single point (stream mode); a
command that passes unchanged and one that needs clamping (the point-by-point path).
Run: .venv/bin/python bench/bench_safety.py
"""

from __future__ import annotations

import time

import numpy as np

from wam_ros.robot.model import RobotModel
from wam_ros.robot.trajectory import Trajectory
from wam_ros.safety.checks import SafetyChecker, SafetyConfig
from wam_ros.safety.supervisor import SafetySupervisor, SupervisorConfig

N = 3000


def commands(names: tuple[str, ...], q: np.ndarray) -> dict[str, tuple[Trajectory, np.ndarray]]:
    """label -> (command, start velocity): the arm already moves at the commanded speed."""
    slow = np.array([0.2, -0.1, 0.1, 0.3, 0.0, 0.2, 0.0])  # rad/s, inside the limits
    fast = slow * 12  # needs clamping (accelerations, some velocities)
    t10 = 0.02 * np.arange(1, 11)
    out = {}
    for label, v in (("passes", slow), ("clamped", fast)):
        out[f"10 points, {label}"] = (Trajectory(0.0, names, t10, q + t10[:, None] * v), slow)
        out[f"1 point, {label}"] = (Trajectory(0.0, names, [0.02], (q + 0.02 * v)[None, :]), slow)
    return out


def timed(fn, n: int) -> tuple[float, float, float, float]:
    """p50/p99 wall time and p50/p99 thread CPU time (immune to preemption on a shared machine), in us."""
    wall, cpu = [], []
    for _ in range(n):
        c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
        fn()
        wall.append(time.perf_counter_ns() - t0)
        cpu.append(time.thread_time_ns() - c0)
    w, c = np.array(wall) * 1e-3, np.array(cpu) * 1e-3
    return (float(np.percentile(w, 50)), float(np.percentile(w, 99)), float(np.percentile(c, 50)),
            float(np.percentile(c, 99)))  # fmt: skip


def main() -> None:
    robot = RobotModel.load()
    names = robot.actuated_joints
    q = np.array([0.1, -0.3, 0.5, 0.0, 0.2, -0.1, 0.02])
    rows = []
    for box in (None, (-1.0, 1.0, -1.0, 1.0, -0.5, 1.5)):
        checker = SafetyChecker(robot, SafetyConfig(cartesian_box=box))
        for label, (cmd, v0) in commands(names, q).items():
            res = checker.check(cmd, 100.0, q, q, v0)
            stats = timed(lambda c=cmd, v=v0, k=checker: k.check(c, 100.0, q, q, v), N if box is None else N // 5)
            name = f"check: {label}" + (", Cartesian box" if box else "")
            rows.append((name, res.verdict.value, res.trajectory.num_points, *stats))
    # the supervisor path a /wam/command message takes (reference sampling + check + bookkeeping)
    sup = SafetySupervisor(SafetyChecker(robot), SupervisorConfig(max_output_rate=1e9, command_timeout=1e9))
    now = 100.0
    sup.update_joint_state(names, q, None, now)
    sup.arm(now)
    clock = [now]  # shared by both cases: time never runs backwards
    for label, (cmd, _) in commands(names, q).items():
        if not label.endswith("passes"):
            continue

        def step(c=cmd, clock=clock) -> object:
            clock[0] += 0.0005
            sup.update_joint_state(names, q, None, clock[0])
            return sup.command(c, clock[0])

        reply = step()
        assert reply.outputs, reply.message
        stats = timed(step, N)
        name = f"joint_state + supervisor.command: {label.split(',')[0]}"
        rows.append((name, reply.message, reply.outputs[0].trajectory.num_points, *stats))
    print(f"{'case (7 joints)':50s} {'verdict':9s} {'out pts':>7s} {'wall p50':>9s} {'wall p99':>9s} "
          f"{'cpu p50':>8s} {'cpu p99':>8s}  [us]")  # fmt: skip
    for name, verdict, pts, w50, w99, c50, c99 in rows:
        print(f"{name:50s} {verdict:9s} {pts:7d} {w50:9.1f} {w99:9.1f} {c50:8.1f} {c99:8.1f}")


if __name__ == "__main__":
    main()
