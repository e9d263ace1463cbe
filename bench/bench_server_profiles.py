"""Closed-loop success of every server profile through the full sim graph (issue 18).

    .venv/bin/python bench/bench_server_profiles.py [--episodes 10] [--profiles a b ...]

For each profile: its stand-in server (the scripted expert answering in the family's action space)
and ``wam-eval --policy remote --server-profile <family>``; prints success, time to success and
inference latency per profile.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "test"))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(REPO / "config" / "fastdds.xml"))
os.environ.setdefault("MUJOCO_GL", "osmesa")

from profile_graph_runs import PROFILES, run_profile  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--profiles", nargs="*", default=list(PROFILES), choices=PROFILES)
    a = ap.parse_args()
    print("| profile | success | mean time to success [s] | inference p50 / p99 [ms] | faults |")
    print("|---|---|---|---|---|")
    for profile in a.profiles:
        s = run_profile(profile, a.episodes)
        times = [r["duration"] for r in s["results"] if r["success"]]
        faults = sorted({f for r in s["results"] for f in (r.get("faults") or [])})
        mean = f"{sum(times) / len(times):.1f}" if times else "-"
        p50, p99 = s.get("inference_latency_p50_ms"), s.get("inference_latency_p99_ms")
        print(f"| {profile} | {s['successes']}/{s['episodes']} | {mean} | {p50} / {p99} | {'; '.join(faults)[:80]} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
