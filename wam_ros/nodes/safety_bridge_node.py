"""safety_bridge_node: the only path from the stack to the arm's controllers; it fails closed.

A managed (lifecycle) node over the ROS-free core (wam_ros.safety.checks,
wam_ros.safety.supervisor). It converts /wam/command, /joint_states, the e-stop and
deadman inputs and the services into supervisor calls, and sends the supervisor's
outputs to the controller selected by ``output``:

- ``jtc_topic``: trajectory_msgs/JointTrajectory on /<controller>/joint_trajectory
- ``jtc_action``: control_msgs/FollowJointTrajectory goals (needs control_msgs); delivery is
  tracked (wam_ros.safety.goal_delivery): ACTIVE only once a goal was accepted; rejected,
  aborted, unanswered goals and a vanished server FAULT (docs/safety_bridge.md)
- ``forward``: std_msgs/Float64MultiArray on /<controller>/commands, sampled at output_rate
- ``dry_run``: everything checked, published on ~/would_send, nothing to any controller

With ``autostart`` (default) it configures and activates itself, so the stack runs
without a lifecycle manager. Every transition, clamp and rejection goes to the log
and /diagnostics; the state is latched on /wam/safety_state.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
from geometry_msgs.msg import Vector3Stamped
from rclpy.clock import Clock, ClockType
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.publisher import Publisher
from rclpy.service import Service
from rclpy.subscription import Subscription
from rclpy.timer import Timer
from sensor_msgs.msg import JointState, Joy
from std_msgs.msg import Bool, Float64MultiArray, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import Marker

from wam_ros.params import safety_bridge_node as safety_bridge_node_params
from wam_ros.robot.trajectory import TrajectoryError
from wam_ros.ros import diagnostics as diag
from wam_ros.ros.guarded_node import GuardedLifecycleNode
from wam_ros.ros.node_runtime import run_node
from wam_ros.ros.parameters import ParameterError, declare_params
from wam_ros.ros.qos import COMMAND, LATCHED, SENSOR
from wam_ros.ros.robot_description import load_robot_model
from wam_ros.ros.trajectory_conversion import trajectory_from_msg, trajectory_to_msg
from wam_ros.safety.checks import SafetyChecker, SafetyConfig, SafetyConfigError
from wam_ros.safety.goal_delivery import DeliveryConfig, GoalDelivery, Report, supervise
from wam_ros.safety.supervisor import CommandSource, Output, Reply, SafetyState, SafetySupervisor, SupervisorConfig
from wam_ros.safety.surprise_action import SurpriseGate
from wam_ros.visualization.safety_marker import SafetyMarker, height_over, safety_marker

# Defined once, in wam_ros.params.safety_bridge_node (defaults from SafetyConfig / SupervisorConfig / DeliveryConfig).
OUTPUTS = safety_bridge_node_params.OUTPUTS
DEFAULT_CONTROLLER = safety_bridge_node_params.DEFAULT_CONTROLLER
PARAMS = safety_bridge_node_params.PARAMS

LEVELS = {"info": diag.OK, "warn": diag.WARN, "error": diag.ERROR}


class SafetyBridgeNode(GuardedLifecycleNode):
    def __init__(self, **kwargs: Any) -> None:  # kwargs: rclpy Node options (e.g. context, for in-process tests)
        super().__init__("safety_bridge_node", **kwargs)
        self.p = declare_params(self, PARAMS, on_change=self._on_param)
        self.sup: SafetySupervisor | None = None
        self._active = False
        self._entities: list[Any] = []
        self._configure_error = ""
        self._activate_error = ""
        self._action_client: Any = None
        self._delivery: GoalDelivery | None = None
        self._goal_handles: dict[int, Any] = {}  # GoalDelivery key -> rclpy ClientGoalHandle (accepted goals)
        self._hold_status = ""
        self._last_label = ""
        self._stream_until = -1.0
        self._last_repeating = ""
        self._publisher_names: dict[str, tuple[str, float]] = {}  # GID -> (node name, steady time looked up)
        self.diagnostics = diag.Diagnostics(self, period=self.p["diagnostics_period"])
        self.diagnostics.add("safety", self._diag_task)
        if self.p["autostart"]:
            if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                raise ParameterError(self._configure_error or "configure failed")
            if self.trigger_activate() != TransitionCallbackReturn.SUCCESS:
                raise ParameterError(self._activate_error or "activate failed")

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
        if self._action_client is not None:
            wait = self.p["action_server_timeout"]
            if not self._action_client.wait_for_server(timeout_sec=wait):
                self._activate_error = (
                    f"output 'jtc_action': no FollowJointTrajectory action server at {self._target_name} after "
                    f"{wait:g}s (action_server_timeout): start the controller first, or raise action_server_timeout"
                )
                self.get_logger().error(f"activate failed: {self._activate_error}")
                return TransitionCallbackReturn.FAILURE
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
            jerk_scale=p["jerk_scale"],
            velocity_reject_ratio=p["velocity_reject_ratio"],
            max_tracking_error=p["max_tracking_error"],
            min_point_spacing=p["min_point_spacing"],
            stop_step=p["stop_step"],
            max_command_age=p["max_command_age"],
            max_future=p["max_future"],
            max_command_points=p["max_command_points"],
            cartesian_box=box,  # type: ignore[arg-type]
        )
        self._delivery_cfg = DeliveryConfig(
            response_timeout=p["action_response_timeout"],
            feedback_timeout=p["action_feedback_timeout"],
            result_timeout=p["action_result_timeout"],
        ).validate()
        try:
            checker = SafetyChecker(robot, cfg, names)
        except SafetyConfigError as exc:
            raise ParameterError(f"safety limits: {exc}") from exc
        checker.speed_scaling = p["speed_scaling"]
        self.sup = SafetySupervisor(
            checker,
            SupervisorConfig(
                command_timeout=p["command_timeout"],
                joint_state_hold_timeout=p["joint_state_hold_timeout"],
                joint_state_timeout=p["joint_state_timeout"],
                max_joint_state_skew=p["max_joint_state_skew"],
                max_start_deviation=p["max_start_deviation"],
                max_output_rate=p["output_rate"],
                deadman=p["deadman"] != "off",
                deadman_timeout=p["deadman_timeout"],
                confirm_delivery=p["output"] == "jtc_action",  # ACTIVE once the controller accepted a goal
            ),
        )
        self._make_output()
        e = self._entities
        e.append(self.create_publisher(String, p["safety_state_topic"], LATCHED))
        self._state_pub = e[-1]
        # The same state for RViz: a text marker over the robot (sibling topic: /wam/safety_marker).
        head, sep, _ = p["safety_state_topic"].rpartition("/")
        e.append(self.create_publisher(Marker, f"{head}{sep}safety_marker", LATCHED))
        self._marker_pub = e[-1]
        self._marker_place = (robot.base_link, height_over(robot))
        e.append(self.create_subscription(JointTrajectory, p["command_topic"], self._on_command, COMMAND))
        e.append(self.create_subscription(JointState, p["joint_states_topic"], self._on_joint_states, SENSOR))
        e.append(self.create_subscription(Bool, p["estop_topic"], self._on_estop_topic, COMMAND))
        self.surprise = SurpriseGate(p["surprise_action"], p["surprise_slow_factor"], p["surprise_timeout"])
        e.append(self.create_subscription(Vector3Stamped, p["surprise_topic"], self._on_surprise, SENSOR))
        if p["deadman"] == "bool":
            e.append(self.create_subscription(Bool, p["deadman_topic"], self._on_deadman_bool, SENSOR))
        elif p["deadman"] == "joy":
            e.append(self.create_subscription(Joy, p["deadman_topic"], self._on_deadman_joy, SENSOR))
        for name, fn in (("~/arm", self.sup.arm), ("~/disarm", self.sup.disarm), ("~/reset", self.sup.reset),
                         ("~/estop", self.sup.estop)):  # fmt: skip
            e.append(self.create_service(Trigger, name, self._service(name, fn)))
        # the watchdogs tick on the steady clock: a frozen /clock (use_sim_time) cannot stop them
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        e.append(self.create_timer(1.0 / p["output_rate"], self._on_tick, clock=steady))

    def _make_output(self) -> None:
        out, p = self.p["output"], self.p
        controller = safety_bridge_node_params.controller_for(out, p["controller"])
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
            self._delivery = GoalDelivery(self._target_name, self._delivery_cfg)
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
        """Destroy through the node, so the executor's next wait set no longer holds them.

        ``ent.destroy()`` on a publisher/subscription/timer/service left it (and its QoS event
        handlers) in the node's lists: the next wait set raised InvalidHandle and the process
        died on cleanup (issue 20). The action client's own ``destroy`` removes its waitable.
        """
        destroyers = ((Publisher, self.destroy_publisher), (Subscription, self.destroy_subscription),
                      (Timer, self.destroy_timer), (Service, self.destroy_service))  # fmt: skip
        for ent in reversed(self._entities):
            try:
                fn = next((f for t, f in destroyers if isinstance(ent, t)), None)
                fn(ent) if fn is not None else ent.destroy()
            except Exception as exc:  # destroying twice or a half-built entity must not stop cleanup
                self.get_logger().debug(f"cleanup: {exc}")
        self._entities = []
        self._action_client, self._delivery = None, None
        self._goal_handles.clear()

    # ------------------------------------------------------------------ callbacks
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    @staticmethod
    def _steady() -> float:
        """Arrival time on the steady clock, for the watchdogs (the node clock may be simulated and frozen)."""
        return time.monotonic()

    def _on_joint_states(self, msg: JointState) -> None:
        if self.sup is None:
            return
        vel = np.asarray(msg.velocity, dtype=float) if len(msg.velocity) else None
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        self.sup.update_joint_state(list(msg.name), np.asarray(msg.position, dtype=float), vel, self._now(),
                                    steady=self._steady(), stamp=stamp)  # fmt: skip
        self._flush_events()

    def _on_command(self, msg: JointTrajectory, info: Any) -> None:
        # two arguments: rclpy passes the MessageInfo, whose publisher GID names the commander
        if not self._active:
            return
        now, steady = self._now(), self._steady()
        source = self._source(info)
        too_long = self.sup.checker.too_long(len(msg.points))  # before converting 10,000 points
        if too_long:
            self._apply(self.sup.malformed(too_long, now, source, steady=steady))
            return
        try:
            traj = trajectory_from_msg(msg)
        except TrajectoryError as exc:
            self._apply(self.sup.malformed(f"malformed command: {exc}", now, source, steady=steady))
            return
        self._apply(self.sup.command(traj, now, source, steady=steady))

    def _source(self, info: Any) -> CommandSource | None:
        """The command's publisher: its GID (identity), named by the node that owns it in the ROS graph."""
        gid = (info or {}).get("publisher_gid") if isinstance(info, dict) else None
        if not gid or not gid.get("data"):
            return None  # an RMW without GIDs: all such commands are one (anonymous) commander
        key = bytes(gid["data"]).hex()
        return CommandSource(key, self._publisher_name(key))

    def _named(self, source: CommandSource) -> CommandSource:
        """``source`` with its node's name, when the graph knew none at its first message but knows it now."""
        return source if source.name else CommandSource(source.id, self._publisher_name(source.id))

    def _publisher_name(self, key: str) -> str:
        """The node owning publisher GID ``key``, from the ROS graph (asked at most once a second while
        unknown: the graph can show an endpoint, as ``_NODE_NAME_UNKNOWN_``, before its node)."""
        name, looked = self._publisher_names.get(key, ("", -1e9))
        if not name and time.monotonic() - looked > 1.0:
            for ep in self.get_publishers_info_by_topic(self.p["command_topic"]):
                if bytes(ep.endpoint_gid).hex() == key and ep.node_name != "_NODE_NAME_UNKNOWN_":
                    name = f"{ep.node_namespace.rstrip('/')}/{ep.node_name}"  # known once its node is discovered
            self._publisher_names[key] = (name, time.monotonic())
        return name

    def _on_tick(self) -> None:
        self._watch_delivery()
        if not self._active:
            return
        now = self._now()
        self._apply_surprise()  # a stale alarm lets go
        self._apply(self.sup.tick(now, steady=self._steady()))
        if self.p["output"] == "forward" and now <= self._stream_until:
            ref = self.sup.reference(now)
            if ref is not None:
                self._send_forward(ref[0])

    def _on_surprise(self, msg: Vector3Stamped) -> None:
        v = msg.vector
        self.surprise.update(v.x, v.y, v.z > 0.5, self._steady())
        if self._active:
            self._apply_surprise()

    def _apply_surprise(self) -> None:
        reply = self.surprise.apply(self.sup, self._now(), self._steady())
        if reply is not None:
            self._apply(reply)

    def _on_estop_topic(self, msg: Bool) -> None:
        # tracked even while inactive, so a reset after activation still sees an asserted e-stop
        self._apply(self.sup.set_estop_input(msg.data, self._now(), steady=self._steady()))

    def _on_deadman_bool(self, msg: Bool) -> None:
        self.sup.set_deadman(msg.data, self._now(), steady=self._steady())

    def _on_deadman_joy(self, msg: Joy) -> None:
        b = self.p["deadman_button"]
        self.sup.set_deadman(len(msg.buttons) > b and msg.buttons[b] == 1, self._now(), steady=self._steady())

    def _service(self, name: str, fn):
        def handle(request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
            if not self._active:
                response.success, response.message = False, "safety bridge is not active (lifecycle)"
                return response
            reply = fn(self._now(), steady=self._steady())
            self._apply(reply)
            self.get_logger().info(f"{name}: {reply.message}")
            response.success, response.message = reply.ok, reply.message
            return response

        return handle

    def on_callback_error(self, where: str, exc: BaseException) -> None:
        """Fail closed: a command, joint-state, e-stop, deadman or watchdog callback that raised means the
        bridge no longer knows what it is doing: FAULT + hold (GuardedNode has logged and counted it)."""
        if self.sup is None or not (where.startswith("sub ") or where == "timer _on_tick"):
            return
        self._apply(self.sup.fault(f"internal error in {where}: {type(exc).__name__}: {exc}", self._now(),
                                   steady=self._steady()))  # fmt: skip

    def _on_param(self, name: str, value: Any) -> None:
        self.p[name] = value
        if name in ("surprise_action", "surprise_slow_factor") and self.sup is not None:
            self.surprise.action, self.surprise.slow_factor = self.p["surprise_action"], self.p["surprise_slow_factor"]
            if self._active:
                self._apply_surprise()
        if name == "speed_scaling" and self.sup is not None:
            self._apply(self.sup.set_speed_scaling(float(value), self._now(), steady=self._steady()))

    # ------------------------------------------------------------------ output
    def _apply(self, reply: Reply) -> None:
        if self._delivery is not None and self.sup.state is SafetyState.FAULT:
            self._cancel_goals()  # e-stop / FAULT: stop the running goal, then the hold goes out
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
        if out.kind == "hold":
            # a protective stop acts on receipt, whatever the clocks: stamp 0 = "start now" (JTC)
            msg.header.stamp.sec, msg.header.stamp.nanosec = 0, 0
        # else stamped with the check time (node clock; joint-state stamps prove it is the controller's):
        # the controller starts the path where the bridge planned it, from the reference it follows
        # then, so the planned (limited) path is executed as planned whatever the delivery delay
        # (with stamp 0 a delay d shifts the first segment: ~6 v d / T^2 of acceleration; docs)
        if mode == "jtc_action":
            self._send_goal(msg, out.kind)
        else:
            self._out_pub.publish(msg)

    def _send_forward(self, q: np.ndarray) -> None:
        self._out_pub.publish(Float64MultiArray(data=[float(x) for x in q]))

    # ------------------------------------------------------------------ action output (jtc_action)
    # Thin rclpy wiring: what was sent and heard goes to GoalDelivery (the rules, deadlines and
    # reasons live there); its reports go to the supervisor through goal_delivery.supervise.
    def _send_goal(self, msg: JointTrajectory, kind: str) -> None:
        d, client, now = self._delivery, self._action_client, time.monotonic()
        assert d is not None and client is not None
        if not client.server_is_ready():
            self._on_delivery(d.not_sent(kind, "no action server in the ROS graph", now))
            return
        goal = self._fjt.Goal()
        goal.trajectory = msg
        last = msg.points[-1].time_from_start if msg.points else None
        key = d.sent(kind, last.sec + last.nanosec * 1e-9 if last is not None else 0.0, now)
        try:  # a new goal preempts the running one in JTC (that one then ends CANCELED)
            future = client.send_goal_async(
                goal, feedback_callback=self._guard("action feedback", lambda _fb: d.feedback(key, time.monotonic()))
            )
        except Exception as exc:
            self._on_delivery(d.not_sent(kind, f"send_goal_async failed: {exc}", now, key=key))
            return
        future.add_done_callback(self._guard("action goal response", lambda f: self._on_goal_response(d, key, f)))

    def _on_goal_response(self, d: GoalDelivery, key: int, future: Any) -> None:
        if d is not self._delivery:  # answered after cleanup
            return
        handle = future.result()
        accepted = handle is not None and handle.accepted
        report = d.response(key, accepted, time.monotonic())
        if accepted and report is not None:
            self._goal_handles[key] = handle
            handle.get_result_async().add_done_callback(
                self._guard("action result", lambda f: self._on_goal_result(d, key, f))
            )
        self._on_delivery(report)

    def _on_goal_result(self, d: GoalDelivery, key: int, future: Any) -> None:
        self._goal_handles.pop(key, None)
        if d is not self._delivery:
            return
        resp = future.result()  # GetResult response: status (action_msgs/GoalStatus) + result
        res = resp.result
        self._on_delivery(d.result(key, resp.status, int(res.error_code), str(res.error_string), time.monotonic()))

    def _cancel_goals(self) -> None:
        assert self._delivery is not None
        for key in self._delivery.cancel_all():
            handle = self._goal_handles.get(key)
            if handle is not None:
                handle.cancel_goal_async()

    def _watch_delivery(self) -> None:
        """Deadlines of the goals in flight, and the server's presence in the graph while armed."""
        d = self._delivery
        if d is None or self.sup is None:
            return
        now = time.monotonic()
        reports = d.check(now)
        armed = self.sup.state in (SafetyState.ARMED, SafetyState.ACTIVE)
        if (armed or d.in_flight) and not self._action_client.server_is_ready():
            reports += d.server_lost(now)
            if not reports and armed:
                self._apply(self.sup.fault(f"{self._target_name} gone from the ROS graph", self._now()))
        for report in reports:
            self._on_delivery(report)
        for key in [k for k in self._goal_handles if not d.tracks(k)]:
            del self._goal_handles[key]  # given up on (deadline) or superseded and forgotten

    def _on_delivery(self, report: Report | None) -> None:
        if report is None or self.sup is None:
            return
        if report.cancel:  # accepted after an e-stop/FAULT asked every goal to stop
            handle = self._goal_handles.get(report.goal)
            if handle is not None:
                handle.cancel_goal_async()
        if report.fault:
            self.log.error(f"action {report.outcome.value}", report.message, period=1.0)
        if report.stop_lost and self.sup.state is SafetyState.FAULT:
            self._hold_status = f"NOT DELIVERED: {report.message}"
            msg = f"hold not delivered: {report.message}: the arm may still follow its last goal"
            self.log.error("hold lost", msg, period=1.0)
            self.diagnostics.publish([self.diagnostics.status("safety event", diag.ERROR, msg, {})])
        elif report.kind == "hold" and report.was_accepted:
            self._hold_status = "delivered"
        reply = supervise(self.sup, report, self._now())
        if reply is not None:
            self._apply(reply)

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
                self.log.warning(ev.key or "repeating", ev.message, period=1.0)
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
            self._marker_pub.publish(_marker_msg(safety_marker(label, *self._marker_place)))

    def _diag_task(self) -> tuple[int, str, dict[str, Any]]:
        sup = self.sup
        if sup is None:
            return diag.STALE, "not configured", {}
        level = diag.ERROR if sup.state is SafetyState.FAULT else diag.OK
        message = sup.label
        values: dict[str, Any] = {"state": sup.label, "output": self.p["output"], "target": self._target_name,
                                  "speed_scaling": sup.checker.speed_scaling}  # fmt: skip
        values.update(sorted(sup.counts.items()))
        values["last_clamp_or_drop"] = self._last_repeating
        values["commander"] = str(self._named(sup.owner)) if sup.owner is not None else "none"
        for src, n in sup.refused_sources.items():  # a second commander: named, with its count
            values[f"refused commands from {self._named(src)}"] = n
        if sup.refused_sources and level == diag.OK:
            level, message = diag.WARN, f"{message}: commands from another publisher refused"
        age = sup.joint_state_age(self._steady())
        values["joint_states_age"] = age if age < 1e9 else "none received"
        values["last_joint_state_refusal"] = sup.last_joint_state_refusal
        if sup.holding_for_joint_states and level == diag.OK:
            level, message = diag.WARN, f"{message}: holding, joint_states stale ({age:.3f}s)"
        values.update(surprise_action=self.p["surprise_action"], surprise_score=self.surprise.score,
                      surprise_alarm=self.surprise.alarm)
        warning = self.surprise.warning(self._steady())
        if warning and level == diag.OK:
            level, message = diag.WARN, f"{message}: {warning}"
        if self._delivery is not None:
            d = self._delivery
            values.update({f"goals_{k.replace(' ', '_')}": v for k, v in sorted(d.counts.items())})
            values.update(goals_in_flight=d.in_flight, last_goal_failure=d.last_failure,
                          hold_delivery=self._hold_status)
        return level, message, values


def _marker_msg(m: SafetyMarker) -> Marker:
    """A TEXT_VIEW_FACING marker; stamp 0 = the latest transform, so a latched marker never goes stale."""
    msg = Marker()
    msg.header.frame_id = m.frame
    msg.ns, msg.id = "wam_safety_state", 0
    msg.type, msg.action = Marker.TEXT_VIEW_FACING, Marker.ADD
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = m.position
    msg.pose.orientation.w = 1.0
    msg.scale.z = m.height
    msg.color.r, msg.color.g, msg.color.b, msg.color.a = m.rgba
    msg.text = m.text
    msg.frame_locked = True
    return msg


def main(args: list[str] | None = None) -> None:
    sys.exit(run_node(lambda: SafetyBridgeNode(), args))


if __name__ == "__main__":
    main()
