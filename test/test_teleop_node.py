"""teleop_node over real DDS, in its own process. The probe plays the arm (publishes
/joint_states) and the operator's device (leader JointState, Joy): no hardware here."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ros_harness import NodeProcess, wait_for
from sensor_msgs.msg import JointState, Joy
from std_msgs.msg import Bool, String
from trajectory_msgs.msg import JointTrajectory

from wam_ros.robot.model import RobotModel
from wam_ros.ros.qos import LATCHED
from wam_ros.ros.trajectory_conversion import trajectory_from_msg

ROBOT = RobotModel.load()
JOINTS = list(ROBOT.actuated_joints)
Q0 = np.array([0.0, 0.4, 1.0, 0.0, 1.2, 0.0, 0.01])


def _arm(ros, q=Q0, period=0.02):
    """The probe publishes the measured joint state (incl. the mimic joint) like the sim does."""
    pub = ros.node.create_publisher(JointState, "/joint_states", 10)

    def tick():
        msg = JointState(name=[*JOINTS, "gripper_finger_joint_mirror"], position=[*map(float, q), float(q[-1])])
        msg.header.stamp = ros.node.get_clock().now().to_msg()
        pub.publish(msg)

    return ros.node.create_timer(period, tick)


def test_leader_arm_maps_names_offsets_signs(ros):
    leader = [f"gello_{i}" for i in range(7)]
    offsets = [0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    signs = [1.0, -1.0, 1.0, 1.0, 1.0, 1.0, 0.01]
    cmds = ros.collect(JointTrajectory, "/wam/command")
    _arm(ros)
    raw = np.array([0.1, -0.5, 1.1, 0.2, 1.0, 0.1, 2.0])  # -> [0.2, 0.5, 1.1, 0.2, 1.0, 0.1, 0.02]
    pub = ros.node.create_publisher(JointState, "/leader/joint_states", 10)
    names = list(reversed(leader))
    ros.node.create_timer(0.02, lambda: pub.publish(JointState(name=names, position=list(raw[::-1]))))
    with NodeProcess("wam_ros.nodes.teleop_node", {"source": "leader_arm", "leader_joints": leader,
                                                   "leader_offsets": offsets, "leader_signs": signs}) as node:
        expected = np.array(signs) * raw + np.array(offsets)
        wait_for(lambda: cmds and np.allclose(trajectory_from_msg(cmds[-1]).positions[0], expected, atol=1e-6),
                 15)
        assert node.alive()
    trajs = [trajectory_from_msg(m) for m in cmds]
    assert all(t.joint_names == tuple(JOINTS) and t.num_points == 1 for t in trajs)
    steps = np.abs(np.diff([t.positions[0] for t in trajs], axis=0))
    vmax = ROBOT.limits()["velocity"] * 0.5 / 30.0  # velocity_fraction / rate
    assert np.all(steps <= vmax + 1e-9), "the approach to the leader is rate-limited"
    assert np.allclose(trajs[0].positions[0], Q0, atol=vmax.max() + 1e-9), "it starts at the measured position"


def test_joy_deadman_heartbeat_and_ik_direction(ros):
    cmds = ros.collect(JointTrajectory, "/wam/command")
    deadman = ros.collect(Bool, "/wam/deadman")
    _arm(ros)
    pub = ros.node.create_publisher(Joy, "/joy", 10)
    state = {"buttons": [0] * 8, "axes": [0.0, 1.0, 0.0, 0.0, 0.0, 0.0]}  # axis 1 = +x at full stick
    ros.node.create_timer(0.02, lambda: pub.publish(Joy(axes=state["axes"], buttons=state["buttons"])))
    with NodeProcess("wam_ros.nodes.teleop_node", {"source": "joy", "max_linear": 0.05}) as node:
        wait_for(lambda: len(deadman) > 5, 15)
        assert not any(m.data for m in deadman) and not cmds, "no motion without the deadman"
        state["buttons"] = [0, 0, 0, 0, 1, 0, 0, 0]
        wait_for(lambda: len(cmds) >= 20, 10)
        state["buttons"] = [0] * 8
        n = len(deadman)
        wait_for(lambda: len(deadman) > n + 5 and not deadman[-1].data, 5)
        sent = len(cmds)
        wait_for(lambda: len(deadman) > n + 15, 5)
        assert len(cmds) <= sent + 1, "commands stop when the deadman is released"
        assert node.alive()
    q = trajectory_from_msg(cmds[19]).positions[0]
    d = ROBOT.fk(q[:6])[:3, 3] - ROBOT.fk(Q0[:6])[:3, 3]
    assert d[0] > 0.02 and abs(d[1]) < 0.3 * d[0] and abs(d[2]) < 0.3 * d[0], d  # ~20 x 0.05/30 m in +x


def test_expert_source_publishes_short_trajectory(ros):
    cmds = ros.collect(JointTrajectory, "/wam/command")
    _arm(ros)
    scene = {"stamp": 0.0, "episode": 0, "seed": 1, "instruction": "reach the red cube", "target": "red_cube",
             "objects": {"red_cube": [0.45, 0.1, 0.02], "green_cube": [0.4, -0.2, 0.02],
                         "blue_cube": [0.55, 0.0, 0.02]}, "ee_position": [0.3, 0, 0.3], "success": False,
             "episode_time": 0.0}
    pub = ros.node.create_publisher(String, "/sim/scene_state", LATCHED)
    pub.publish(String(data=json.dumps(scene)))
    with NodeProcess("wam_ros.nodes.teleop_node", {"source": "expert", "expert_horizon": 6}):
        wait_for(lambda: len(cmds) >= 2, 15)
    t = trajectory_from_msg(cmds[0])
    assert t.num_points == 6 and t.joint_names == tuple(JOINTS)
    np.testing.assert_allclose(t.times, 0.1 * np.arange(1, 7))
    assert np.max(np.abs(t.positions[0] - Q0)) <= 0.05 + 1e-9  # first point near the measured state
    steps = np.abs(np.diff(t.positions, axis=0))
    assert np.all(steps <= ROBOT.limits()["velocity"] * 0.5 * 0.1 + 1e-9)  # velocity_fraction x period
    assert np.max(steps) > 0.01, "the expert is moving toward the cube"
    lim = ROBOT.limits()
    assert np.all(t.positions >= lim["lower"]) and np.all(t.positions <= lim["upper"])


@pytest.mark.parametrize(
    ("params", "needle"),
    [({"source": "leader_arm", "leader_signs": [1.0, -1.0]}, "leader"), ({"source": "teleport"}, "source")],
)
def test_bad_parameters_refused(params, needle):
    node = NodeProcess("wam_ros.nodes.teleop_node", params)
    assert node.wait(20) == 2
    assert needle in node.output()


def test_keyboard_teleop_in_a_pseudo_terminal(ros):
    """keyboard_teleop reads a real (pseudo) terminal: 'r' moves the tool up, 'q' quits cleanly."""
    import os
    import pty
    import subprocess
    import sys

    from ros_harness import REPO

    cmds = ros.collect(JointTrajectory, "/wam/command")
    deadman = ros.collect(Bool, "/wam/deadman")
    _arm(ros)
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "wam_ros.nodes.keyboard_teleop"], stdin=slave,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        wait_for(lambda: len(deadman) > 3, 20)
        assert not cmds and not any(m.data for m in deadman)
        for _ in range(10):  # auto-repeat of a held key
            sent = len(cmds)
            os.write(master, b"r")
            wait_for(lambda sent=sent: len(cmds) > sent, 5)
        os.write(master, b"q")
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
        os.close(slave)
    assert any(m.data for m in deadman)
    q = trajectory_from_msg(cmds[-1]).positions[0]
    d = ROBOT.fk(q[:6])[:3, 3] - ROBOT.fk(Q0[:6])[:3, 3]
    assert d[2] > 0.005 and abs(d[0]) < 0.5 * d[2] and abs(d[1]) < 0.5 * d[2], d
