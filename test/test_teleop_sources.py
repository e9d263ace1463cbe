"""The teleop sources behind one interface (wam_ros.teleop.sources), without ROS."""

from __future__ import annotations

import numpy as np
import pytest

from wam_ros.params import teleop_node as teleop_params
from wam_ros.robot.model import RobotModel
from wam_ros.teleop.sources import (
    ExpertSource,
    JoySource,
    LeaderArmSource,
    TeleopConfigError,
    TeleopSource,
    make_source,
)

ROBOT = RobotModel.load()
JOINTS = ROBOT.actuated_joints
Q0 = np.array([0.0, 0.4, 1.0, 0.0, 1.2, 0.0, 0.01])
DEFAULTS = {p.name: p.default for p in teleop_params.PARAMS}


def settings(**kw):
    return {**DEFAULTS, **kw}


@pytest.mark.parametrize("source, cls", [("leader_arm", LeaderArmSource), ("joy", JoySource),
                                         ("expert", ExpertSource)])
def test_make_source_builds_each_kind_behind_one_interface(source, cls):
    src = make_source(ROBOT, settings(source=source))
    assert isinstance(src, cls) and isinstance(src, TeleopSource)
    out = src.tick(0.0, None)  # no input, no joint state: nothing to send
    assert out.command is None
    period = 1.0 / (DEFAULTS["expert_rate"] if source == "expert" else DEFAULTS["rate"])
    assert src.period == pytest.approx(period)


def test_bad_mappings_are_refused_naming_the_settings():
    with pytest.raises(TeleopConfigError, match="leader_joints/leader_offsets/leader_signs"):
        make_source(ROBOT, settings(source="leader_arm", leader_joints=["a", "b"]))
    with pytest.raises(TeleopConfigError, match="joy mapping"):
        make_source(ROBOT, settings(source="joy", joy_axes=[0, 1]))
    with pytest.raises(TeleopConfigError, match="'source'"):
        make_source(ROBOT, settings(source="telepathy"))


def test_leader_is_approached_rate_limited_and_stale_input_stops_commanding():
    src = make_source(ROBOT, settings(source="leader_arm"))
    target = Q0 + np.array([0.5, -0.5, 0.3, 0.0, 0.0, 0.0, 0.0])
    src.feed(0.0, JOINTS, target)
    step = ROBOT.limits()["velocity"] * DEFAULTS["velocity_fraction"] / DEFAULTS["rate"]
    q, t = Q0, 0.0
    for _ in range(5):
        t += src.period
        out = src.tick(min(t, 0.2), Q0)  # the measured state lags: the reference integrates from itself
        p = out.command.positions[0]
        assert np.all(np.abs(p - q) <= step + 1e-12) and out.deadman is None
        assert out.command.joint_names == JOINTS and out.command.times[0] == DEFAULTS["command_lead"]
        q = p
    assert src.tick(10.0, Q0).command is None and src.reference is None  # stale: nothing, re-anchored


def test_leader_beyond_a_limit_is_clipped_and_said():
    src = make_source(ROBOT, settings(source="leader_arm"))
    far = Q0.copy()
    far[0] = 100.0
    src.feed(0.0, JOINTS, far)
    assert "clipped" in src.last_error and JOINTS[0] in src.last_error
    src.feed(0.0, JOINTS[:3], Q0[:3])
    assert src.last_error  # a partial leader message is refused, named


def test_joy_moves_only_with_the_deadman_and_sends_the_heartbeat():
    src = make_source(ROBOT, settings(source="joy"))
    axes = [0.0] * 8
    axes[1] = 1.0  # vx
    buttons = [0] * 8
    src.feed(0.0, axes, buttons)
    out = src.tick(0.01, Q0)
    assert out.command is None and out.deadman is False
    buttons[DEFAULTS["deadman_button"]] = 1
    src.feed(0.02, axes, buttons)
    out = src.tick(0.03, Q0)
    assert out.deadman is True and out.command.num_points == 1
    ee0, ee1 = ROBOT.fk(Q0[:6])[:3, 3], ROBOT.fk(out.command.positions[0][:6])[:3, 3]
    assert ee1[0] > ee0[0]  # +x
    assert src.tick(5.0, Q0).deadman is False  # stale joy: deadman released


def test_joy_speed_limits_change_at_run_time():
    src = make_source(ROBOT, settings(source="joy"))
    src.set_param("max_linear", 0.02)
    assert src.mapping.max_linear == 0.02 and src.mapping.max_angular == DEFAULTS["max_angular"]


class FixedExpert:
    period = 0.1

    def __init__(self, chunk):
        self.chunk = chunk

    def act(self, scene, q):
        if "objects" not in scene:
            raise KeyError("objects")
        return self.chunk


def test_expert_chunk_is_limited_from_the_measured_state():
    far = np.tile(Q0 + 1.0, (4, 1))
    src = ExpertSource(ROBOT, FixedExpert(far), velocity_fraction=0.5, rate=5.0, max_start_step=0.05,
                       limit_margin=0.05)
    assert src.tick(0.0, Q0).command is None  # no scene yet
    src.feed(0.0, {"objects": {}})
    traj = src.tick(1.0, Q0).command
    assert traj.stamp == 1.0 and np.allclose(traj.times, [0.1, 0.2, 0.3, 0.4])
    assert np.all(np.abs(traj.positions[0] - Q0) <= 0.05 + 1e-12)
    step = ROBOT.limits()["velocity"] * 0.5 * 0.1
    assert np.all(np.abs(np.diff(traj.positions, axis=0)) <= step + 1e-12)
    assert np.all(traj.positions <= src.upper + 1e-12)
    src.set_param("velocity_fraction", 0.1)
    traj = src.tick(2.0, Q0).command
    assert np.all(np.abs(np.diff(traj.positions, axis=0)) <= step / 5 + 1e-12)


def test_expert_stops_at_success_and_names_an_unusable_scene():
    src = ExpertSource(ROBOT, FixedExpert(np.tile(Q0, (2, 1))), 0.5, 5.0, 0.05, 0.05)
    src.feed(0.0, {"objects": {}, "success": True})
    assert src.tick(0.0, Q0).command is None
    src.feed(0.0, {"target": "red"})
    assert src.tick(0.0, Q0).command is None and "cannot plan" in src.last_error


def test_the_real_expert_plans_from_a_scene():
    src = make_source(ROBOT, settings(source="expert"))
    src.feed(0.0, {"objects": {"red": [0.5, 0.1, 0.02]}, "target": "red"})
    traj = src.tick(0.0, Q0).command
    assert traj.num_points == DEFAULTS["expert_horizon"] and np.all(np.isfinite(traj.positions))
