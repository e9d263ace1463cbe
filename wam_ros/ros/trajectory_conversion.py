"""trajectory_msgs/JointTrajectory <-> wam_ros.robot.trajectory.Trajectory."""

from __future__ import annotations

import numpy as np
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from wam_ros.robot.trajectory import Trajectory, TrajectoryError
from wam_ros.ros.time_conversion import duration_to_sec, sec_to_duration, sec_to_time, time_to_sec


def trajectory_from_msg(msg: JointTrajectory) -> Trajectory:
    """Convert without judging values; call ``.validate()`` on the result.

    Raises TrajectoryError only when the message cannot be represented (ragged
    velocities, a point whose positions length differs from joint_names).
    """
    names = tuple(msg.joint_names)
    j = len(names)
    n = len(msg.points)
    times = np.empty(n)
    pos = np.empty((n, j))
    vel = np.empty((n, j)) if n and all(len(p.velocities) for p in msg.points) else None
    acc = np.empty((n, j)) if n and all(len(p.accelerations) for p in msg.points) else None
    for i, p in enumerate(msg.points):
        if len(p.positions) != j:
            raise TrajectoryError(f"point {i} has {len(p.positions)} positions for {j} joint names")
        times[i] = duration_to_sec(p.time_from_start)
        pos[i] = p.positions
        if vel is not None:
            if len(p.velocities) != j:
                raise TrajectoryError(f"point {i} has {len(p.velocities)} velocities for {j} joint names")
            vel[i] = p.velocities
        if acc is not None:
            if len(p.accelerations) != j:
                raise TrajectoryError(f"point {i} has {len(p.accelerations)} accelerations for {j} joint names")
            acc[i] = p.accelerations
    return Trajectory(time_to_sec(msg.header.stamp), names, times, pos, vel, acc)


def trajectory_to_msg(traj: Trajectory, frame_id: str = "") -> JointTrajectory:
    msg = JointTrajectory()
    msg.header.stamp = sec_to_time(traj.stamp)
    msg.header.frame_id = frame_id
    msg.joint_names = list(traj.joint_names)
    points = []
    for i in range(traj.num_points):
        p = JointTrajectoryPoint()
        p.positions = traj.positions[i].tolist()
        if traj.velocities is not None:
            p.velocities = traj.velocities[i].tolist()
        if traj.accelerations is not None:
            p.accelerations = traj.accelerations[i].tolist()
        p.time_from_start = sec_to_duration(float(traj.times[i]))
        points.append(p)
    msg.points = points
    return msg
