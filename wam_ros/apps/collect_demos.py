"""``wam-collect``: collect scripted-expert demonstrations through the data-collection graph.

Runs the teleop_collect graph (simulated arm, teleop_node with the scripted expert as
the teleoperator, safety bridge, episode_recorder_node in auto mode) as separate
processes, arms the bridge, and waits until the recorder has saved ``--episodes``
episodes into a LeRobot v3 dataset. This is how the bundled checkpoint's training data
is made (see ``make checkpoint``); with a real arm, the same recorder runs under
``teleop_collect.launch.py`` with a human teleoperator.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from wam_ros.apps.graph import GraphOptions, teleop_collect_graph
from wam_ros.apps.graph_runner import GraphRunner, stop_on_termination_signals


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="wam-collect", description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path, help="LeRobot v3 dataset directory (appended to if it exists)")
    ap.add_argument("--episodes", type=int, default=150)
    ap.add_argument("--fps", type=int, default=10, help="recording rate; 1/fps must equal the policy's action period")
    ap.add_argument("--seed", type=int, default=0, help="first simulator seed")
    ap.add_argument("--targets-per-layout", type=int, default=1, choices=(1, 2, 3),
                    help="consecutive episodes sharing a cube layout, each naming another cube (3: every target)")
    ap.add_argument("--real-time-factor", type=float, default=1.0, help="simulation speed (0: as fast as possible)")
    ap.add_argument("--timeout", type=float, default=3600.0)
    a = ap.parse_args(argv)
    stop_on_termination_signals()
    sim_time = {"use_sim_time": True}
    opts = GraphOptions(
        use_sim_time=True,
        teleop_source="expert",
        dataset_dir=str(a.dataset.resolve()),
        extra_params={
            "sim_robot_node": {"seed": a.seed, "camera_rate": float(a.fps), "real_time_factor": a.real_time_factor,
                               "targets_per_layout": a.targets_per_layout},
            "episode_recorder_node": {
                **sim_time,
                "dataset_root": str(a.dataset.resolve()),
                "fps": a.fps,
                "mode": "auto",
                "auto_start": "reset",  # frame 0 at rest: the data shows the moment the target is chosen
                "num_episodes": a.episodes,
                "max_episode_time": 30.0,
            },
        },
    )
    specs = teleop_collect_graph(opts)
    log_dir = a.dataset.parent / f"{a.dataset.name}-collect-logs"
    runner = GraphRunner(specs, log_dir=log_dir, echo=None)
    print(f"[wam-collect] {a.episodes} episodes -> {a.dataset} (logs in {log_dir})")
    runner.start()
    from std_msgs.msg import String

    from wam_ros.ros.qos import LATCHED
    from wam_ros.ros.stack_commander import StackCommander

    cmd = StackCommander("wam_collect")
    state: dict[str, str] = {}
    cmd.node.create_subscription(String, "/episode_recorder_node/state", lambda m: state.update(s=m.data), LATCHED)
    code = 1
    try:
        if not cmd.wait_until(lambda: cmd.safety_state == "DISARMED", 90):
            raise RuntimeError(f"safety bridge not up (dead nodes: {runner.dead()})")
        if not cmd.wait_until(lambda: cmd.arm()[0], 30, period=0.5):
            raise RuntimeError("arming refused")
        start = time.monotonic()
        while state.get("s") != "STOPPED":
            if runner.dead():
                raise RuntimeError(f"node(s) exited: {runner.dead()}; see {log_dir}")
            if time.monotonic() - start > a.timeout:
                raise RuntimeError("timed out")
            if cmd.safety_state.startswith("FAULT"):
                print(f"\n[wam-collect] {cmd.safety_state}: resetting and re-arming")
                cmd.reset_fault()
                cmd.arm()
            ep = cmd.scene.get("episode", "?")
            print(
                f"\r[wam-collect] sim episode {ep}, recorder {state.get('s', '?')}, "
                f"safety {cmd.safety_state}, {time.monotonic() - start:.0f} s\x1b[K",
                end="",
                flush=True,
            )
            time.sleep(1.0)
        code = 0
        print(f"\n[wam-collect] done in {time.monotonic() - start:.0f} s")
    except (RuntimeError, KeyboardInterrupt) as exc:
        print(f"\n[wam-collect] stopped: {exc}")
    finally:
        cmd.disarm()
        cmd.close()
        runner.stop()
    sys.exit(code)


if __name__ == "__main__":
    main()
