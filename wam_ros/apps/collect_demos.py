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
from dataclasses import dataclass
from pathlib import Path

from wam_ros.apps.graph import GraphOptions, teleop_collect_graph
from wam_ros.apps.graph_runner import GraphRunner, stop_on_termination_signals

#: Default parent of the node logs: under the working directory, never beside the dataset (a full dataset
#: disk must not also swallow the logs that say why).
DEFAULT_LOG_ROOT = Path("outputs") / "wam-collect-logs"


class CollectError(RuntimeError):
    """Collection cannot go on; the message says why (and where the logs are)."""


@dataclass
class Progress:
    """What the collector watches, once a second."""

    recorder_state: str  # episode_recorder_node/state: IDLE, RECORDING, ..., STOPPED, FAILED
    recorder_reason: str  # the recorder's /diagnostics message (the write error when FAILED)
    dead_nodes: list[str]
    elapsed: float


def check_progress(p: Progress, timeout: float, log_dir: Path) -> bool:
    """True when collection is complete; raises CollectError at once when it cannot complete.

    A FAILED recorder (a write error such as a full disk) never recovers by itself: the
    dataset stays as last saved, so waiting for ``--timeout`` only hides the error.
    """
    if p.recorder_state == "FAILED":
        raise CollectError(f"recorder FAILED: {p.recorder_reason or 'no reason reported'} "
                           f"(saved episodes are kept; logs in {log_dir})")
    if p.recorder_state == "STOPPED":
        return True
    if p.dead_nodes:
        raise CollectError(f"node(s) exited: {p.dead_nodes}; see {log_dir}")
    if p.elapsed > timeout:
        raise CollectError(f"timed out after {timeout:.0f} s (recorder {p.recorder_state or '?'}); see {log_dir}")
    return False


def default_log_dir(dataset: Path, now: float | None = None) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return DEFAULT_LOG_ROOT / f"{dataset.name}-{stamp}"


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
    ap.add_argument("--log-dir", type=Path, default=None,
                    help=f"node logs (default: {DEFAULT_LOG_ROOT}/<dataset name>-<time>, not beside the dataset)")
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
    log_dir = (a.log_dir or default_log_dir(a.dataset)).resolve()
    runner = GraphRunner(specs, log_dir=log_dir, echo=None)
    print(f"[wam-collect] {a.episodes} episodes -> {a.dataset} (logs in {log_dir})")
    runner.start()
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
    from std_msgs.msg import String

    from wam_ros.ros.qos import LATCHED
    from wam_ros.ros.stack_commander import StackCommander

    cmd = StackCommander("wam_collect")
    state: dict[str, str] = {}

    def on_diagnostics(msg: DiagnosticArray) -> None:
        for st in msg.status:  # the recorder reports its write error (e.g. disk full) as an ERROR
            if st.name.endswith("episode_recorder_node: recorder") and st.level == DiagnosticStatus.ERROR:
                state["reason"] = st.message

    cmd.node.create_subscription(String, "/episode_recorder_node/state", lambda m: state.update(s=m.data), LATCHED)
    cmd.node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
    code = 1
    try:
        if not cmd.wait_until(lambda: cmd.safety_state == "DISARMED", 90):
            raise CollectError(f"safety bridge not up (dead nodes: {runner.dead()})")
        if not cmd.wait_until(lambda: cmd.arm()[0], 30, period=0.5):
            raise CollectError("arming refused")
        start = time.monotonic()
        while True:
            if state.get("s") == "FAILED" and not state.get("reason", "").strip():
                cmd.wait_until(lambda: bool(state.get("reason")), 2.0)  # the reason comes on /diagnostics
            progress = Progress(state.get("s", ""), state.get("reason", ""), runner.dead(), time.monotonic() - start)
            if check_progress(progress, a.timeout, log_dir):
                break
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
    except CollectError as exc:
        print(f"\n[wam-collect] error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("\n[wam-collect] interrupted")
    finally:
        cmd.disarm()
        cmd.close()
        runner.stop()
    sys.exit(code)


if __name__ == "__main__":
    main()
