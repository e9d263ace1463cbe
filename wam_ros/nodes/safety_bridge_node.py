"""safety_bridge_node: the only path from the stack to the arm's controllers; it fails closed.

A managed (lifecycle) node over the ROS-free core (wam_ros.safety.checks,
wam_ros.safety.supervisor). It converts /wam/command, /joint_states, the e-stop and
deadman inputs and the services into supervisor calls, and sends the supervisor's
outputs to the controller selected by ``output``:

- ``jtc_topic``: trajectory_msgs/JointTrajectory on /<controller>/joint_trajectory
- ``jtc_action``: control_msgs/FollowJointTrajectory goals (needs control_msgs)
- ``forward``: std_msgs/Float64MultiArray on /<controller>/commands, sampled at output_rate
- ``dry_run``: everything checked, published on ~/would_send, nothing to any controller

With ``autostart`` (default) it configures and activates itself, so the stack runs
without a lifecycle manager. Every transition, clamp and rejection goes to the log
and /diagnostics; the state is latched on /wam/safety_state.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import JointState, Joy
from std_msgs.msg import Bool, Float64MultiArray, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from wam_ros.robot.trajectory import TrajectoryError
from wam_ros.ros import diagnostics as diag
from wam_ros.ros.guarded_node import GuardedLifecycleNode
from wam_ros.ros.node_runtime import run_node
from wam_ros.ros.parameters import Param, ParameterError, declare_params
from wam_ros.ros.qos import COMMAND, LATCHED, SENSOR
from wam_ros.ros.robot_description import ROBOT_PARAMS, load_robot_model
from wam_ros.ros.trajectory_conversion import trajectory_from_msg, trajectory_to_msg
from wam_ros.safety.checks import SafetyChecker, SafetyConfig, SafetyConfigError
from wam_ros.safety.supervisor import Output, Reply, SafetyState, SafetySupervisor, SupervisorConfig

OUTPUTS = ("jtc_topic", "jtc_action", "forward", "dry_run")
DEFAULT_CONTROLLER = {"jtc_topic": "arm_controller", "jtc_action": "arm_controller",
                      "forward": "forward_position_controller", "dry_run": "arm_controller"}  # fmt: skip

PARAMS = [
    Param("output", "jtc_topic", "where commands go", choices=OUTPUTS),
    Param("controller", "", "controller name; empty: arm_controller (jtc_*), forward_position_controller (forward)"),
    Param("controller_joints", "", "comma-separated controller joint order; empty: the robot's actuated joints"),
    Param("autostart", True, "configure and activate at start (no lifecycle manager needed)"),
    Param("command_topic", "/wam/command", "input: trajectory_msgs/JointTrajectory (trajectory or stream mode)"),
    Param("joint_states_topic", "/joint_states", "input: measured state"),
    Param("estop_topic", "/wam/estop", "input: std_msgs/Bool, true = e-stop (latches)"),
    Param("safety_state_topic", "/wam/safety_state", "output: std_msgs/String, latched"),
    Param("deadman", "off", "deadman input for teleop", choices=("off", "bool", "joy")),
    Param("deadman_topic", "/wam/deadman", "std_msgs/Bool (deadman=bool) or sensor_msgs/Joy (deadman=joy)"),
    Param("deadman_button", 4, "Joy button index that must be held (deadman=joy)", range=(0, 63)),
    Param("deadman_timeout", 0.3, "s: deadman heartbeat older than this counts as released", range=(0.01, 5.0)),
    Param("output_rate", 100.0, "Hz: watchdog tick, forward-output sampling, max command output rate", (1.0, 1000.0)),
    Param("command_timeout", 0.3, "s without a command while ACTIVE -> controlled stop", range=(0.01, 10.0)),
    Param("joint_state_timeout", 0.2, "s: older joint states -> FAULT; arming refused", range=(0.005, 10.0)),
    Param("max_start_deviation", 0.1, "rad|m: first command's first point vs measured position", (0.001, 3.2)),
    Param("max_tracking_error", 0.2, "rad|m: a point further from the measured position -> FAULT", (0.001, 3.2)),
    Param("position_margin", 0.05, "rad kept from revolute joint limits (inside: clamped)", range=(0.0, 0.5)),
    Param("prismatic_margin", 0.001, "m kept from prismatic joint limits", range=(0.0, 0.05)),
    Param("velocity_scale", 1.0, "fraction of the URDF velocity limits allowed", range=(0.01, 1.0)),
    Param("acceleration_scale", 1.0, "fraction of the acceleration limits allowed", range=(0.01, 1.0)),
    Param("velocity_reject_ratio", 2.0, "requested/allowed velocity above this -> reject + FAULT", (1.0, 100.0)),
    Param("min_point_spacing", 0.01, "s: minimum spacing of output points (and hold time)", range=(0.001, 1.0)),
    Param("stop_step", 0.05, "s: spacing of braking points", range=(0.005, 1.0)),
    Param("max_command_age", 0.5, "s: commands stamped earlier are dropped as stale", range=(0.01, 60.0)),
    Param("max_future", 1.0, "s: commands stamped further ahead are dropped", range=(0.0, 60.0)),
    Param("cartesian_box_enabled", False, "check the end effector against cartesian_box"),
    Param("cartesian_box", [-1.0, 1.0, -1.0, 1.0, -0.05, 1.5], "[xmin, xmax, ymin, ymax, zmin, zmax] in base_link (m)"),
    Param("speed_scaling", 1.0, "0-1: slows every command down (0 = stop)", range=(0.0, 1.0), dynamic=True),
    Param("diagnostics_period", 1.0, "s between /diagnostics reports", range=(0.1, 60.0)),
    *ROBOT_PARAMS,
]

LEVELS = {"info": diag.OK, "warn": diag.WARN, "error": diag.ERROR}


class SafetyBridgeNode(GuardedLifecycleNode):
    def __init__(self) -> None:
        super().__init__("safety_bridge_node")
        self.p = declare_params(self, PARAMS, on_change=self._on_param)
        self.sup: SafetySupervisor | None = None
        self._active = False
        self._entities: list[Any] = []
        self._configure_error = ""
        self._last_label = ""
        self._stream_until = -1.0
        self._last_repeating = ""
        self.diagnostics = diag.Diagnostics(self, period=self.p["diagnostics_period"])
        self.diagnostics.add("safety", self._diag_task)
        if self.p["autostart"]:
            if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                raise ParameterError(self._configure_error or "configure failed")
            self.trigger_activate()

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._configure()
        except (ParameterError, SafetyConfigError, ValueError) as exc:
            self._configure_error = str(exc)
            self.get_logger().error(f"configure failed: {exc}")
            self._destroy_entities()
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active = True
        self.get_logger().info(f"active: output={self.p['output']} -> {self._target_name}; state {self.sup.label}")
        self._publish_state(force=True)
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self.sup is not None and self.sup.state in (SafetyState.ARMED, SafetyState.ACTIVE):
            self._apply(self.sup.disarm(self._now()))
        self._active = False
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._destroy_entities()
        self.sup = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self._active:
            self.on_deactivate(state)
        self._destroy_entities()
        return TransitionCallbackReturn.SUCCESS

    def _configure(self) -> None:
        p = self.p
        robot = load_robot_model(p)
        names = tuple(n.strip() for n in p["controller_joints"].split(",") if n.strip()) or robot.actuated_joints
        box = tuple(p["cartesian_box"]) if p["cartesian_box_enabled"] else None
        if box is not None and len(box) != 6:
            raise ParameterError(f"parameter 'cartesian_box' needs 6 values, got {len(box)}")
        cfg = SafetyConfig(
            position_margin=p["position_margin"],
            prismatic_margin=p["prismatic_margin"],
            velocity_scale=p["velocity_scale"],
            acceleration_scale=p["acceleration_scale"],
            velocity_reject_ratio=p["velocity_reject_ratio"],
            max_tracking_error=p["max_tracking_error"],
            min_point_spacing=p["min_point_spacing"],
            stop_step=p["stop_step"],
            max_command_age=p["max_command_age"],
            max_future=p["max_future"],
            cartesian_box=box,  # type: ignore[arg-type]
        )
        try:
            checker = SafetyChecker(robot, cfg, names)
        except SafetyConfigError as exc:
            raise ParameterError(f"safety limits: {exc}") from exc
        checker.speed_scaling = p["speed_scaling"]
        self.sup = SafetySupervisor(
            checker,
            SupervisorConfig(
                command_timeout=p["command_timeout"],
                joint_state_timeout=p["joint_state_timeout"],
                max_start_deviation=p["max_start_deviation"],
                max_output_rate=p["output_rate"],
                deadman=p["deadman"] != "off",
                deadman_timeout=p["deadman_timeout"],
            ),
        )
        self._make_output()
        e = self._entities
        e.append(self.create_publisher(String, p["safety_state_topic"], LATCHED))
        self._state_pub = e[-1]
        e.append(self.create_subscription(JointTrajectory, p["command_topic"], self._on_command, COMMAND))
        e.append(self.create_subscription(JointState, p["joint_states_topic"], self._on_joint_states, SENSOR))
        e.append(self.create_subscription(Bool, p["estop_topic"], self._on_estop_topic, COMMAND))
        if p["deadman"] == "bool":
            e.append(self.create_subscription(Bool, p["deadman_topic"], self._on_deadman_bool, SENSOR))
        elif p["deadman"] == "joy":
            e.append(self.create_subscription(Joy, p["deadman_topic"], self._on_deadman_joy, SENSOR))
        for name, fn in (("~/arm", self.sup.arm), ("~/disarm", self.sup.disarm), ("~/reset", self.sup.reset),
                         ("~/estop", self.sup.estop)):  # fmt: skip
            e.append(self.create_service(Trigger, name, self._service(name, fn)))
        e.append(self.create_timer(1.0 / p["output_rate"], self._on_tick))

    def _make_output(self) -> None:
        out, p = self.p["output"], self.p
        controller = p["controller"] or DEFAULT_CONTROLLER[out]
        self._action_client = None
        if out == "jtc_action":
            try:
                from control_msgs.action import FollowJointTrajectory
                from rclpy.action import ActionClient
            except ImportError as exc:
                raise ParameterError(
                    "parameter 'output' = 'jtc_action' needs control_msgs (FollowJointTrajectory), which is not "
                    "installed here; use output 'jtc_topic' or install control_msgs"
                ) from exc
            self._target_name = f"/{controller}/follow_joint_trajectory"
            self._fjt = FollowJointTrajectory
            self._action_client = ActionClient(self, FollowJointTrajectory, self._target_name)
            self._entities.append(self._action_client)
            self._goal_handle = None
            return
        if out == "forward":
            self._target_name = f"/{controller}/commands"
            self._out_pub = self.create_publisher(Float64MultiArray, self._target_name, COMMAND)
        elif out == "jtc_topic":
            self._target_name = f"/{controller}/joint_trajectory"
            self._out_pub = self.create_publisher(JointTrajectory, self._target_name, COMMAND)
        else:
            self._target_name = "~/would_send"
            self._out_pub = self.create_publisher(JointTrajectory, "~/would_send", COMMAND)
        self._entities.append(self._out_pub)

    def _destroy_entities(self) -> None:
        for ent in reversed(self._entities):
            try:
                ent.destroy()
            except Exception as exc:  # destroying twice or a half-built entity must not stop cleanup
                self.get_logger().debug(f"cleanup: {exc}")
        self._entities = []

    # ------------------------------------------------------------------ callbacks
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_joint_states(self, msg: JointState) -> None:
        if self.sup is None:
            return
        vel = np.asarray(msg.velocity, dtype=float) if len(msg.velocity) else None
        self.sup.update_joint_state(list(msg.name), np.asarray(msg.position, dtype=float), vel, self._now())
        self._flush_events()

    def _on_command(self, msg: JointTrajectory) -> None:
        if not self._active:
            return
        now = self._now()
        try:
            traj = trajectory_from_msg(msg)
        except TrajectoryError as exc:
            self._apply(self.sup.malformed(f"malformed command: {exc}", now))
            return
        self._apply(self.sup.command(traj, now))

    def _on_tick(self) -> None:
        if not self._active:
            return
        now = self._now()
        self._apply(self.sup.tick(now))
        if self.p["output"] == "forward" and now <= self._stream_until:
            ref = self.sup.reference(now)
            if ref is not None:
                self._send_forward(ref[0])

    def _on_estop_topic(self, msg: Bool) -> None:
        # tracked even while inactive, so a reset after activation still sees an asserted e-stop
        self._apply(self.sup.set_estop_input(msg.data, self._now()))

    def _on_deadman_bool(self, msg: Bool) -> None:
        self.sup.set_deadman(msg.data, self._now())

    def _on_deadman_joy(self, msg: Joy) -> None:
        b = self.p["deadman_button"]
        self.sup.set_deadman(len(msg.buttons) > b and msg.buttons[b] == 1, self._now())

    def _service(self, name: str, fn):
        def handle(request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
            if not self._active:
                response.success, response.message = False, "safety bridge is not active (lifecycle)"
                return response
            reply = fn(self._now())
            self._apply(reply)
            self.get_logger().info(f"{name}: {reply.message}")
            response.success, response.message = reply.ok, reply.message
            return response

        return handle

    def _on_param(self, name: str, value: Any) -> None:
        self.p[name] = value
        if name == "speed_scaling" and self.sup is not None:
            self._apply(self.sup.set_speed_scaling(float(value), self._now()))

    # ------------------------------------------------------------------ output
    def _apply(self, reply: Reply) -> None:
        for out in reply.outputs if self._active else ():
            self._send(out)
        self._flush_events()
        self._publish_state()

    def _send(self, out: Output) -> None:
        mode = self.p["output"]
        traj = out.trajectory
        if mode == "forward":
            # sample the checked path each tick until it is at rest; a hold is sent at once
            self._stream_until = traj.stamp + float(traj.times[-1]) + 2.0 / self.p["output_rate"]
            if out.kind == "hold":
                self._send_forward(traj.positions[0])
            return
        msg = trajectory_to_msg(traj)
        # stamp 0 = "start when received" (JTC semantics): the path starts from the
        # reference the controller follows now, whatever the sender's clock
        msg.header.stamp.sec, msg.header.stamp.nanosec = 0, 0
        if mode == "jtc_action":
            self._send_goal(msg)
        else:
            self._out_pub.publish(msg)

    def _send_forward(self, q: np.ndarray) -> None:
        self._out_pub.publish(Float64MultiArray(data=[float(x) for x in q]))

    def _send_goal(self, msg: JointTrajectory) -> None:
        assert self._action_client is not None
        if not self._action_client.server_is_ready():
            self.get_logger().error(f"{self._target_name} not available: command not sent")
            return
        goal = self._fjt.Goal()
        goal.trajectory = msg
        future = self._action_client.send_goal_async(goal)  # a new goal preempts the running one in JTC
        future.add_done_callback(self._on_goal_response)

    def _on_goal_response(self, future) -> None:
        handle = future.result()
        if handle is None or not handle.accepted:
            self.get_logger().error("FollowJointTrajectory goal rejected by the controller")
            return
        self._goal_handle = handle

    # ------------------------------------------------------------------ reporting
    def _flush_events(self) -> None:
        """Log every event; transitions and rejections also go to /diagnostics at once.

        Per-command clamps and drops can come at the command rate: they are logged at most
        once a second and reported by the periodic diagnostics (count + last reason).
        """
        if self.sup is None:
            return
        events = self.sup.drain_events()
        log = self.get_logger()
        extra = []
        for ev in events:
            if ev.repeating:
                self._last_repeating = ev.message
                self.log.warning("repeating", ev.message, period=1.0)
                continue
            if ev.level == "error":
                log.error(ev.message)
            elif ev.level == "warn":
                log.warning(ev.message)
            else:
                log.info(ev.message)
            extra.append(self.diagnostics.status("safety event", LEVELS[ev.level], ev.message, {"time": ev.time}))
        if extra:
            self.diagnostics.publish(extra)

    def _publish_state(self, force: bool = False) -> None:
        label = self.sup.label
        if force or label != self._last_label:
            self._last_label = label
            self._state_pub.publish(String(data=label))

    def _diag_task(self) -> tuple[int, str, dict[str, Any]]:
        sup = self.sup
        if sup is None:
            return diag.STALE, "not configured", {}
        level = diag.ERROR if sup.state is SafetyState.FAULT else diag.OK
        values: dict[str, Any] = {"state": sup.label, "output": self.p["output"], "target": self._target_name,
                                  "speed_scaling": sup.checker.speed_scaling}  # fmt: skip
        values.update(sorted(sup.counts.items()))
        values["last_clamp_or_drop"] = self._last_repeating
        return level, sup.label, values


def main(args: list[str] | None = None) -> None:
    sys.exit(run_node(lambda: SafetyBridgeNode(), args))


if __name__ == "__main__":
    main()
