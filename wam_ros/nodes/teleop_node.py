"""teleop_node: a human (or the scripted expert) drives the arm through /wam/command.

``source``:
- ``leader_arm``: a GELLO-style leader's sensor_msgs/JointState, mapped by
  wam_ros.teleop.leader_arm (names, offsets, signs from parameters), rate-limited
  toward the leader so a far-away leader never produces a jump;
- ``joy``: sensor_msgs/Joy -> end-effector twist (wam_ros.teleop.joy_mapping) ->
  joint targets by damped-least-squares differential IK; the deadman button is
  forwarded as a std_msgs/Bool heartbeat on wam/deadman for the safety bridge;
- ``expert``: wam_ros.sim.scripted_expert.ScriptedExpert acts as the teleoperator
  from sim/scene_state + /joint_states, publishing its chunk as a short trajectory.

Every command goes to the safety bridge (never to a controller directly), so
teleop is gated, limited and deadman-protected like the policy.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
from sensor_msgs.msg import JointState, Joy
from std_msgs.msg import Bool, String
from trajectory_msgs.msg import JointTrajectory

from wam_ros.params import teleop_node as teleop_node_params
from wam_ros.robot.joint_state import JointStateError, positions_in_order
from wam_ros.robot.model import RobotModel
from wam_ros.robot.trajectory import Trajectory
from wam_ros.ros.diagnostics import OK, WARN, Diagnostics
from wam_ros.ros.guarded_node import GuardedNode
from wam_ros.ros.node_runtime import run_node
from wam_ros.ros.parameters import ParameterError, declare_params
from wam_ros.ros.qos import COMMAND, LATCHED, SENSOR
from wam_ros.ros.robot_description import load_robot_model
from wam_ros.ros.trajectory_conversion import trajectory_to_msg
from wam_ros.teleop.diff_ik import DiffIK
from wam_ros.teleop.joy_mapping import JoyMapping, JoyMappingError
from wam_ros.teleop.leader_arm import LeaderArmError, LeaderArmMapping
from wam_ros.teleop.limits import inner_limits
from wam_ros.teleop.twist_integrator import TwistIntegrator

PARAMS = teleop_node_params.PARAMS  # defined once, in wam_ros.params.teleop_node


class TeleopNode(GuardedNode):
    def __init__(self) -> None:
        super().__init__("teleop_node")
        p = declare_params(self, PARAMS, on_change=self._on_param)
        self.p = p
        self.robot: RobotModel = load_robot_model(p)
        self.joints = self.robot.actuated_joints
        self.lower, self.upper = inner_limits(self.robot, self.joints, p["limit_margin"])
        self.vmax = self.robot.limits()["velocity"] * p["velocity_fraction"]
        self.measured: np.ndarray | None = None
        self.reference: np.ndarray | None = None  # last leader target sent (rate limiting starts here)
        self.sent = 0
        self.last_error = ""
        self.input_time = -np.inf
        self.pub = self.create_publisher(JointTrajectory, p["command_topic"], COMMAND)
        self.create_subscription(JointState, "joint_states", self._on_joint_state, SENSOR)
        source = p["source"]
        if source == "leader_arm":
            names = [n for n in p["leader_joints"] if n] or list(self.joints)
            offsets = [] if p["leader_offsets"] == [0.0] else p["leader_offsets"]
            signs = [] if p["leader_signs"] == [1.0] else p["leader_signs"]
            try:
                self.leader = LeaderArmMapping.from_config(self.robot, names, offsets, signs, p["limit_margin"])
            except LeaderArmError as exc:
                raise ParameterError(f"leader arm mapping (leader_joints/leader_offsets/leader_signs): {exc}") from exc
            self.leader_target: np.ndarray | None = None
            self.create_subscription(JointState, p["leader_topic"], self._on_leader, SENSOR)
            self.create_timer(1.0 / p["rate"], self._tick_leader)
        elif source == "joy":
            try:
                self.joy_map = self._joy_mapping()
            except JoyMappingError as exc:
                raise ParameterError(f"joy mapping: {exc}") from exc
            ik = DiffIK(self.robot, p["ik_damping"], p["limit_margin"], p["velocity_fraction"])
            self.integrator = TwistIntegrator(self.robot, ik, p["limit_margin"], p["gripper_speed"])
            self.joy: Joy | None = None
            self.deadman_pub = self.create_publisher(Bool, p["deadman_topic"], COMMAND)
            self.create_subscription(Joy, p["joy_topic"], self._on_joy, SENSOR)
            self.create_timer(1.0 / p["rate"], self._tick_joy)
        else:
            from wam_ros.sim.scripted_expert import ScriptedExpert

            self.expert = ScriptedExpert(
                self.robot, horizon=p["expert_horizon"], period=p["expert_period"], speed=p["expert_speed"]
            )
            self.scene: dict[str, Any] | None = None
            self.create_subscription(String, p["scene_state_topic"], self._on_scene, LATCHED)
            self.create_timer(1.0 / p["expert_rate"], self._tick_expert)
        self.diag = Diagnostics(self)
        self.diag.add("teleop", self._diagnostics)
        self.get_logger().info(f"teleop source={source} -> {p['command_topic']}")

    # ------------------------------------------------------------------ helpers
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _joy_mapping(self) -> JoyMapping:
        p = self.p
        return JoyMapping(
            tuple(int(a) for a in p["joy_axes"]), tuple(float(s) for s in p["joy_scales"]), p["joy_deadzone"],
            p["max_linear"], p["max_angular"], p["deadman_button"], p["gripper_open_button"],
            p["gripper_close_button"],
        )

    def _on_param(self, name: str, value: Any) -> None:
        self.p[name] = value
        if name == "velocity_fraction":
            self.vmax = self.robot.limits()["velocity"] * value
        if self.p["source"] == "joy" and name in ("max_linear", "max_angular"):
            self.joy_map = self._joy_mapping()

    def _publish(self, traj: Trajectory) -> None:
        self.pub.publish(trajectory_to_msg(traj))
        self.sent += 1

    def _stream(self, q: np.ndarray, now: float) -> None:
        self._publish(Trajectory(now, self.joints, [self.p["command_lead"]], q[None, :]))

    # ------------------------------------------------------------------ inputs
    def _on_joint_state(self, msg: JointState) -> None:
        try:
            self.measured = positions_in_order(msg.name, msg.position, self.joints)
        except JointStateError:
            return  # partial or broken states (e.g. another publisher's subset) are ignored

    def _on_leader(self, msg: JointState) -> None:
        try:
            self.leader_target, clipped = self.leader.map(list(msg.name), list(msg.position))
        except LeaderArmError as exc:
            self.last_error = str(exc)
            return
        self.input_time = self._now()
        if clipped.any():
            self.last_error = f"leader beyond limits for {[j for j, c in zip(self.joints, clipped) if c]}: clipped"

    def _on_joy(self, msg: Joy) -> None:
        self.joy = msg
        self.input_time = self._now()

    def _on_scene(self, msg: String) -> None:
        try:
            self.scene = json.loads(msg.data)
        except ValueError:
            self.last_error = "scene_state is not JSON"

    # ------------------------------------------------------------------ sources
    def _tick_leader(self) -> None:
        now = self._now()
        if self.measured is None or self.leader_target is None or now - self.input_time > self.p["input_timeout"]:
            self.reference = None  # stale leader: stop commanding; the bridge's watchdog stops the arm
            return
        start = self.reference if self.reference is not None else self.measured
        step = self.vmax / self.p["rate"]
        self.reference = np.clip(start + np.clip(self.leader_target - start, -step, step), self.lower, self.upper)
        self._stream(self.reference, now)

    def _tick_joy(self) -> None:
        now = self._now()
        fresh = self.joy is not None and now - self.input_time <= self.p["input_timeout"]
        cmd = self.joy_map.command(self.joy.axes, self.joy.buttons) if fresh else None
        deadman = bool(cmd and cmd.deadman)
        self.deadman_pub.publish(Bool(data=deadman))
        if not deadman or self.measured is None:
            self.integrator.release()  # re-anchor at the measured position on the next press
            return
        self._stream(self.integrator.step(self.measured, cmd.twist, cmd.gripper, 1.0 / self.p["rate"]), now)

    def _tick_expert(self) -> None:
        if self.scene is None or self.measured is None:
            return
        if self.scene.get("success", False):
            return  # done, like a human operator: stop commanding, the bridge brings the arm to rest
        now = self._now()
        try:
            chunk = self.expert.act(self.scene, self.measured)
        except (KeyError, ValueError) as exc:
            self.last_error = f"expert cannot plan from scene_state: {exc}"
            return
        self._publish(Trajectory(now, self.joints, self.p["expert_period"] * np.arange(1, len(chunk) + 1),
                                 self._limit_steps(chunk)))

    def _limit_steps(self, chunk: np.ndarray) -> np.ndarray:
        """Clip the chunk to the margined limits and to teleop's velocity share, starting at the measured state.

        The first point also stays within ``max_start_step`` of the measured position, so the safety bridge
        accepts it as a first command (its max_start_deviation) whatever the expert planned.
        """
        step = self.vmax * self.p["expert_period"]
        prev = self.measured
        out = np.empty_like(chunk)
        for i, target in enumerate(np.clip(chunk, self.lower, self.upper)):
            lim = np.minimum(step, self.p["max_start_step"]) if i == 0 else step
            prev = prev + np.clip(target - prev, -lim, lim)
            out[i] = prev
        return out

    def _diagnostics(self) -> tuple[int, str, dict[str, Any]]:
        values = {"source": self.p["source"], "commands_sent": self.sent, "last_error": self.last_error,
                  "joint_states": self.measured is not None}
        if self.measured is None:
            return WARN, "no /joint_states yet", values
        return OK, f"{self.p['source']}: {self.sent} commands", values


def main(args: list[str] | None = None) -> None:
    sys.exit(run_node(lambda: TeleopNode(), args))


if __name__ == "__main__":
    main()
