"""chunk_smoother_node: action chunks + joint states in, a jerk-limited /wam/command out.

Thin ROS shell over wam_ros.control.chunk_smoother.ChunkSmoother: converts messages, holds
parameters and the publish timer (node clock, so use_sim_time works; the steady clock is
passed too, so a frozen process or a frozen /clock is noticed), follows the safety state
(publishes while ARMED/ACTIVE; the arm follows the reference only while ACTIVE, otherwise
the reference is pinned to the measured joint state) and publishes /diagnostics, including
a policy that fell silent (no chunk for policy_warn_after / policy_error_after seconds).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import replace
from typing import Any

from rcl_interfaces.msg import SetParametersResult
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from wam_ros.control.chunk_smoother import ChunkSmoother, SmootherConfig
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
        if self.p["policy_warn_after"] > self.p["policy_error_after"]:
            raise ParameterError(f"policy_warn_after = {self.p['policy_warn_after']} must not exceed "
                                 f"policy_error_after = {self.p['policy_error_after']}")
        self.add_on_set_parameters_callback(self._check_tuning)
        self.joint_names = list(self.smoother.joint_names)
        self.safety_state: str | None = None
        self.active = not self.p["require_armed"]
        self.bad_joint_states = 0
        self.last_joint_state_error = ""
        self.published = 0
        self._last_stamp = float("nan")
        self._active_since = self._now()  # the policy's silence is counted from here at the earliest
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
            self.smoother.set_joint_state(msg.name, msg.position, self._now())
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
            too_long = self.smoother.too_long(len(msg.points))  # before converting 10,000 points
            verdict = self.smoother.refuse(too_long, now=now) if too_long else self.smoother.add_chunk(
                trajectory_from_msg(msg), now)
        except TrajectoryError as exc:  # not even representable (ragged points)
            verdict = self.smoother.refuse(f"malformed: {exc}", now=now)
        if not verdict.accepted:
            self.log.warning("rejected", f"chunk rejected: {verdict.reason}", period=2.0)

    def _on_safety(self, msg: String) -> None:
        state = msg.data.strip()
        now = self._now()
        if state in ACTIVE_STATES and self.safety_state not in ACTIVE_STATES:
            self._active_since = now
        self.safety_state = state
        self.active = state in ACTIVE_STATES
        # Only ACTIVE means the arm follows; after any stop (ARMED again, FAULT, DISARMED) the reference
        # is pinned to the measured state and restarts there: the bridge's first-command check passes.
        self.smoother.set_following(state == "ACTIVE", now)

    # ------------------------------------------------------------------ output
    def _on_tick(self) -> None:
        if not self.active:
            return
        now = self._now()
        cmd = self.smoother.step(now, steady=time.monotonic())
        if cmd is None or cmd.stamp == self._last_stamp:  # timer fired early (or waiting after a gap)
            return
        self._last_stamp = cmd.stamp
        self.pub.publish(self._command_msg(now))
        self.published += 1

    def _command_msg(self, now: float) -> JointTrajectory:
        """Stamped now, every point command_lead or more after it (nothing the bridge must skip or retime)."""
        n = self.p["lookahead_points"] if self.p["output_mode"] == "trajectory" else 1
        spacing = self.p["lookahead_time"] / (n - 1) if n > 1 else self.smoother.config.dt
        ahead = self.smoother.lookahead(n, spacing, now, self.p["command_lead"])
        msg = JointTrajectory()
        msg.header.stamp = sec_to_time(ahead.stamp)
        msg.joint_names = self.joint_names
        msg.points = [
            _point(ahead.positions[i], ahead.velocities[i], ahead.accelerations[i], float(ahead.times[i]))
            for i in range(ahead.num_points)
        ]
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
        silence = self.smoother.chunk_silence(self._now(), self._active_since) if self.active else math.nan
        s["last_chunk_age"] = silence
        if not self.smoother.initialized:
            return WARN, "waiting for /joint_states", s
        if s["waiting_after_gap"]:
            return WARN, "tick gap (frozen process or clock): waiting for fresh joint states to restart", s
        if silence >= self.p["policy_error_after"]:
            return ERROR, f"no action chunk for {silence:.1f} s while {self.safety_state or 'publishing'}: " \
                          "is the policy running?", s
        if silence >= self.p["policy_warn_after"]:
            return WARN, f"no action chunk for {silence:.1f} s while {self.safety_state or 'publishing'}", s
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
