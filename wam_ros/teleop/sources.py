"""Who drives the arm in teleoperation: one small interface over the leader arm, the gamepad and the expert.

A :class:`TeleopSource` is fed its operator's input (``feed``, plain values the node took
out of its messages), ticked every ``period`` seconds with the measured joint positions,
and answers with a :class:`TeleopOutput`: the command for the safety bridge (or none:
stale input, released deadman, nothing to do) and, for sources with a deadman, the
heartbeat the bridge watches. ``make_source`` builds the configured one from the
teleop node's settings.

- :class:`LeaderArmSource`: a GELLO-style leader's joint positions, mapped joint by joint
  (wam_ros.teleop.leader_arm) and approached at teleop's velocity share, so a far-away
  leader never produces a jump; stale leader input stops commanding.
- :class:`JoySource`: sensor_msgs/Joy axes and buttons -> end-effector twist
  (wam_ros.teleop.joy_mapping) -> joint targets by differential IK; nothing moves
  unless the deadman button is held, and the button is the heartbeat.
- :class:`ExpertSource`: the scripted expert (wam_ros.sim.scripted_expert) acts as the
  teleoperator from the simulator's scene state; its chunk is clipped to the margined
  limits and teleop's velocity share, its first point near the measured position.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from wam_ros.robot.model import RobotModel
from wam_ros.robot.trajectory import Trajectory
from wam_ros.teleop.diff_ik import DiffIK
from wam_ros.teleop.joy_mapping import JoyMapping, JoyMappingError
from wam_ros.teleop.leader_arm import LeaderArmError, LeaderArmMapping
from wam_ros.teleop.limits import inner_limits
from wam_ros.teleop.twist_integrator import TwistIntegrator


class TeleopConfigError(ValueError):
    """The settings do not give a usable source; the message names the settings to change."""


@dataclass(frozen=True)
class TeleopOutput:
    command: Trajectory | None = None  # for the safety bridge; None: send nothing this tick
    deadman: bool | None = None  # heartbeat for the bridge (sources with a deadman); None: no heartbeat


class TeleopSource(ABC):
    """One operator input turned into joint commands; the node feeds it, ticks it and publishes what it says."""

    period: float  # [s] between ticks
    last_error: str = ""

    def __init__(self, robot: RobotModel, velocity_fraction: float) -> None:
        self.robot = robot
        self.joints = robot.actuated_joints
        self.vmax = robot.limits()["velocity"] * velocity_fraction

    @abstractmethod
    def tick(self, now: float, measured: np.ndarray | None) -> TeleopOutput:
        """The output for this tick; ``measured``: joint positions in actuated order (None before any)."""

    def set_param(self, name: str, value: Any) -> None:
        """A run-time change of a dynamic setting; settings the source does not use are ignored."""
        if name == "velocity_fraction":
            self.vmax = self.robot.limits()["velocity"] * value


class StreamingSource(TeleopSource):
    """Streams one target point at ``rate``, ``command_lead`` ahead, while the input is fresh."""

    def __init__(self, robot: RobotModel, velocity_fraction: float, rate: float, command_lead: float,
                 input_timeout: float) -> None:
        super().__init__(robot, velocity_fraction)
        self.rate, self.period = float(rate), 1.0 / rate
        self.command_lead, self.input_timeout = float(command_lead), float(input_timeout)
        self.input_time = -np.inf

    def point(self, now: float, q: np.ndarray) -> Trajectory:
        return Trajectory(now, self.joints, [self.command_lead], q[None, :])

    def fresh(self, now: float) -> bool:
        return now - self.input_time <= self.input_timeout


class LeaderArmSource(StreamingSource):
    def __init__(self, robot: RobotModel, mapping: LeaderArmMapping, velocity_fraction: float, rate: float,
                 command_lead: float, input_timeout: float, limit_margin: float) -> None:
        super().__init__(robot, velocity_fraction, rate, command_lead, input_timeout)
        self.mapping = mapping
        self.lower, self.upper = inner_limits(robot, self.joints, limit_margin)
        self.target: np.ndarray | None = None  # the mapped leader position
        self.reference: np.ndarray | None = None  # last target sent (rate limiting starts here)

    def feed(self, now: float, names: Sequence[str], positions: Sequence[float]) -> None:
        """One leader JointState."""
        try:
            self.target, clipped = self.mapping.map(list(names), list(positions))
        except LeaderArmError as exc:
            self.last_error = str(exc)
            return
        self.input_time = now
        if clipped.any():
            self.last_error = f"leader beyond limits for {[j for j, c in zip(self.joints, clipped) if c]}: clipped"

    def tick(self, now: float, measured: np.ndarray | None) -> TeleopOutput:
        if measured is None or self.target is None or not self.fresh(now):
            self.reference = None  # stale leader: stop commanding; the bridge's watchdog stops the arm
            return TeleopOutput()
        start = self.reference if self.reference is not None else measured
        step = self.vmax / self.rate
        self.reference = np.clip(start + np.clip(self.target - start, -step, step), self.lower, self.upper)
        return TeleopOutput(self.point(now, self.reference))


class JoySource(StreamingSource):
    def __init__(self, robot: RobotModel, mapping: JoyMapping, integrator: TwistIntegrator, velocity_fraction: float,
                 rate: float, command_lead: float, input_timeout: float) -> None:
        super().__init__(robot, velocity_fraction, rate, command_lead, input_timeout)
        self.mapping, self.integrator = mapping, integrator
        self.axes: Sequence[float] = ()
        self.buttons: Sequence[int] = ()
        self.seen = False

    def feed(self, now: float, axes: Sequence[float], buttons: Sequence[int]) -> None:
        """One Joy message."""
        self.axes, self.buttons, self.seen, self.input_time = axes, buttons, True, now

    def tick(self, now: float, measured: np.ndarray | None) -> TeleopOutput:
        cmd = self.mapping.command(self.axes, self.buttons) if self.seen and self.fresh(now) else None
        deadman = bool(cmd and cmd.deadman)
        if not deadman or measured is None:
            self.integrator.release()  # re-anchor at the measured position on the next press
            return TeleopOutput(deadman=deadman)
        q = self.integrator.step(measured, cmd.twist, cmd.gripper, self.period)
        return TeleopOutput(self.point(now, q), deadman=True)

    def set_param(self, name: str, value: Any) -> None:
        super().set_param(name, value)
        if name in ("max_linear", "max_angular"):
            self.mapping = replace(self.mapping, **{name: value})


class ExpertSource(TeleopSource):
    def __init__(self, robot: RobotModel, expert: Any, velocity_fraction: float, rate: float, max_start_step: float,
                 limit_margin: float) -> None:
        """``expert``: a ScriptedExpert (``act(scene, q) -> chunk``, ``period``)."""
        super().__init__(robot, velocity_fraction)
        self.expert = expert
        self.period = 1.0 / rate
        self.max_start_step = float(max_start_step)
        self.lower, self.upper = inner_limits(robot, self.joints, limit_margin)
        self.scene: dict[str, Any] | None = None

    def feed(self, now: float, scene: dict[str, Any]) -> None:
        """The simulator's latest scene state."""
        self.scene = scene

    def tick(self, now: float, measured: np.ndarray | None) -> TeleopOutput:
        if self.scene is None or measured is None:
            return TeleopOutput()
        if self.scene.get("success", False):
            return TeleopOutput()  # done, like a human operator: stop commanding, the bridge brings the arm to rest
        try:
            chunk = self.expert.act(self.scene, measured)
        except (KeyError, ValueError) as exc:
            self.last_error = f"expert cannot plan from scene_state: {exc}"
            return TeleopOutput()
        times = self.expert.period * np.arange(1, len(chunk) + 1)
        return TeleopOutput(Trajectory(now, self.joints, times, self.limit_steps(chunk, measured)))

    def limit_steps(self, chunk: np.ndarray, measured: np.ndarray) -> np.ndarray:
        """Clip the chunk to the margined limits and to teleop's velocity share, starting at the measured state.

        The first point also stays within ``max_start_step`` of the measured position, so the safety bridge
        accepts it as a first command (its max_start_deviation) whatever the expert planned.
        """
        step = self.vmax * self.expert.period
        prev = measured
        out = np.empty_like(chunk)
        for i, target in enumerate(np.clip(chunk, self.lower, self.upper)):
            lim = np.minimum(step, self.max_start_step) if i == 0 else step
            prev = prev + np.clip(target - prev, -lim, lim)
            out[i] = prev
        return out


def leader_mapping(robot: RobotModel, s: Mapping[str, Any]) -> LeaderArmMapping:
    """From leader_joints ([''] = the follower's names), leader_offsets ([0.0] = zeros), leader_signs ([1.0] = ones)."""
    names = [n for n in s["leader_joints"] if n] or list(robot.actuated_joints)
    offsets = [] if list(s["leader_offsets"]) == [0.0] else s["leader_offsets"]
    signs = [] if list(s["leader_signs"]) == [1.0] else s["leader_signs"]
    try:
        return LeaderArmMapping.from_config(robot, names, offsets, signs, s["limit_margin"])
    except LeaderArmError as exc:
        raise TeleopConfigError(f"leader arm mapping (leader_joints/leader_offsets/leader_signs): {exc}") from exc


def joy_mapping(s: Mapping[str, Any]) -> JoyMapping:
    try:
        return JoyMapping(
            tuple(int(a) for a in s["joy_axes"]), tuple(float(x) for x in s["joy_scales"]), s["joy_deadzone"],
            s["max_linear"], s["max_angular"], s["deadman_button"], s["gripper_open_button"],
            s["gripper_close_button"],
        )
    except JoyMappingError as exc:
        raise TeleopConfigError(f"joy mapping: {exc}") from exc


def make_source(robot: RobotModel, s: Mapping[str, Any]) -> TeleopSource:
    """The source ``s['source']`` names, from the teleop node's settings (wam_ros.params.teleop_node)."""
    source = s["source"]
    if source == "leader_arm":
        return LeaderArmSource(robot, leader_mapping(robot, s), s["velocity_fraction"], s["rate"], s["command_lead"],
                               s["input_timeout"], s["limit_margin"])
    if source == "joy":
        ik = DiffIK(robot, s["ik_damping"], s["limit_margin"], s["velocity_fraction"])
        integrator = TwistIntegrator(robot, ik, s["limit_margin"], s["gripper_speed"])
        return JoySource(robot, joy_mapping(s), integrator, s["velocity_fraction"], s["rate"], s["command_lead"],
                         s["input_timeout"])
    if source == "expert":
        from wam_ros.sim.scripted_expert import ScriptedExpert  # lazy: the sim's task model

        expert = ScriptedExpert(robot, horizon=s["expert_horizon"], period=s["expert_period"],
                                speed=s["expert_speed"])
        return ExpertSource(robot, expert, s["velocity_fraction"], s["expert_rate"], s["max_start_step"],
                            s["limit_margin"])
    raise TeleopConfigError(f"parameter 'source' = {source!r}: one of leader_arm, joy, expert")
