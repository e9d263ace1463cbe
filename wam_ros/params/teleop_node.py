"""teleop_node's parameters (the node: ``wam_ros.nodes.teleop_node``).

The expert source's period and speed are the scripted expert's defaults
(``wam_ros.sim.scripted_expert``); its horizon is shorter on purpose (a teleoperator
replans often and streams a short command). The gamepad settings are ``JoyMapping``'s
(``wam_ros.teleop.joy_mapping``), the IK settings ``DiffIK``'s (``wam_ros.teleop.diff_ik``).
"""

from __future__ import annotations

from wam_ros.params import Param
from wam_ros.params.robot import ROBOT_PARAMS
from wam_ros.sim.scripted_expert import DEFAULT_PERIOD, DEFAULT_SPEED
from wam_ros.teleop.diff_ik import DAMPING, LIMIT_MARGIN, VELOCITY_FRACTION
from wam_ros.teleop.joy_mapping import BUTTON_RANGE, JoyMapping

SOURCES = ("leader_arm", "joy", "expert")

PARAMS: list[Param] = [
    *ROBOT_PARAMS,
    Param("source", "joy", "who drives the arm", choices=SOURCES),
    Param("rate", 30.0, "command rate for leader_arm/joy [Hz]", range=(1.0, 500.0)),
    Param("command_lead", 0.1, "leader_arm/joy: time_from_start of the streamed point [s]", range=(0.005, 1.0)),
    Param("command_topic", "wam/command", "JointTrajectory output (to the safety bridge)"),
    Param("input_timeout", 0.25, "leader/joy input older than this stops commanding [s]", range=(0.01, 5.0)),
    Param("velocity_fraction", VELOCITY_FRACTION, "share of each joint's velocity limit teleop may use",
          range=(0.01, 1.0), dynamic=True),
    Param("limit_margin", LIMIT_MARGIN, "stay this far inside position limits [rad|m]", range=(0.0, 0.5)),
    # leader arm (GELLO-style): follower = sign * leader + offset, one entry per actuated joint
    Param("leader_topic", "leader/joint_states", "leader arm JointState"),
    Param("leader_joints", [""], "leader joint driving each follower joint (actuated order); [''] = same names"),
    Param("leader_offsets", [0.0], "follower = sign * leader + offset; [0.0] = all zero"),
    Param("leader_signs", [1.0], "per-joint sign/scale; [1.0] = all +1"),
    # gamepad (Xbox layout): left stick x/y, right stick vertical = z, right stick horizontal = yaw
    Param("joy_topic", "joy", "sensor_msgs/Joy input"),
    Param("deadman_topic", "wam/deadman", "std_msgs/Bool heartbeat of the deadman button (joy)"),
    Param("joy_axes", list(JoyMapping.axes), "axis index for vx vy vz wx wy wz (-1: none)"),
    Param("joy_scales", list(JoyMapping.scales), "signed scale per twist component"),
    Param("joy_deadzone", JoyMapping.deadzone, "axis deadzone", range=(0.0, 0.9)),
    Param("max_linear", JoyMapping.max_linear, "max end-effector speed [m/s]", range=(0.001, 1.0), dynamic=True),
    Param("max_angular", JoyMapping.max_angular, "max end-effector angular speed [rad/s]", range=(0.01, 3.0),
          dynamic=True),
    Param("deadman_button", JoyMapping.deadman_button, "Joy button that must be held", range=BUTTON_RANGE),
    Param("gripper_open_button", JoyMapping.gripper_open_button, "Joy button opening the gripper (-1: none)",
          range=(-1, 64)),
    Param("gripper_close_button", JoyMapping.gripper_close_button, "Joy button closing the gripper (-1: none)",
          range=(-1, 64)),
    Param("gripper_speed", 0.02, "gripper speed while a gripper button is held [m/s]", range=(0.0, 1.0)),
    Param("ik_damping", DAMPING, "damped least squares lambda", range=(1e-4, 1.0)),
    # scripted expert (simulation)
    Param("scene_state_topic", "sim/scene_state", "expert: the simulator's JSON scene state"),
    Param("expert_rate", 5.0, "expert: replanning rate [Hz]", range=(0.5, 50.0)),
    Param("expert_horizon", 8, "expert: points per command", range=(1, 64)),
    Param("expert_period", DEFAULT_PERIOD, "expert: seconds between points", range=(0.01, 1.0)),
    Param("expert_speed", DEFAULT_SPEED, "expert: end-effector speed [m/s]", range=(0.01, 1.0)),
    Param("max_start_step", 0.05, "expert: first point at most this far from the measured position [rad|m]",
          range=(0.001, 1.0)),
]
