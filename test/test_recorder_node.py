"""episode_recorder_node over real DDS in its own process: services, sampling, SIGKILL.

The probe plays the cameras, the arm (/joint_states) and the teleop (/wam/command);
there is no camera or arm here. Every value it sends encodes its send time, so the
recorded frames can be checked against what was sent at that moment.
"""

from __future__ import annotations

import signal
import time

import numpy as np
import pytest
from ros_harness import NodeProcess, wait_for
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from wam_ros.dataset import LeRobotDatasetReader
from wam_ros.robot.model import RobotModel
from wam_ros.robot.trajectory import Trajectory
from wam_ros.ros.image_conversion import image_to_msg
from wam_ros.ros.qos import LATCHED
from wam_ros.ros.trajectory_conversion import trajectory_to_msg

JOINTS = RobotModel.load().actuated_joints
SRV = "/episode_recorder_node/"


class FakeRig:
    """Cameras at 30 Hz, joint states at 100 Hz, stream commands at 30 Hz, an instruction."""

    def __init__(self, ros) -> None:
        n = ros.node
        self.ros = ros
        self.sent: list[tuple[float, float]] = []  # (stamp, value of joint1 in the command)
        self.img_pubs = {c: n.create_publisher(Image, f"/camera/{c}/color/image_raw", 5) for c in ("scene", "wrist")}
        self.js_pub = n.create_publisher(JointState, "/joint_states", 10)
        self.cmd_pub = n.create_publisher(JointTrajectory, "/wam/command", 10)
        n.create_publisher(String, "/wam/instruction", LATCHED).publish(String(data="reach the red cube"))
        self._instr = n
        n.create_timer(1 / 30, self.cameras)
        n.create_timer(0.01, self.joints)
        n.create_timer(1 / 30, self.command)

    def now(self) -> float:
        return self.ros.node.get_clock().now().nanoseconds * 1e-9

    def cameras(self) -> None:
        t = self.now()
        for c, pub in self.img_pubs.items():
            img = np.full((48, 64, 3) if c == "scene" else (32, 32, 3), int(t * 30) % 200, np.uint8)
            pub.publish(image_to_msg(img, t, c))

    def joints(self) -> None:
        t = self.now()
        msg = JointState(name=[*JOINTS, "gripper_finger_joint_mirror"], position=[t % 1.0] * 8)
        msg.header.stamp = self.ros.node.get_clock().now().to_msg()
        self.js_pub.publish(msg)

    def command(self) -> None:
        t = self.now()
        v = round(t % 1.0, 4)
        self.cmd_pub.publish(trajectory_to_msg(Trajectory(t, JOINTS, [0.1], [[v] * len(JOINTS)])))
        self.sent.append((t, v))


def _call(ros, name: str, timeout: float = 10.0):
    """Call a Trigger service until it succeeds (the recorder needs frames before its first start)."""
    res = wait_for(lambda: (r := ros.call(Trigger, SRV + name, resend_after=None)).success and r, timeout, period=0.2)
    return res


def _check_actions(reader: LeRobotDatasetReader, sent: list[tuple[float, float]]) -> None:
    """Each recorded action is the latest command sent before the frame time (stamp)."""
    t_sent = np.array([s[0] for s in sent])
    v_sent = np.array([s[1] for s in sent])
    for i in range(reader.num_episodes):
        d = reader.episode_data(i)
        for stamp, action in zip(d["stamp"], d["action"], strict=True):
            # sent before the frame, within 0.3 s (DDS delivery lags behind the send time on loaded cores)
            candidates = v_sent[(t_sent <= stamp) & (t_sent > stamp - 0.3)]
            assert np.any(np.abs(candidates - action[0]) < 1e-3), (stamp, action[0], candidates)
            assert np.allclose(action, action[0], atol=1e-6)


def test_services_record_save_discard(ros, tmp_path):
    rig = FakeRig(ros)
    states = ros.collect(String, SRV + "state", LATCHED)
    root = tmp_path / "ds"
    with NodeProcess("wam_ros.nodes.episode_recorder_node", {"dataset_root": str(root), "fps": 10}) as node:
        assert not ros.call(Trigger, SRV + "save_episode").success  # nothing recording: refused, no crash
        _call(ros, "start_episode")
        time.sleep(1.0)
        assert "saved: " in _call(ros, "save_episode").message
        _call(ros, "start_episode")
        time.sleep(0.4)
        assert "discarded" in _call(ros, "discard_episode").message
        _call(ros, "start_episode")
        time.sleep(0.7)
        assert "saved" in _call(ros, "stop").message  # stop saves the episode in progress (LeRobot's Esc)
        wait_for(lambda: states and states[-1].data == "STOPPED", 5)
        assert node.alive()
    r = LeRobotDatasetReader(root)
    r.validate(decode_videos=True)
    assert r.num_episodes == 2 and r.tasks == ["reach the red cube"]
    lengths = [e["length"] for e in r.episodes]
    assert 8 <= lengths[0] <= 12 and 5 <= lengths[1] <= 9, lengths
    for i in range(2):
        d = r.episode_data(i)
        gaps = np.diff(d["stamp"])  # fixed fps on the node clock (single frames may be late on loaded cores)
        assert np.median(gaps) == pytest.approx(0.1, abs=0.02) and gaps.min() >= 0.05 - 1e-6, gaps
        frames, _ = r.episode_frames(i, "scene")
        assert frames.shape[1:] == (48, 64, 3) and len(frames) == lengths[i]
        # recorded state = the joint state at the frame time (its value encodes its send time)
        lag = (d["stamp"] - d["observation.state"][:, 0]) % 1.0  # age of the state used, <= max_state_age
        assert np.all((lag < 0.12) | (lag > 0.99)), lag
    _check_actions(r, rig.sent)


def test_sigkill_while_recording_keeps_saved_episodes(ros, tmp_path):
    rig = FakeRig(ros)
    root = tmp_path / "ds"
    node = NodeProcess("wam_ros.nodes.episode_recorder_node", {"dataset_root": str(root), "fps": 10})
    try:
        _call(ros, "start_episode")
        time.sleep(0.6)
        _call(ros, "save_episode")
        _call(ros, "start_episode")
        time.sleep(0.8)  # mid-episode
        node.proc.send_signal(signal.SIGKILL)
        node.wait(5)
        assert node.proc.returncode == -signal.SIGKILL
    finally:
        node.kill()
    assert any((root / ".staging").rglob("*.mp4")), "the killed episode was being recorded"
    r = LeRobotDatasetReader(root)
    r.validate(decode_videos=True)
    assert r.num_episodes == 1 and 4 <= r.episodes[0]["length"] <= 8
    _check_actions(r, rig.sent)


@pytest.mark.parametrize(("params", "needle"), [({"fps": 0}, "fps"), ({"mode": "sometimes"}, "mode")])
def test_bad_parameters_refused(params, needle):
    node = NodeProcess("wam_ros.nodes.episode_recorder_node", params)
    assert node.wait(20) == 2
    assert needle in node.output()
