"""safety_bridge_node over real DDS with the simulated arm, each in its own process.

Nothing is mocked: sim_robot_node (MuJoCo, cameras off) plays the arm and its
joint_trajectory_controller; the bridges are started as `python -m` processes; the
commands come from this test's probe node or from a separate commander process that
is SIGKILLed. Latencies are printed (run with -s to see them).
"""

from __future__ import annotations

import importlib.util
import math
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from builtin_interfaces.msg import Duration
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.clock import Clock, ClockType
from rclpy.parameter import Parameter
from ros_harness import REPO, NodeProcess, RosTestNode, wait_for
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from wam_ros.robot.model import RobotModel
from wam_ros.ros.qos import LATCHED
from wam_ros.ros.time_conversion import sec_to_time

NAMES = RobotModel.load().actuated_joints
TIMEOUT = 0.3  # command_timeout of the bridges under test
JS_TIMEOUT = 1.0  # joint_state_timeout of the bridges under test (the default)
JS_HOLD = 0.25  # joint_state_hold_timeout (the default)
CTRL = "/arm_controller/joint_trajectory"
# Latency bounds below prove that each watchdog fires at its timeout (a broken one never fires or fires
# seconds late), not that a shared 2-core CI machine schedules every process in time: the measured
# latencies are printed (-s) and reported in docs/safety_bridge.md; loaded runs have shown up to ~0.9 s.
SCHEDULING_SLACK = 1.0
pytestmark = pytest.mark.timeout(120)


class Streamer:
    """Publishes one-point commands at 50 Hz around the first measured position (when enabled)."""

    def __init__(self, probe: RosTestNode, topic: str, js: dict) -> None:
        self.probe, self.js = probe, js
        self.pub = probe.node.create_publisher(JointTrajectory, topic, 10)
        self.enabled = False
        self.stamp_age: float | None = None  # None: stamp 0 (now); else stamped this many seconds ago
        self.values: list[float] | None = None
        self.base: np.ndarray | None = None
        self.t0 = time.monotonic()
        # wall-clock rate (the probe runs on simulation time, which a loaded machine slows down)
        probe.node.create_timer(0.02, self._send, clock=Clock(clock_type=ClockType.STEADY_TIME))

    def start(self) -> None:
        self.base = self.js["q"].copy()
        self.stamp_age, self.values, self.enabled = None, None, True

    def _send(self) -> None:
        if not self.enabled or self.base is None:
            return
        q = self.base.copy()
        q[0] += 0.05 * math.sin(0.5 * (time.monotonic() - self.t0))
        msg = JointTrajectory(joint_names=list(NAMES))
        if self.values is not None:
            q = np.array(self.values)
        if self.stamp_age is not None:
            now = self.probe.node.get_clock().now().nanoseconds * 1e-9
            msg.header.stamp = sec_to_time(now - self.stamp_age)
        msg.points = [
            JointTrajectoryPoint(positions=[float(x) for x in q], time_from_start=Duration(nanosec=50_000_000))
        ]
        self.pub.publish(msg)


class System:
    def __init__(self) -> None:
        self.sim = NodeProcess(
            "wam_ros.nodes.sim_robot_node",
            # simulation time, as in every graph with the simulated arm: the bridges check joint-state
            # stamps against their node clock (a wall-clock sim drifts behind it under load)
            params={"cameras_enabled": False, "publish_clock": True, "publish_instruction": False},
        )
        # joint_state_timeout leaves room for a sim starved of CPU on a shared test machine
        base = {"command_timeout": TIMEOUT, "joint_state_timeout": JS_TIMEOUT, "use_sim_time": True}
        self.bridge = NodeProcess("wam_ros.nodes.safety_bridge_node", params=base)
        self.dry = NodeProcess(
            "wam_ros.nodes.safety_bridge_node",
            name="safety_bridge_dry",
            params={
                **base,
                "output": "dry_run",
                "command_topic": "/dry/command",
                "safety_state_topic": "/dry/safety_state",
            },
        )
        self.stale = NodeProcess(
            "wam_ros.nodes.safety_bridge_node",
            name="safety_bridge_stale",
            params={
                **base,
                "joint_states_topic": "/stale/joint_states",
                "safety_state_topic": "/stale/safety_state",
                "command_topic": "/stale/command",
                "controller": "stale_controller",  # its holds (at fake joint states) must not move the sim
            },
        )
        self.fwd = NodeProcess(
            "wam_ros.nodes.safety_bridge_node",
            name="safety_bridge_fwd",
            params={
                **base,
                "output": "forward",
                "command_topic": "/fwd/command",
                "safety_state_topic": "/fwd/safety_state",
            },
        )
        self.managed = NodeProcess(
            "wam_ros.nodes.safety_bridge_node",
            name="safety_bridge_managed",
            params={
                **base,
                "autostart": False,
                "safety_state_topic": "/managed/safety_state",
                "controller": "managed_controller",
            },
        )
        self.deadman = NodeProcess(
            "wam_ros.nodes.safety_bridge_node",
            name="safety_bridge_deadman",
            params={
                **base,
                "deadman": "joy",
                "deadman_topic": "/dm/joy",
                "deadman_button": 4,
                "deadman_timeout": 0.3,
                "command_timeout": 5.0,  # only the deadman may stop it here
                "command_topic": "/dm/command",
                "safety_state_topic": "/dm/safety_state",
                "controller": "deadman_controller",  # not the sim's: this test needs no motion
            },
        )
        self.probe = RosTestNode("safety_probe")
        n = self.probe.node
        n.set_parameters([Parameter("use_sim_time", Parameter.Type.BOOL, True)])  # stamps on the bridges' clock
        self.js: dict = {}
        n.create_subscription(JointState, "/joint_states", self._on_js, 10)
        self.ctrl: list[tuple[float, JointTrajectory]] = []
        n.create_subscription(JointTrajectory, CTRL, lambda m: self.ctrl.append((time.monotonic(), m)), 50)
        self.forward: list = self.probe.collect(Float64MultiArray, "/forward_position_controller/commands")
        self.diag: list = self.probe.collect(DiagnosticArray, "/diagnostics", 50)
        self.states: list[tuple[float, str]] = []
        n.create_subscription(String, "/wam/safety_state", lambda m: self.states.append((time.monotonic(), m.data)),
                              LATCHED)  # fmt: skip
        self.stream = Streamer(self.probe, "/wam/command", self.js)
        self.estop_pub = n.create_publisher(Bool, "/wam/estop", 10)
        self.cmd_pub = n.create_publisher(JointTrajectory, "/wam/command", 10)

    def _on_js(self, msg: JointState) -> None:
        idx = {k: i for i, k in enumerate(msg.name)}
        self.js["q"] = np.array([msg.position[idx[k]] for k in NAMES])
        self.js["v"] = np.array([msg.velocity[idx[k]] for k in NAMES]) if len(msg.velocity) else None
        self.js["t"] = time.monotonic()

    def call(self, service: str, node: str = "safety_bridge_node") -> Trigger.Response:
        return self.probe.call(Trigger, f"/{node}/{service}", timeout=20.0)

    @property
    def state(self) -> str:
        return self.states[-1][1] if self.states else ""

    def wait_state(self, prefix: str, timeout: float = 5.0) -> float:
        """Monotonic time at which the state first showed ``prefix`` (waiting for it if needed)."""
        wait_for(lambda: self.state.startswith(prefix), timeout)
        return [t for t, s in self.states if s.startswith(prefix)][-1]

    def make_active(self) -> None:
        self.stream.enabled = False
        self.call("reset")
        self.call("disarm")
        wait_for(lambda: "q" in self.js and time.monotonic() - self.js["t"] < 0.1, 10)
        wait_for(lambda: self.call("arm").success, 5, period=0.1)
        self.stream.start()
        self.wait_state("ACTIVE")
        n = len(self.ctrl)
        wait_for(lambda: len(self.ctrl) > n + 3, 5)

    def close(self) -> None:
        self.stream.enabled = False
        self.probe.close()
        for p in (self.bridge, self.dry, self.stale, self.fwd, self.managed, self.deadman, self.sim):
            p.stop()


@pytest.fixture(scope="module")
def system():
    s = System()
    try:
        wait_for(lambda: "q" in s.js, 60)
        wait_for(lambda: s.state == "DISARMED", 60)
        for node in ("safety_bridge_dry", "safety_bridge_stale", "safety_bridge_fwd", "safety_bridge_deadman"):
            s.probe.call(Trigger, f"/{node}/reset", timeout=60.0)
        # discovery between processes can take a moment: wait until the bridge sees joint states
        wait_for(lambda: s.call("arm").success, 30, period=0.2)
        s.call("disarm")
        yield s
    finally:
        s.close()


def _settled(system: System, window: float = 0.3) -> float:
    """Max joint motion over ``window`` seconds (rad), from /joint_states."""
    q0 = system.js["q"].copy()
    time.sleep(window)
    return float(np.max(np.abs(system.js["q"] - q0)))


def test_estop_holds_at_once_stops_the_arm_and_latches_until_reset(system):
    system.make_active()
    n = len(system.ctrl)
    t_call = time.monotonic()
    res = system.call("estop")
    # success says the stop is in force (issue 15: it answered False although it had stopped and latched)
    assert res.success is True and "e-stop in force" in res.message and "hold sent" in res.message
    wait_for(lambda: any(len(m.points) == 1 for _, m in system.ctrl[n:]), 2)
    t_hold, hold = next((t, m) for t, m in system.ctrl[n:] if len(m.points) == 1)
    print(f"\ne-stop service call -> hold on {CTRL}: {(t_hold - t_call) * 1e3:.1f} ms")
    assert t_hold - t_call < SCHEDULING_SLACK
    np.testing.assert_allclose(hold.points[0].positions, system.js["q"], atol=0.05)
    system.wait_state("FAULT(e-stop")
    time.sleep(0.5)
    assert _settled(system) < 2e-3, "arm still moving after the e-stop"
    n = len(system.ctrl)
    time.sleep(0.4)  # the stream keeps coming: nothing may reach the controller
    assert len(system.ctrl) == n
    assert not system.call("arm").success
    assert system.state.startswith("FAULT")
    system.stream.enabled = False
    assert system.call("reset").success
    system.wait_state("DISARMED")
    wait_for(lambda: system.call("arm").success, 5, period=0.1)  # arming works again after the reset


def test_estop_topic_latches_and_blocks_reset_while_asserted(system):
    system.make_active()
    system.estop_pub.publish(Bool(data=True))
    system.wait_state("FAULT(e-stop")
    res = system.call("reset")
    assert not res.success and "still asserted" in res.message
    system.estop_pub.publish(Bool(data=False))
    wait_for(lambda: system.call("reset").success, 5)
    system.wait_state("DISARMED")


def test_non_finite_command_faults_and_fault_latches_until_reset(system):
    system.make_active()
    n = len(system.ctrl)
    q = system.js["q"].copy()
    q[2] = float("nan")
    system.stream.values = q.tolist()  # the stream now carries a NaN
    system.wait_state("FAULT(non-finite")
    wait_for(lambda: any(len(m.points) == 1 for _, m in system.ctrl[n:]), 2)
    # the rejection and the transition are on /diagnostics with their reason, at ERROR level
    wait_for(
        lambda: any(
            st.level == DiagnosticStatus.ERROR and "non-finite" in st.message and "ACTIVE -> FAULT" in st.message
            for arr in system.diag
            for st in arr.status
        ),
        3,
    )
    wait_for(
        lambda: any(
            st.name == "safety_bridge_node: safety" and st.level == DiagnosticStatus.ERROR
            for arr in system.diag
            for st in arr.status
        ),
        3,
    )  # and the periodic status says FAULT
    system.stream.values = None  # good commands again: still latched
    n = len(system.ctrl)
    time.sleep(0.5)
    assert len(system.ctrl) == n and system.state.startswith("FAULT")
    assert not system.call("arm").success
    system.stream.enabled = False
    assert system.call("reset").success
    system.wait_state("DISARMED")


def test_stale_commands_lead_to_a_hold_within_command_timeout(system):
    system.make_active()
    t_stale = time.monotonic()
    system.stream.stamp_age = 2.0  # from now on every command is 2 s old
    t_armed = system.wait_state("ARMED", timeout=3)
    stops = [t for t, m in system.ctrl if t >= t_stale + TIMEOUT * 0.5]
    assert stops, "no stop/hold sent"
    t_first = stops[0]
    after = [m for t, m in system.ctrl if t > t_armed + 0.05]
    print(f"\nstale commands from t0 -> stop on {CTRL} after {(t_first - t_stale) * 1e3:.0f} ms "
          f"(command_timeout {TIMEOUT * 1e3:.0f} ms)")  # fmt: skip
    assert t_armed - t_stale < TIMEOUT + SCHEDULING_SLACK
    assert not after, "stale commands reached the controller after the stop"
    time.sleep(0.3)
    assert _settled(system) < 2e-3


def test_killed_commander_leads_to_a_hold_within_command_timeout(system):
    system.stream.enabled = False
    system.call("reset")
    system.call("disarm")
    wait_for(lambda: system.call("arm").success, 5, period=0.1)
    cmd = subprocess.Popen([sys.executable, str(REPO / "test" / "safety_command_publisher.py")], cwd=REPO,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        system.wait_state("ACTIVE", timeout=40)
        time.sleep(0.3)
        cmd.kill()  # SIGKILL: no goodbye, the stream just stops
        t_kill = time.monotonic()
        cmd.wait(5)
        t_armed = system.wait_state("ARMED", timeout=3)
        # the controlled stop: a hold, a braking path, or nothing more when the last output already comes to
        # rest within handover_time (every output ends at rest)
        stops = [t for t, m in system.ctrl if t > t_kill]
        print(f"\nSIGKILL of the commander -> ARMED after {(t_armed - t_kill) * 1e3:.0f} ms, stop/hold on {CTRL} "
              f"{'after %.0f ms' % ((stops[0] - t_kill) * 1e3) if stops else 'not needed'} "
              f"(command_timeout {TIMEOUT * 1e3:.0f} ms)")  # fmt: skip
        assert not stops or stops[0] - t_kill < TIMEOUT + SCHEDULING_SLACK
        assert t_armed - t_kill < TIMEOUT + SCHEDULING_SLACK
        time.sleep(0.3)
        assert _settled(system) < 2e-3
    finally:
        if cmd.poll() is None:
            cmd.kill()


def test_arming_is_refused_with_stale_joint_states(system):
    node = "safety_bridge_stale"
    assert system.call("reset", node).success  # /wam/estop is shared: an earlier test e-stopped every bridge
    res = system.call("arm", node)
    assert not res.success and "no joint_states" in res.message
    pub = system.probe.node.create_publisher(JointState, "/stale/joint_states", 10)
    msg = JointState(name=list(NAMES), position=[0.0] * 6 + [0.02])

    def stamped() -> JointState:
        msg.header.stamp = system.probe.node.get_clock().now().to_msg()  # the bridges' clock (sim time)
        return msg

    wait_for(lambda: pub.get_subscription_count() > 0, 10)
    for _ in range(5):  # a few samples: the first one after discovery may be lost (best-effort QoS)
        pub.publish(stamped())
        time.sleep(0.02)
    time.sleep(JS_TIMEOUT + 0.3)  # older than joint_state_timeout
    res = system.call("arm", node)
    assert not res.success and "old" in res.message, res.message
    # control: with fresh joint states the same bridge arms, so the refusal above was about staleness
    timer = system.probe.node.create_timer(0.02, lambda: pub.publish(stamped()))
    try:
        wait_for(lambda: system.call("arm", node).success, 5)
    finally:
        timer.cancel()
    # and once they go stale while ARMED: FAULT
    states: list = system.probe.collect(String, "/stale/safety_state", LATCHED)
    wait_for(lambda: states and states[-1].data.startswith("FAULT(joint_states stale"), 5)


def test_dry_run_sends_nothing_to_the_controllers(system):
    system.stream.enabled = False
    system.call("reset")
    system.call("disarm")  # the main bridge stays DISARMED: nothing may reach the controllers
    would = system.probe.collect(JointTrajectory, "/safety_bridge_dry/would_send")
    dry_stream = Streamer(system.probe, "/dry/command", system.js)
    n_ctrl, n_fwd = len(system.ctrl), len(system.forward)
    assert system.call("reset", "safety_bridge_dry").success  # /wam/estop is shared by all bridges
    assert system.call("arm", "safety_bridge_dry").success
    dry_stream.start()
    wait_for(lambda: len(would) > 10, 10)
    dry_stream.enabled = False
    time.sleep(0.2)
    assert len(system.ctrl) == n_ctrl and len(system.forward) == n_fwd
    for topic in (CTRL, "/forward_position_controller/commands"):
        pubs = [i.node_name for i in system.probe.node.get_publishers_info_by_topic(topic)]
        assert "safety_bridge_dry" not in pubs
    assert all(list(m.joint_names) == list(NAMES) and all(math.isfinite(x) for p in m.points for x in p.positions)
               for m in would)  # fmt: skip


def test_forward_output_streams_the_checked_path_and_holds(system):
    system.stream.enabled = False
    system.call("reset")
    system.call("disarm")
    node = "safety_bridge_fwd"
    assert system.call("reset", node).success
    wait_for(lambda: system.call("arm", node).success, 10)
    fwd_stream = Streamer(system.probe, "/fwd/command", system.js)
    n = len(system.forward)
    fwd_stream.start()
    wait_for(lambda: len(system.forward) > n + 20, 10)
    for m in system.forward[n:]:
        assert len(m.data) == len(NAMES) and all(math.isfinite(x) for x in m.data)
    np.testing.assert_allclose(system.forward[-1].data, system.js["q"], atol=0.05)
    fwd_stream.enabled = False  # watchdog: stop, hold, then silence
    states: list = system.probe.collect(String, "/fwd/safety_state", LATCHED)
    wait_for(lambda: states and states[-1].data == "ARMED", 3)
    time.sleep(0.3)
    n = len(system.forward)
    time.sleep(0.3)
    assert len(system.forward) == n, "forward output kept streaming after the stop"
    res = system.call("estop", node)
    assert res.success and "e-stop in force" in res.message
    wait_for(lambda: len(system.forward) > n, 2)  # the hold goes out at once
    np.testing.assert_allclose(system.forward[-1].data, system.js["q"], atol=0.02)
    assert system.call("reset", node).success


def test_lifecycle_without_autostart_waits_for_a_manager(system):
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState, GetState

    node = "/safety_bridge_managed"
    assert system.probe.call(GetState, f"{node}/get_state", timeout=30).current_state.label == "unconfigured"
    services = [n for n, _ in system.probe.node.get_service_names_and_types_by_node("safety_bridge_managed", "/")]
    assert f"{node}/arm" not in services, "services must only exist once configured"
    states: list = system.probe.collect(String, "/managed/safety_state", LATCHED)
    for tid in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
        req = ChangeState.Request()
        req.transition.id = tid
        assert system.probe.call(ChangeState, f"{node}/change_state", req).success
    assert system.probe.call(GetState, f"{node}/get_state").current_state.label == "active"
    wait_for(lambda: states and states[-1].data == "DISARMED", 5)
    req = ChangeState.Request()
    req.transition.id = Transition.TRANSITION_DEACTIVATE
    assert system.probe.call(ChangeState, f"{node}/change_state", req).success
    res = system.call("arm", "safety_bridge_managed")
    assert not res.success and "not active" in res.message


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        pytest.param({"output": "jtc_action"}, "needs control_msgs", marks=pytest.mark.skipif(
            importlib.util.find_spec("control_msgs") is not None,
            reason="control_msgs is installed: jtc_action starts (test_safety_bridge_lifecycle.py covers it)")),
        ({"output": "bogus"}, "'output'"),
        ({"position_margin": 0.9}, "position_margin"),
    ],
)
def test_bad_configuration_is_refused_at_start(params, needle):
    proc = NodeProcess("wam_ros.nodes.safety_bridge_node", params=params, name="safety_bridge_bad")
    try:
        assert proc.wait(60) == 2
    finally:
        proc.stop()
    assert needle in proc.output()


def test_joy_deadman_gates_commands_and_its_release_stops(system):
    from sensor_msgs.msg import Joy

    node = "safety_bridge_deadman"
    out: list = []
    system.probe.node.create_subscription(
        JointTrajectory, "/deadman_controller/joint_trajectory", lambda m: out.append((time.monotonic(), m)), 50
    )
    states: list = system.probe.collect(String, "/dm/safety_state", LATCHED)
    joy_pub = system.probe.node.create_publisher(Joy, "/dm/joy", 10)
    held = {"on": False}
    system.probe.node.create_timer(0.05, lambda: joy_pub.publish(Joy(buttons=[0, 0, 0, 0, 1 if held["on"] else 0])))
    stream = Streamer(system.probe, "/dm/command", system.js)
    system.call("reset", node)
    wait_for(lambda: system.call("arm", node).success, 10)
    stream.start()
    time.sleep(0.5)
    assert not out and states[-1].data == "ARMED", "commands passed without the deadman"
    held["on"] = True
    wait_for(lambda: len(out) > 5 and states[-1].data == "ACTIVE", 5)
    held["on"] = False  # released (button 0): controlled stop, back to ARMED, nothing more sent
    wait_for(lambda: states[-1].data == "ARMED", 2)
    time.sleep(0.2)
    n = len(out)
    time.sleep(0.4)
    stream.enabled = False
    assert len(out) == n


# ---------------------------------------------------------------------------------------------- issue 15
def _point(q, t: float) -> JointTrajectoryPoint:
    return JointTrajectoryPoint(positions=[float(x) for x in q], time_from_start=Duration(nanosec=int(t * 1e9)))


def test_d2_a_second_commander_is_refused_named_and_never_reaches_the_controller(system):
    system.make_active()  # the probe's stream (its publisher GID) owns this session
    base = system.stream.base.copy()
    intruder = RosTestNode("intruder_commander")
    try:
        pub = intruder.node.create_publisher(JointTrajectory, "/wam/command", 10)
        wait_for(lambda: pub.get_subscription_count() > 0, 10)
        off = base.copy()
        off[4] += 0.05  # 2-point holds 0.05 rad off the stream on joint5, at ~87 Hz (issue 15, D2)
        msg = JointTrajectory(joint_names=list(NAMES), points=[_point(off, 0.02), _point(off, 0.04)])

        def named(st) -> bool:  # the periodic status names it, with its count
            return any("intruder_commander" in kv.key and int(kv.value) > 20 for kv in st.values)

        def reported() -> bool:
            return any(named(st) for arr in system.diag for st in arr.status)

        n = len(system.ctrl)
        # at least 1 s of intrusion, longer while the bridge has not yet discovered the intruder's writer (its
        # publisher can match the bridge's reader before the reader matches it; those messages never arrive)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.0 or (not reported() and time.monotonic() - t0 < 10.0):
            pub.publish(msg)
            time.sleep(0.0115)
        outs = system.ctrl[n:]
        assert system.state == "ACTIVE", (system.state, system.states[-5:], len(outs))
        assert len(outs) > 5, "the session's own commander kept commanding"
        drift = max(abs(p.positions[4] - base[4]) for _, m in outs for p in m.points)
        assert drift < 0.005, f"the second commander's holds reached the controller (joint5 moved {drift:.3f} rad)"
        wait_for(reported, 5)
        # the first refusal is reported at once (by GID; by node name too once the ROS graph shows it)
        assert any("refused: this armed session's commander is" in st.message
                   for arr in system.diag for st in arr.status if st.name == "safety event")  # fmt: skip
    finally:
        intruder.close()


def test_d8_a_command_over_the_point_cap_is_refused_naming_the_cap(system):
    system.make_active()
    system.stream.enabled = False
    q = system.js["q"]
    big = JointTrajectory(joint_names=list(NAMES), points=[_point(q, 0.001 * (i + 1)) for i in range(10_000)])
    n = len(system.ctrl)
    system.stream.pub.publish(big)  # from the session's commander
    system.wait_state("FAULT(command has 10000 points, more than max_command_points = 500)", timeout=5)
    time.sleep(0.2)
    outs = [m for _, m in system.ctrl[n:]]
    # the stream's last commands may still be in flight when the big one is sent (their outputs legitimately
    # arrive after n); what matters: the FAULT's hold is the last thing sent, and nothing oversized went out
    assert outs and len(outs[-1].points) == 1, "the FAULT's hold reached the controller last"
    assert all(len(m.points) <= 50 for m in outs), "part of the oversized command reached the controller"
    assert system.call("reset").success


def test_d5_a_frozen_simulation_clock_cannot_blind_the_watchdogs(system):
    """SIGSTOP of the simulated arm stops /clock and /joint_states: the steady-clock watchdogs still hold the
    arm (joint_state_hold_timeout) and then latch FAULT (joint_state_timeout). Before: nothing fired."""
    system.make_active()
    n = len(system.ctrl)
    t0 = time.monotonic()
    system.sim.proc.send_signal(signal.SIGSTOP)
    try:
        t_fault = system.wait_state("FAULT(joint_states stale", timeout=5)
        stops = [t for t, m in system.ctrl[n:] if t > t0]
        print(f"\nsim frozen -> stop/hold on {CTRL} after {(stops[0] - t0) * 1e3:.0f} ms, FAULT after "
              f"{(t_fault - t0) * 1e3:.0f} ms (joint_state_timeout {JS_TIMEOUT * 1e3:.0f} ms)")  # fmt: skip
        assert stops[0] - t0 < JS_HOLD + SCHEDULING_SLACK
        assert JS_TIMEOUT - 0.05 < t_fault - t0 < JS_TIMEOUT + SCHEDULING_SLACK
    finally:
        system.sim.proc.send_signal(signal.SIGCONT)
    system.stream.enabled = False
    wait_for(lambda: time.monotonic() - system.js.get("t", 0) < 0.1, 10)
    assert system.call("reset").success
    wait_for(lambda: system.call("arm").success, 10, period=0.1)
