"""The surprise monitor over real DDS: wam_node publishes /wam/surprise (and an alarm when reality departs
from its predicted frames); the safety bridge holds on the alarm with surprise_action hold, does nothing
with none, and lets go of a stale alarm.

The cameras and the arm's joint states come from the probe (test_wam_node.FakeRobot: they cannot exist
here); the bridge commands the simulated arm (sim_robot_node, cameras off)."""

from __future__ import annotations

import json
import math
import threading
import time

import numpy as np
import pytest
from builtin_interfaces.msg import Duration
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Vector3Stamped
from ros_harness import NodeProcess, wait_for
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from test_wam_node import FakeRobot, make_checkpoint, node_params
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from wam_ros.robot.model import RobotModel
from wam_ros.ros.qos import LATCHED
from wam_ros.ros.time_conversion import time_to_sec

NAMES = RobotModel.load().actuated_joints
pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("ck") / "tiny_wam")


def statuses(diag: list, name_part: str) -> list:
    return [st for arr in list(diag) for st in arr.status if name_part in st.name]


def test_wam_node_publishes_surprise_and_alarms_when_reality_departs(ros, checkpoint):
    surprise = ros.collect(Vector3Stamped, "/wam/surprise")
    diag = ros.collect(DiagnosticArray, "/diagnostics")
    params = node_params(checkpoint, surprise_warmup=3, surprise_threshold=6.0, surprise_clear=4.0)
    with FakeRobot(ros) as robot, NodeProcess("wam_ros.nodes.wam_node", params) as proc:
        try:  # the warm-up: scores are NaN until 3 pairs per camera and offset were learned
            wait_for(lambda: any(math.isfinite(m.vector.x) for m in surprise), 90)
        except TimeoutError:
            pytest.fail(f"no finite /wam/surprise; node output:\n{proc.output()}")
        normal = [m for m in list(surprise) if math.isfinite(m.vector.x)]
        stamps = np.array(robot.stamps)
        assert all(np.abs(stamps - time_to_sec(m.header.stamp)).min() < 1e-6 for m in normal)  # a real frame's time
        assert all(m.vector.y == 6.0 and m.vector.z == 0.0 for m in normal)  # threshold; no alarm on the usual
        ok = wait_for(lambda: [st for st in statuses(diag, "surprise") if st.message.startswith("score")], 30)
        assert {kv.key for kv in ok[0].values} >= {"score", "alarm", "threshold", "pairs_matched"}
        n_before = len(surprise)
        robot.frame = np.zeros_like(robot.frame)  # the cameras go dark: reality departs from the prediction
        try:
            wait_for(lambda: any(m.vector.z == 1.0 for m in list(surprise)[n_before:]), 60)
        except TimeoutError:
            pytest.fail(f"no alarm: {[(m.vector.x, m.vector.z) for m in surprise]}\n{proc.output()}")
        alarmed = [m for m in list(surprise)[n_before:] if m.vector.z == 1.0]
        assert alarmed[0].vector.x > 6.0
        wait_for(lambda: any(st.message.startswith("surprise alarm: camera") for st in statuses(diag, "surprise")),
                 30)


def test_a_frozen_camera_alarms_at_once_and_a_still_scene_does_not(ros, checkpoint):
    # the FakeRobot's cameras deliver one unchanging picture (as a frozen driver would); while its joints stand
    # still that is a still scene, no fault; once the first joint moves, the unchanged picture is a frozen camera
    surprise = ros.collect(Vector3Stamped, "/wam/surprise")
    diag = ros.collect(DiagnosticArray, "/diagnostics")
    params = node_params(checkpoint, surprise_warmup=1000, surprise_frozen_motion=0.02)  # no scores: warming up
    scene = ros.node.create_publisher(String, "/sim/scene_state", LATCHED)  # a simulator's episode 1, latched
    scene.publish(String(data=json.dumps({"episode": 1, "stamp": 0.0, "episode_time": 0.0})))
    with FakeRobot(ros) as robot, NodeProcess("wam_ros.nodes.wam_node", params) as proc:
        try:
            wait_for(lambda: len(surprise) >= 6, 90)
        except TimeoutError:
            pytest.fail(f"no /wam/surprise; node output:\n{proc.output()}")
        assert all(math.isnan(m.vector.x) and m.vector.z == 0.0 for m in surprise)  # still: warming up, no alarm
        n_before, t0 = len(surprise), time.monotonic()
        while time.monotonic() - t0 < 30 and not any(m.vector.z == 1.0 for m in list(surprise)[n_before:]):
            robot.position = [0.1 + 0.3 * math.sin(time.monotonic() - t0)] + [0.1] * 7
            time.sleep(0.05)
        alarmed = [m for m in list(surprise)[n_before:] if m.vector.z == 1.0]
        assert alarmed, f"no alarm: {[(m.vector.x, m.vector.z) for m in surprise]}\n{proc.output()}"
        assert alarmed[0].vector.x >= 1000.0  # above any threshold, before any statistics were learned
        wait_for(lambda: any("frozen" in st.message for st in statuses(diag, "surprise")), 30)
        # the arm stops; the picture stays frozen, so the alarm stays on ...
        time.sleep(1.0)
        assert list(surprise)[-1].vector.z == 1.0
        # ... until a simulator reset starts a new episode: the old world's predictions and alarm are forgotten
        scene.publish(String(data=json.dumps({"episode": 2, "stamp": 0.0, "episode_time": 0.0})))
        time.sleep(0.5)
        n_reset = len(surprise)
        wait_for(lambda: len(surprise) >= n_reset + 5, 30)
        assert all(m.vector.z == 0.0 for m in list(surprise)[n_reset:])


class Streamer:
    """One-point commands at 50 Hz around the first measured position, to several bridges' command topics."""

    def __init__(self, ros, topics: list[str]) -> None:
        self.ros = ros
        self.pubs = [ros.node.create_publisher(JointTrajectory, t, 10) for t in topics]
        self.q: np.ndarray | None = None
        ros.node.create_subscription(JointState, "/joint_states", self._on_js, 10)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.base: np.ndarray | None = None

    def _on_js(self, msg: JointState) -> None:
        pos = dict(zip(msg.name, msg.position))
        if all(n in pos for n in NAMES):
            self.q = np.array([pos[n] for n in NAMES])

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.is_set():
            if self.base is None and self.q is not None:
                self.base = self.q.copy()
            if self.base is not None:
                q = self.base.copy()
                q[0] += 0.03 * math.sin(0.5 * (time.monotonic() - t0))
                msg = JointTrajectory(joint_names=list(NAMES))
                msg.points = [JointTrajectoryPoint(positions=[float(x) for x in q],
                                                   time_from_start=Duration(nanosec=50_000_000))]
                for p in self.pubs:
                    p.publish(msg)
            time.sleep(0.02)

    def __enter__(self) -> Streamer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2.0)


def test_bridge_holds_on_a_surprise_alarm_with_hold_and_does_nothing_with_none(ros):
    hold_state = ros.collect(String, "/wam/safety_state", LATCHED)
    none_state = ros.collect(String, "/none/safety_state", LATCHED)
    diag = ros.collect(DiagnosticArray, "/diagnostics")
    alarm_pub = ros.node.create_publisher(Vector3Stamped, "/wam/surprise", 10)
    alarm = {"on": None}  # None: publish nothing (the monitor is silent)

    def publish_alarm() -> None:
        if alarm["on"] is not None:
            msg = Vector3Stamped()
            msg.header.stamp = ros.node.get_clock().now().to_msg()
            msg.vector.x, msg.vector.y, msg.vector.z = (12.0 if alarm["on"] else 1.0), 6.0, float(alarm["on"])
            alarm_pub.publish(msg)

    ros.node.create_timer(0.1, publish_alarm)
    base = {"use_sim_time": True, "command_timeout": 1.0, "surprise_timeout": 1.5}
    none_params = {**base, "surprise_action": "none", "output": "dry_run", "command_topic": "/none/command",
                   "safety_state_topic": "/none/safety_state"}
    with NodeProcess("wam_ros.nodes.sim_robot_node",
                     params={"cameras_enabled": False, "publish_clock": True, "publish_instruction": False}), \
            NodeProcess("wam_ros.nodes.safety_bridge_node",
                        params={**base, "surprise_action": "hold", "command_topic": "/hold/command"}) as hold, \
            NodeProcess("wam_ros.nodes.safety_bridge_node", name="surprise_none", params=none_params) as none, \
            Streamer(ros, ["/hold/command", "/none/command"]):  # fmt: skip
        try:
            wait_for(lambda: ros.arm_bridge(hold_state) and ros.arm_bridge(none_state, "/surprise_none"), 60, 0.5)
            wait_for(lambda: hold_state[-1].data == "ACTIVE" and none_state[-1].data == "ACTIVE", 30)
        except TimeoutError:
            pytest.fail(f"bridges not ACTIVE: {[m.data for m in hold_state]} {[m.data for m in none_state]}\n"
                        f"{hold.output()}\n{none.output()}")
        # no surprise input at all: nothing blocks (both stay ACTIVE), the hold bridge says it has none
        time.sleep(1.0)
        assert hold_state[-1].data == "ACTIVE" and none_state[-1].data == "ACTIVE"
        wait_for(lambda: any("no surprise input yet" in st.message for st in statuses(diag, "safety_bridge_node")),
                 20)
        alarm["on"] = True
        try:
            wait_for(lambda: hold_state[-1].data == "ARMED", 20)
        except TimeoutError:
            pytest.fail(f"no hold on the alarm: {[m.data for m in hold_state]}\n{hold.output()}")
        time.sleep(1.0)  # commands keep coming: held back, the hold stays; the none bridge keeps going
        assert hold_state[-1].data == "ARMED" and none_state[-1].data == "ACTIVE"
        wait_for(lambda: any("holding: surprise alarm" in st.message for st in statuses(diag, "safety_bridge_node")),
                 20)
        alarm["on"] = False  # cleared: the commander resumes
        wait_for(lambda: hold_state[-1].data == "ACTIVE", 20)
        alarm["on"] = True
        wait_for(lambda: hold_state[-1].data == "ARMED", 20)
        alarm["on"] = None  # the monitor goes silent while alarmed: the stale alarm is let go
        wait_for(lambda: hold_state[-1].data == "ACTIVE", 20)
        assert none_state[-1].data == "ACTIVE" and "ARMED" not in [m.data for m in none_state][
            [m.data for m in none_state].index("ACTIVE"):]

