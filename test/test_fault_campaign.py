"""The issue-15 fault campaign as tests: one per scenario, on one shared `wam-graph sim --policy expert` graph.

sim_robot_node, expert_policy_node, chunk_smoother_node and safety_bridge_node run as separate
processes over real DDS (GraphRunner); a probe node records /arm_controller/joint_trajectory,
/joint_states, /wam/safety_state and /diagnostics and injects the faults. Each scenario
(wam_ros/apps/fault_campaign.py) asserts on what reached the controller (finite, inside the URDF
limits, velocity and acceleration between consecutive outputs and points within the limits, no
jump from the measured state), on the time to hold, on the reason shown, and on recovery; it
leaves the graph recoverable for the next one (every scenario starts by healing and re-arming).
`bench/bench_faults.py` runs the same scenarios and prints the table of docs/safety_bridge.md.

Scenarios whose defect is not fixed yet are xfail(strict=True) naming the defect: when the fix
lands they XPASS, which fails the run until the marker is removed.
"""

from __future__ import annotations

import pytest

from wam_ros.apps.fault_campaign import GRAPH_OF, ORDER, Campaign, run_scenario

pytestmark = [pytest.mark.ros, pytest.mark.chaos, pytest.mark.timeout(240)]

#: Scenario -> the issue-15 defect that still makes it fail (the lead removes the entry when the fix lands).
KNOWN_DEFECTS: dict[str, str] = {}


def _params() -> list:
    out = []
    for name in ORDER:
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN_DEFECTS[name])] if name in KNOWN_DEFECTS else []
        out.append(pytest.param(name, marks=marks, id=name.replace(" ", "_")))
    return out


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    with Campaign("sim", log_dir=tmp_path_factory.mktemp("fault_campaign")) as c:
        yield c


@pytest.mark.parametrize("name", _params())
def test_scenario(campaign, name):
    assert GRAPH_OF[name] == "sim"
    result = run_scenario(campaign, name)
    print(f"\n{result.report()}")
    assert not result.failures, result.report()
