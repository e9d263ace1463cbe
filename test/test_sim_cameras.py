"""sim_robot_node cameras over real DDS: rendered frames, CameraInfo, and a visible commanded motion."""

from __future__ import annotations

import time

import numpy as np
import pytest
from ros_harness import NodeProcess, RosTestNode, wait_for
from sensor_msgs.msg import CameraInfo, Image, JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from wam_ros.robot.model import RobotModel
from wam_ros.ros.image_conversion import image_from_msg
from wam_ros.ros.qos import COMMAND
from wam_ros.ros.time_conversion import sec_to_duration, time_to_sec
from wam_ros.sim.mujoco_arm import MujocoArm

pytestmark = pytest.mark.timeout(120)
ROBOT = RobotModel.load()
W, H = 128, 96


def project(arm: MujocoArm, camera: str, k: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Pixel (u, v) of world points in a fixed MuJoCo camera (looks along its -z, y up)."""
    cam = arm.model.camera(camera).id
    pos, rot = arm.data.cam_xpos[cam], arm.data.cam_xmat[cam].reshape(3, 3)
    pc = (points - pos) @ rot
    return np.stack([k[0, 2] + k[0, 0] * pc[:, 0] / -pc[:, 2], k[1, 2] - k[1, 1] * pc[:, 1] / -pc[:, 2]], axis=1)


def test_cameras_render_and_show_commanded_motion():
    node = NodeProcess(
        "wam_ros.nodes.sim_robot_node", params={"image_width": W, "image_height": H, "camera_rate": 10.0}
    )
    probe = RosTestNode("camera_probe")
    try:
        images = {c: probe.collect(Image, f"/camera/{c}/color/image_raw", 10) for c in ("scene", "wrist")}
        infos = {c: probe.collect(CameraInfo, f"/camera/{c}/color/camera_info", 10) for c in ("scene", "wrist")}
        states = probe.collect(JointState, "/joint_states", 10)
        pub = probe.node.create_publisher(JointTrajectory, "/arm_controller/joint_trajectory", COMMAND)
        try:
            wait_for(lambda: all(len(v) >= 3 for v in images.values()) and states, 20.0)
            wait_for(lambda: pub.get_subscription_count() > 0, 10.0)
        except TimeoutError:
            pytest.fail(f"no frames from sim_robot_node:\n{node.output()}")

        # frames are rgb8 of the requested size, stamped with simulation time, with matching CameraInfo
        for cam in ("scene", "wrist"):
            msg = images[cam][-1]
            assert (msg.encoding, msg.width, msg.height) == ("rgb8", W, H)
            info = next(i for i in reversed(infos[cam]) if i.header.stamp == msg.header.stamp)
            arm = MujocoArm(ROBOT)
            fovy = np.deg2rad(arm.model.cam_fovy[arm.model.camera(cam).id])
            assert info.width == W and info.height == H
            assert info.k[0] == pytest.approx(0.5 * H / np.tan(fovy / 2)) and info.k[4] == info.k[0]
            assert abs(time_to_sec(msg.header.stamp) - time_to_sec(states[-1].header.stamp)) < 0.5
            stamps = [time_to_sec(m.header.stamp) for m in images[cam][-3:]]
            assert np.allclose(np.diff(stamps), 0.1, atol=0.011), stamps  # 10 Hz in simulation time

        still = [image_from_msg(m).astype(int) for m in images["scene"][-2:]]
        assert np.mean(np.any(still[0] != still[1], axis=2)) < 0.002, "frames change while the arm holds"
        before = {c: image_from_msg(images[c][-1]).astype(int) for c in images}
        n_before = {c: len(images[c]) for c in images}

        # swing the arm about joint1 and lift it a bit
        q0 = dict(zip(states[-1].name, states[-1].position))
        target = [q0[n] for n in ROBOT.actuated_joints]
        target[0] += 0.9
        target[1] -= 0.3
        msg = JointTrajectory(joint_names=list(ROBOT.actuated_joints))
        msg.points = [JointTrajectoryPoint(positions=target, time_from_start=sec_to_duration(1.0))]
        pub.publish(msg)
        time.sleep(2.0)
        wait_for(lambda: all(len(images[c]) > n_before[c] + 5 for c in images), 10.0)
        after = {c: image_from_msg(images[c][-1]).astype(int) for c in images}

        changed = np.any(np.abs(after["scene"] - before["scene"]) > 10, axis=2)
        assert changed.mean() > 0.01, f"only {changed.mean():.4f} of the scene pixels changed"
        # the change is where the arm is: around the projected gripper, before and after the motion
        arm = MujocoArm(ROBOT)
        k = np.array(infos["scene"][-1].k).reshape(3, 3)
        ee_before = arm.ee_position()
        arm.set_joint_positions(np.array(target))
        ee_after = arm.ee_position()
        ys, xs = np.nonzero(changed)
        for u, v in project(arm, "scene", k, np.array([ee_before, ee_after])):
            assert 0 <= u < W and 0 <= v < H, "the gripper should be in view"
            near = (np.abs(xs - u) < 12) & (np.abs(ys - v) < 12)
            assert near.sum() > 10, f"no change near the gripper at pixel ({u:.0f}, {v:.0f})"
        far_from_arm = changed[:, : int(W * 0.1)].mean()  # the left edge shows only table and floor
        assert far_from_arm < 0.02
        wrist_changed = np.any(np.abs(after["wrist"] - before["wrist"]) > 10, axis=2).mean()
        assert wrist_changed > 0.05, "the wrist camera should see the table move under it"
    finally:
        probe.close()
        assert node.stop() == 0, node.output()
