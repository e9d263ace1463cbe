"""chunk_smoother_node: action chunks + joint states in, a jerk-limited /wam/command out.

Thin ROS shell over wam_ros.control.chunk_smoother.ChunkSmoother: converts messages, holds
parameters and the publish timer (node clock, so use_sim_time works), follows the
safety state (re-initialises at the measured joint state whenever the bridge becomes
ARMED/ACTIVE after not being active) and publishes /diagnostics.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any

from rcl_interfaces.msg import SetParametersResult
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from wam_ros.control.chunk_smoother import ChunkSmoother, Command, SmootherConfig
from wam_ros.params import chunk_smoother_node as chunk_smoother_node_params
from wam_ros.robot.trajectory import TrajectoryError
from wam_ros.ros import qos
from wam_ros.ros.diagnostics import ERROR, OK, WARN, Diagnostics
from wam_ros.ros.guarded_node import GuardedNode
from wam_ros.ros.node_runtime import run_node
from wam_ros.ros.parameters import ParameterError, declare_params
from wam_ros.ros.robot_description import load_robot_model
from wam_ros.ros.time_conversion import sec_to_duration, sec_to_time
from wam_ros.ros.trajectory_conversion import trajectory_from_msg

ACTIVE_STATES = ("ARMED", "ACTIVE")

# Defined once, in wam_ros.params.chunk_smoother_node (TUNING: the SmootherConfig fields).
TUNING = chunk_smoother_node_params.TUNING
TUNING_NAMES = {p.name for p in TUNING}
PARAMS = chunk_smoother_node_params.PARAMS


class ChunkSmootherNode(GuardedNode):
    def __init__(self) -> None:
        super().__init__("chunk_smoother_node")
        self.p = declare_params(self, PARAMS, on_change=self._on_param)
        robot = load_robot_model(self.p)
        try:
            config = SmootherConfig(
                **{p.name: self.p[p.name] for p in TUNING}, dt=1.0 / self.p["publish_rate"]
            )
            self.smoother = ChunkSmoother(robot, config)
        except ValueError as exc:
            raise ParameterError(str(exc)) from exc
        self.add_on_set_parameters_callback(self._check_tuning)
        self.joint_names = list(self.smoother.joint_names)
        self.safety_state: str | None = None
        self.active = not self.p["require_armed"]
        self.bad_joint_states = 0
        self.last_joint_state_error = ""
        self.published = 0
        self._last_stamp = float("nan")
        self._pending_reset = False  # re-armed before any joint state: reset at the first one
        self.pub = self.create_publisher(JointTrajectory, "wam/command", qos.COMMAND)
        self.create_subscription(JointTrajectory, "wam/action_chunk", self._on_chunk, qos.COMMAND)
        self.create_subscription(JointState, "joint_states", self._on_joint_state, qos.SENSOR)
        self.create_subscription(String, "wam/safety_state", self._on_safety, qos.LATCHED)
        self.timer = self.create_timer(1.0 / self.p["publish_rate"], self._on_tick)
        self.diag = Diagnostics(self, period=self.p["diagnostics_period"])
        self.diag.add("smoother", self._diagnose)
        self.get_logger().info(
            f"smoothing {len(self.joint_names)} joints with '{config.strategy}' at {self.p['publish_rate']:.0f} Hz "
            f"({self.p['output_mode']} mode)"
        )

    # ------------------------------------------------------------------ helpers
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _check_tuning(self, params: list) -> SetParametersResult:
        """Refuse tuning changes the smoother would refuse (e.g. smoothing_window > track_lookahead)."""
        changes = {p.name: p.value for p in params if p.name in TUNING_NAMES}
        if changes:
            try:
                replace(self.smoother.config, **changes).validated()
            except (ValueError, TypeError) as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _on_param(self, name: str, value: Any) -> None:
        self.p[name] = value
        if name in TUNING_NAMES:
            try:
                self.smoother.configure(**{name: value})
            except ValueError as exc:  # e.g. binary gripper without limits: keep the old setting
                self.get_logger().error(f"parameter '{name}' not applied: {exc}")

    # ------------------------------------------------------------------ inputs
    def _on_joint_state(self, msg: JointState) -> None:
        try:
            self.smoother.set_joint_state(msg.name, msg.position)
        except ValueError as exc:
            self.bad_joint_states += 1
            self.last_joint_state_error = str(exc)
            self.log.warning("joint_state", f"ignoring joint state: {exc}", period=5.0)

    def _on_chunk(self, msg: JointTrajectory) -> None:
        now = self._now()
        if not self.active:
            self.log.warning("inactive", f"chunk ignored: safety state is {self.safety_state}", period=5.0)
            return
        try:
            verdict = self.smoother.add_chunk(trajectory_from_msg(msg), now)
        except TrajectoryError as exc:  # not even representable (ragged points)
            verdict = self.smoother.refuse(f"malformed: {exc}")
        if not verdict.accepted:
            self.log.warning("rejected", f"chunk rejected: {verdict.reason}", period=2.0)

    def _on_safety(self, msg: String) -> None:
        state = msg.data.strip()
        was_active = self.safety_state in ACTIVE_STATES
        self.safety_state = state
        self.active = state in ACTIVE_STATES
        if self.active and not was_active:  # (re-)armed: start again from where the arm really is
            self._pending_reset = not self.smoother.reset(self._now())

    # ------------------------------------------------------------------ output
    def _on_tick(self) -> None:
        if not self.active:
            return
        now = self._now()
        if self._pending_reset and self.smoother.reset(now):
            self._pending_reset = False
        cmd = self.smoother.step(now)
        if cmd is None or cmd.stamp == self._last_stamp:  # timer fired early: no new tick yet
            return
        self._last_stamp = cmd.stamp
        self.pub.publish(self._command_msg(cmd))
        self.published += 1

    def _command_msg(self, cmd: Command) -> JointTrajectory:
        msg = JointTrajectory()
        msg.header.stamp = sec_to_time(cmd.stamp)
        msg.joint_names = self.joint_names
        if self.p["output_mode"] == "trajectory" and self.p["lookahead_points"] > 1:
            n = self.p["lookahead_points"]
            ahead = self.smoother.lookahead(n, self.p["lookahead_time"] / (n - 1))
            msg.points = [
                _point(ahead.positions[i], ahead.velocities[i], ahead.accelerations[i], float(ahead.times[i]))
                for i in range(ahead.num_points)
            ]
        else:
            msg.points = [_point(cmd.positions, cmd.velocities, cmd.accelerations, 0.0)]
        return msg

    def _diagnose(self) -> tuple[int, str, dict[str, Any]]:
        s = self.smoother.stats()
        s.pop("rejected_by_reason")
        s.update(
            safety_state=self.safety_state or "unknown",
            publishing=self.active and self.smoother.initialized,
            commands_published=self.published,
            output_mode=self.p["output_mode"],
            bad_joint_states=self.bad_joint_states,
        )
        if not self.smoother.initialized:
            return WARN, "waiting for /joint_states", s
        if s["filter_hard_holds"]:
            return ERROR, f"filter failed and held position: {s['filter_last_error']}", s
        if s["stalled"]:
            return WARN, f"stalled {s['stall_time_current']:.2f} s waiting for a chunk", s
        if s["chunks_rejected"] and s["last_reject_reason"]:
            return OK, f"running; last rejected chunk: {s['last_reject_reason']}", s
        return OK, "running", s


def _point(p, v, a, t: float) -> JointTrajectoryPoint:
    pt = JointTrajectoryPoint()
    pt.positions = [float(x) for x in p]
    pt.velocities = [float(x) for x in v]
    pt.accelerations = [float(x) for x in a]
    pt.time_from_start = sec_to_duration(t)
    return pt


def main(args: list[str] | None = None) -> None:
    sys.exit(run_node(lambda: ChunkSmootherNode(), args))


if __name__ == "__main__":
    main()
