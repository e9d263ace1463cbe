"""Fault campaign bench (issue 15): every scenario of wam_ros.apps.fault_campaign, one table row each.

Starts the `wam-graph sim --policy expert` graph (and `teleop_collect` for the recorder), runs the
scenarios in order against the running graph, and prints: time to hold (ms, and how it stopped:
hold / controlled stop / state change / arm at rest), the peak velocity and acceleration of what
reached /arm_controller/joint_trajectory around the event (ratio to the URDF / joint_limits.yaml
limit, and the joint), the state and the reason shown, and how it recovered.

    ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_DOMAIN_ID=166 \
    FASTDDS_DEFAULT_PROFILES_FILE=config/fastdds.xml .venv/bin/python bench/bench_faults.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(REPO / "config" / "fastdds.xml"))

from wam_ros.apps.fault_campaign import (  # noqa: E402
    GRAPH_OF,
    ORDER,
    RECORDER_ORDER,
    Campaign,
    Result,
    run_scenario,
    table,
)


def run(names: list[str], log_dir: Path, verbose: bool) -> tuple[list[Result], list[str]]:
    results: list[Result] = []
    spurious: list[str] = []
    for graph in ("sim", "teleop_collect"):
        todo = [n for n in names if GRAPH_OF[n] == graph]
        if not todo:
            continue
        with Campaign(graph, log_dir=log_dir / graph) as c:
            for name in todo:
                t0 = time.monotonic()
                r = run_scenario(c, name)
                results.append(r)
                print(f"[{time.monotonic() - t0:5.1f} s] {name}: {'ok' if not r.failures else r.failures}",
                      file=sys.stderr, flush=True)  # fmt: skip
                if verbose:
                    print(r.report(), file=sys.stderr, flush=True)
            spurious += c.spurious
            dead = c.dead()
            if dead:
                print(f"dead at the end of the {graph} campaign: {dead}", file=sys.stderr)
    return results, spurious


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=None, help="scenario names (default: all, in campaign order)")
    ap.add_argument("--log-dir", default=None, help="node logs (default: a temporary directory)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    names = args.only or [*ORDER, *RECORDER_ORDER]
    unknown = [n for n in names if n not in GRAPH_OF]
    if unknown:
        ap.error(f"unknown scenario(s) {unknown}; known: {list(GRAPH_OF)}")
    log_dir = Path(args.log_dir or tempfile.mkdtemp(prefix="bench_faults_"))
    t0 = time.monotonic()
    results, spurious = run(names, log_dir, args.verbose)
    print(table(results))
    bad = [r.name for r in results if r.failures]
    crashed = [r.name for r in results if any("died" in f for f in r.failures)]
    print(f"\n{len(results)} scenarios in {time.monotonic() - t0:.0f} s (load average {os.getloadavg()[0]:.1f}); "
          f"{len(bad)} with findings: {bad}; node crashes in {crashed or 'none'}; "
          f"FAULTs nobody caused (D6, tracking): {len(spurious)} {spurious}; logs in {log_dir}")  # fmt: skip


if __name__ == "__main__":
    main()
