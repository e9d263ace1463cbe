"""wam-collect stops at once on a FAILED recorder (issue 15 D7) and keeps its logs off the dataset's disk.

It used to print "recorder FAILED" once a second until --timeout (3600 s) and wrote its node logs
beside the dataset, on the same (full) filesystem. ``check_progress`` is the loop's decision, fed
here with what the loop reads from the graph (recorder state, its /diagnostics reason, dead nodes).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from wam_ros.apps import collect_demos
from wam_ros.apps.collect_demos import CollectError, Progress, check_progress, default_log_dir

LOGS = Path("outputs/wam-collect-logs/x")


def test_failed_recorder_stops_collection_at_once_with_its_reason():
    disk_full = "disk full: No space left on device (3 saved episodes kept)"
    with pytest.raises(CollectError, match=r"recorder FAILED: disk full.*3 saved episodes.*logs in"):
        check_progress(Progress("FAILED", disk_full, [], elapsed=2.0), timeout=3600.0, log_dir=LOGS)
    with pytest.raises(CollectError, match="recorder FAILED: no reason reported"):
        check_progress(Progress("FAILED", "", [], elapsed=2.0), timeout=3600.0, log_dir=LOGS)


def test_progress_decisions():
    assert check_progress(Progress("STOPPED", "", [], 10.0), 3600.0, LOGS) is True
    assert check_progress(Progress("RECORDING", "", [], 10.0), 3600.0, LOGS) is False
    with pytest.raises(CollectError, match=r"node\(s\) exited: \['sim_robot_node'\]"):
        check_progress(Progress("RECORDING", "", ["sim_robot_node"], 10.0), 3600.0, LOGS)
    with pytest.raises(CollectError, match="timed out after 60 s"):
        check_progress(Progress("RECORDING", "", [], 61.0), 60.0, LOGS)


def test_logs_are_not_written_beside_the_dataset(tmp_path):
    dataset = tmp_path / "full_disk" / "demos"
    log_dir = default_log_dir(dataset, now=0.0)
    assert log_dir.parts[:2] == ("outputs", "wam-collect-logs") and log_dir.name.startswith("demos-")
    assert dataset.parent not in log_dir.resolve().parents


def test_collect_exits_nonzero_with_the_error(monkeypatch, capsys, tmp_path):
    """main() up to the watch loop with the graph replaced by what the loop reads: a FAILED recorder.

    (Starting the whole data-collection graph on a full disk is the fault campaign's job; here the
    runner and the ROS commander are stand-ins so the exit path itself is exercised.)"""
    import sys
    import types

    class Runner:
        def __init__(self, specs, log_dir, echo):
            self.log_dir = log_dir

        def start(self):
            pass

        def stop(self):
            pass

        def dead(self):
            return []

    callbacks = {}

    class Node:
        def create_subscription(self, msg_type, topic, cb, qos):
            callbacks[topic] = cb

    class Commander:
        safety_state = "DISARMED"

        def __init__(self, name):
            self.node = Node()
            self.scene: dict = {}

        def wait_until(self, pred, timeout, period=0.1):
            return pred()

        def arm(self):
            # the recorder fails on its first write
            callbacks["/episode_recorder_node/state"](types.SimpleNamespace(data="FAILED"))
            from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
            st = DiagnosticStatus(level=DiagnosticStatus.ERROR, name="episode_recorder_node: recorder",
                                  message="disk full: [Errno 28] No space left on device")
            callbacks["/diagnostics"](DiagnosticArray(status=[st]))
            return True, "ARMED"

        def disarm(self):
            pass

        def close(self):
            pass

    monkeypatch.setattr(collect_demos, "GraphRunner", Runner)
    monkeypatch.setattr(collect_demos, "stop_on_termination_signals", lambda: None)
    monkeypatch.setitem(sys.modules, "wam_ros.ros.stack_commander", types.SimpleNamespace(StackCommander=Commander))
    with pytest.raises(SystemExit) as exit_info:
        collect_demos.main([str(tmp_path / "demos"), "--timeout", "3600", "--log-dir", str(tmp_path / "logs")])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "recorder FAILED: disk full: [Errno 28] No space left on device" in err
