"""The fault campaign's recorder scenarios on the `teleop_collect` graph (sim, teleop expert, bridge, recorder).

The episode recorder is SIGKILLed or frozen (SIGSTOP 2 s) while it records: teleoperation through
the safety bridge must go on untouched (no FAULT, no hold, every output within the limits) and the
recorder must come back (by itself after SIGCONT; restarted after SIGKILL) and record again.
Scenarios: wam_ros/apps/fault_campaign.py; the sim-graph scenarios are in test_fault_campaign.py.
"""

from __future__ import annotations

import pytest

from wam_ros.apps.fault_campaign import GRAPH_OF, RECORDER_ORDER, Campaign, run_scenario

pytestmark = [pytest.mark.ros, pytest.mark.chaos, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    with Campaign("teleop_collect", log_dir=tmp_path_factory.mktemp("fault_campaign_recorder")) as c:
        yield c


@pytest.mark.parametrize("name", RECORDER_ORDER)
def test_recorder_scenario(campaign, name):
    assert GRAPH_OF[name] == "teleop_collect"
    result = run_scenario(campaign, name)
    print(f"\n{result.report()}")
    assert not result.failures, result.report()
