"""Each server profile drives the simulated arm through the full node graph (issue 18).

The stand-in of each family answers in that family's action space (joint velocities for DROID,
end-effector deltas for LIBERO, relative end-effector poses for LingBot-VA, ...) from the scripted
expert's plan; reaching the named cube proves the client's conversion back to joint positions,
end to end, through the smoother and the safety bridge. `bench/bench_server_profiles.py` runs
10 episodes per profile; here each profile runs a few (the whole suite stays short).
"""

from __future__ import annotations

import pytest
from profile_graph_runs import PROFILES, run_profile

pytestmark = [pytest.mark.ros, pytest.mark.slow, pytest.mark.timeout(900)]

EPISODES = 3


@pytest.mark.parametrize("profile", PROFILES)
def test_profile_reaches_the_cube_through_the_graph(profile):
    summary = run_profile(profile, EPISODES)
    assert summary["episodes"] == EPISODES
    failures = [(r["seed"], r.get("faults")) for r in summary["results"] if not r["success"]]
    assert summary["successes"] >= EPISODES - 1, f"{profile}: failed episodes {failures}"
