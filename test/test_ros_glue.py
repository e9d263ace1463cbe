"""ROS glue over real rclpy: parameter specs, trajectory conversion across DDS."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import rclpy
from rclpy.parameter import Parameter
from ros_harness import wait_for
from trajectory_msgs.msg import JointTrajectory

from wam_ros.robot.trajectory import Trajectory
from wam_ros.ros.parameters import Param, ParameterError, declare_params
from wam_ros.ros.trajectory_conversion import trajectory_from_msg, trajectory_to_msg

SPECS = [
    Param("rate", 100.0, "publish rate [Hz]", range=(1.0, 500.0), dynamic=True),
    Param("mode", "stream", "output mode", choices=("stream", "trajectory"), dynamic=True),
    Param("joints", ["a", "b"], "joint names"),
]


def _node_with(ros, name, overrides):
    return rclpy.create_node(
        name, context=ros.context, parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()]
    )


def test_declare_params_accepts_defaults_and_guards_runtime_changes(ros):
    node = _node_with(ros, "p_ok", {})
    changed = []
    values = declare_params(node, SPECS, on_change=lambda n, v: changed.append((n, v)))
    assert values == {"rate": 100.0, "mode": "stream", "joints": ["a", "b"]}
    res = node.set_parameters([Parameter("rate", value=1000.0)])[0]
    assert not res.successful and "rate" in res.reason
    res = node.set_parameters([Parameter("mode", value="bogus")])[0]
    assert not res.successful and "mode" in res.reason
    assert node.set_parameters([Parameter("mode", value="trajectory")])[0].successful
    assert changed == [("mode", "trajectory")]
    node.destroy_node()


@pytest.mark.parametrize(("overrides", "needle"), [({"rate": 0.5}, "rate"), ({"mode": "x"}, "mode")])
def test_bad_value_at_start_names_parameter(ros, overrides, needle):
    node = _node_with(ros, "p_bad", overrides)
    with pytest.raises(ParameterError, match=needle):
        declare_params(node, SPECS)
    node.destroy_node()


def test_trajectory_round_trip_over_dds(ros):
    received = ros.collect(JointTrajectory, "/glue_test/traj")
    pub = ros.node.create_publisher(JointTrajectory, "/glue_test/traj", 10)
    traj = Trajectory(12.5, ("j1", "j2"), [0.1, 0.2], [[1, 2], [3, 4]], velocities=[[0, 0], [1, 1]])
    wait_for(lambda: pub.get_subscription_count() > 0, 5)
    pub.publish(trajectory_to_msg(traj))
    wait_for(lambda: received, 5)
    back = trajectory_from_msg(received[0])
    assert back.stamp == pytest.approx(12.5) and back.joint_names == ("j1", "j2")
    np.testing.assert_allclose(back.positions, traj.positions)
    np.testing.assert_allclose(back.velocities, traj.velocities)
    assert back.accelerations is None


def test_an_unanswered_request_is_sent_again_only_when_the_caller_allows_it(ros):
    """BackgroundNode.call resends after ``resend_after`` (a response Fast DDS dropped while the client's
    reader was still matching): a server that never answers its first request stands in for the lost
    response; the second request gets the answer. With ``resend_after=None`` the call sends once."""
    from rclpy.callback_groups import ReentrantCallbackGroup
    from rclpy.executors import MultiThreadedExecutor
    from std_srvs.srv import Trigger

    from wam_ros.ros.background_node import BackgroundNode

    context = rclpy.Context()
    rclpy.init(context=context)
    server = rclpy.create_node("resend_server", context=context)
    seen: list[float] = []
    release = threading.Event()

    def on_call(request, response):
        seen.append(len(seen))
        if len(seen) == 1:
            release.wait(15.0)  # the first response "is lost": it comes far too late
        response.success, response.message = True, f"answer to request {len(seen)}"
        return response

    server.create_service(Trigger, "/resend_test/trigger", on_call, callback_group=ReentrantCallbackGroup())
    executor = MultiThreadedExecutor(num_threads=3, context=context)
    executor.add_node(server)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        res = BackgroundNode.call(ros, Trigger, "/resend_test/trigger", timeout=10.0, resend_after=0.5)
        assert res is not None and res.message == "answer to request 2" and len(seen) == 2
        release.set()
        seen.clear()
        release.clear()
        assert BackgroundNode.call(ros, Trigger, "/resend_test/trigger", timeout=1.5, resend_after=None) is None
        assert len(seen) == 1
    finally:
        release.set()
        executor.shutdown(timeout_sec=2.0)
        server.destroy_node()
        rclpy.try_shutdown(context=context)


def test_a_sim_reset_whose_answer_is_lost_is_judged_by_the_scene_it_reports(monkeypatch):
    """StackCommander.new_episode sends the sim reset once (a second would skip a seed). Stand-ins here,
    because no real node can be made to lose its answer: a sim whose reset publishes the new scene but
    answers too late (as a response Fast DDS dropped), and a bridge whose Trigger services say yes."""
    import json

    from rclpy.callback_groups import ReentrantCallbackGroup
    from rclpy.executors import MultiThreadedExecutor
    from std_msgs.msg import String
    from std_srvs.srv import Trigger

    from wam_ros.ros import stack_commander
    from wam_ros.ros.qos import LATCHED
    from wam_ros.ros.stack_commander import StackCommander

    monkeypatch.setattr(stack_commander, "SIM_RESET_ANSWER", 1.0)
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("standin_graph", context=context)
    group = ReentrantCallbackGroup()
    scene = node.create_publisher(String, "/standin/sim/scene_state", LATCHED)
    state = node.create_publisher(String, "/wam/safety_state", LATCHED)
    resets: list[int] = []
    release = threading.Event()

    def on_reset(request, response):
        resets.append(len(resets) + 1)
        scene.publish(String(data=json.dumps({"episode": len(resets), "seed": 1000 + len(resets)})))
        release.wait(10.0)  # the answer comes far too late
        response.success = True
        return response

    def yes(request, response):
        response.success, response.message = True, "ok"
        return response

    node.create_service(Trigger, "/standin_sim/reset", on_reset, callback_group=group)
    for svc in ("arm", "disarm", "reset"):
        node.create_service(Trigger, f"/standin_bridge/{svc}", yes, callback_group=group)
    executor = MultiThreadedExecutor(num_threads=4, context=context)
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    scene.publish(String(data=json.dumps({"episode": 0, "seed": 1000})))
    state.publish(String(data="DISARMED"))
    cmd = StackCommander("glue_commander", bridge="/standin_bridge", sim="/standin_sim")
    try:
        cmd.node.create_subscription(String, "/standin/sim/scene_state", cmd._on_scene, LATCHED)
        wait_for(lambda: cmd.scene.get("episode") == 0, 10)
        assert cmd.new_episode(timeout=8.0)["episode"] == 1
        assert resets == [1]  # sent once, not resent
    finally:
        release.set()
        cmd.close()
        executor.shutdown(timeout_sec=2.0)
        node.destroy_node()
        rclpy.try_shutdown(context=context)
