"""safety_bridge_node's parameters (the node: ``wam_ros.nodes.safety_bridge_node``).

The check and watchdog defaults are those of the core it configures
(``wam_ros.safety.checks.SafetyConfig``, ``wam_ros.safety.supervisor.SupervisorConfig``);
the ranges here are the node's sanity limits on top of the core's own checks.
"""

from __future__ import annotations

from wam_ros.params import Param
from wam_ros.params.robot import ROBOT_PARAMS
from wam_ros.safety.checks import SafetyConfig
from wam_ros.safety.goal_delivery import DeliveryConfig
from wam_ros.safety.supervisor import SupervisorConfig
from wam_ros.safety.surprise_action import ACTIONS as SURPRISE_ACTIONS
from wam_ros.safety.surprise_action import SLOW_FACTOR
from wam_ros.safety.surprise_action import TIMEOUT as SURPRISE_TIMEOUT
from wam_ros.teleop.joy_mapping import BUTTON_RANGE, JoyMapping

#: ``output`` -> the controller commanded when ``controller`` is empty.
DEFAULT_CONTROLLER = {"jtc_topic": "arm_controller", "jtc_action": "arm_controller",
                      "forward": "forward_position_controller", "dry_run": "arm_controller"}  # fmt: skip
OUTPUTS = tuple(DEFAULT_CONTROLLER)
DEADMAN_MODES = ("off", "bool", "joy")


def controller_for(output: str, controller: str = "") -> str:
    """The controller the bridge commands: ``controller``, or the default of ``output`` when empty."""
    return controller or DEFAULT_CONTROLLER[output]


_S, _V = SafetyConfig, SupervisorConfig

PARAMS: list[Param] = [
    Param("output", OUTPUTS[0], "where commands go", choices=OUTPUTS),
    Param("controller", "", "controller name; empty: the output's default ("
          + ", ".join(f"{o}: {c}" for o, c in DEFAULT_CONTROLLER.items()) + ")"),
    Param("controller_joints", "", "comma-separated controller joint order; empty: the robot's actuated joints"),
    Param("action_server_timeout", 10.0, "s: jtc_action waits this long at activate for the action server "
          "(none: activation fails)", range=(0.0, 300.0)),
    Param("action_response_timeout", DeliveryConfig.response_timeout,
          "s: a jtc_action goal neither accepted nor rejected this long -> FAULT", range=(0.01, 10.0)),
    Param("action_feedback_timeout", DeliveryConfig.feedback_timeout,
          "s: the running jtc_action goal without feedback this long -> FAULT (0: server sends none)",
          range=(0.0, 10.0)),
    Param("action_result_timeout", DeliveryConfig.result_timeout,
          "s: a jtc_action result later than the goal's duration + this -> FAULT", range=(0.01, 60.0)),
    Param("autostart", True, "configure and activate at start (no lifecycle manager needed)"),
    Param("command_topic", "/wam/command", "input: trajectory_msgs/JointTrajectory (trajectory or stream mode)"),
    Param("joint_states_topic", "/joint_states", "input: measured state"),
    Param("estop_topic", "/wam/estop", "input: std_msgs/Bool, true = e-stop (latches)"),
    Param("safety_state_topic", "/wam/safety_state", "output: std_msgs/String, latched"),
    Param("deadman", DEADMAN_MODES[0], "deadman input for teleop", choices=DEADMAN_MODES),
    Param("deadman_topic", "/wam/deadman", "std_msgs/Bool (deadman=bool) or sensor_msgs/Joy (deadman=joy)"),
    Param("deadman_button", JoyMapping.deadman_button, "Joy button index that must be held (deadman=joy)",
          range=BUTTON_RANGE),
    Param("deadman_timeout", _V.deadman_timeout, "s: deadman heartbeat older than this counts as released",
          range=(0.01, 5.0)),
    Param("output_rate", _V.max_output_rate, "Hz: watchdog tick, forward-output sampling, max command output rate",
          range=(1.0, 1000.0)),
    Param("command_timeout", _V.command_timeout, "s without a command while ACTIVE -> controlled stop",
          range=(0.01, 10.0)),
    Param("joint_state_hold_timeout", _V.joint_state_hold_timeout,
          "s: joint states older than this (steady clock of arrival) -> controlled stop, commands held until they "
          "are fresh again; arming needs fresher", range=(0.005, 5.0)),
    Param("joint_state_timeout", _V.joint_state_timeout,
          "s: joint states older than this (a long outage) -> FAULT; must exceed joint_state_hold_timeout",
          range=(0.01, 60.0)),
    Param("max_joint_state_skew", _V.max_joint_state_skew,
          "s: joint states stamped further than this from the node clock are refused (clock/time-base mismatch)",
          range=(0.001, 60.0)),
    Param("max_command_points", _S.max_command_points, "a command with more points is refused (FAULT when armed)",
          range=(1, 100000)),
    Param("max_start_deviation", _V.max_start_deviation, "rad|m: first command's first point vs measured position",
          range=(0.001, 3.2)),
    Param("max_tracking_error", _S.max_tracking_error, "rad|m: a point further from the measured position -> FAULT",
          range=(0.001, 3.2)),
    Param("position_margin", _S.position_margin, "rad kept from revolute joint limits (inside: clamped)",
          range=(0.0, 0.5)),
    Param("prismatic_margin", _S.prismatic_margin, "m kept from prismatic joint limits", range=(0.0, 0.05)),
    Param("velocity_scale", _S.velocity_scale, "fraction of the URDF velocity limits allowed", range=(0.01, 1.0)),
    Param("acceleration_scale", _S.acceleration_scale, "fraction of the acceleration limits allowed",
          range=(0.01, 1.0)),
    Param("jerk_scale", _S.jerk_scale, "the bridge's jerk bound as a multiple of joint_limits.yaml's (x "
          "acceleration_scale); headroom over the smoother's jerk-limited stream, acceleration stays hard",
          range=(1.0, 100.0)),
    Param("velocity_reject_ratio", _S.velocity_reject_ratio, "requested/allowed velocity above this -> reject + FAULT",
          range=(1.0, 100.0)),
    Param("min_point_spacing", _S.min_point_spacing, "s: minimum spacing of output points (and hold time)",
          range=(0.001, 1.0)),
    Param("stop_step", _S.stop_step, "s: spacing of braking points", range=(0.005, 1.0)),
    Param("max_command_age", _S.max_command_age, "s: commands stamped earlier are dropped as stale",
          range=(0.01, 60.0)),
    Param("max_future", _S.max_future, "s: commands stamped further ahead are dropped", range=(0.0, 60.0)),
    Param("cartesian_box_enabled", False, "check the end effector against cartesian_box"),
    Param("cartesian_box", [-1.0, 1.0, -1.0, 1.0, -0.05, 1.5], "[xmin, xmax, ymin, ymax, zmin, zmax] in base_link (m)"),
    Param("speed_scaling", 1.0, "0-1: slows every command down (0 = stop)", range=(0.0, 1.0), dynamic=True),
    Param("surprise_action", SURPRISE_ACTIONS[0], "what the WAM's surprise alarm (surprise_topic) does: none = "
          "monitor only, slow = speed x surprise_slow_factor while it is on, hold = controlled stop and hold while "
          "it is on", choices=SURPRISE_ACTIONS, dynamic=True),
    Param("surprise_topic", "/wam/surprise", "input: geometry_msgs/Vector3Stamped from wam_node (x = score, "
          "y = threshold, z = 1 while the alarm is on)"),
    Param("surprise_slow_factor", SLOW_FACTOR, "speed factor of surprise_action slow while the alarm is on",
          range=(0.01, 1.0), dynamic=True),
    Param("surprise_timeout", SURPRISE_TIMEOUT, "s: a surprise message older than this counts as no alarm "
          "(a stopped monitor neither holds nor slows)", range=(0.1, 60.0)),
    Param("diagnostics_period", 1.0, "s between /diagnostics reports", range=(0.1, 60.0)),
    *ROBOT_PARAMS,
]
