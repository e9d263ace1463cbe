"""The README's bring-up checklist, step by step, against the simulated arm.

The real-robot commands are `ros2 service call` / `ros2 param set` / `ros2 topic pub`;
ros2cli is not installable here, so this test makes the same calls with rclpy on the
same names: dry_run sends nothing, reduced speed scaling, arming, the e-stop topic
latching FAULT, releasing it and resetting. Real processes over real DDS.
"""

from __future__ import annotations

import pytest
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from ros_harness import wait_for
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from wam_ros.apps.graph import GraphOptions, sim_graph
from wam_ros.apps.graph_runner import GraphRunner
from wam_ros.robot.model import RobotModel
from wam_ros.ros.qos import LATCHED

pytestmark = pytest.mark.timeout(300)
SMALL_CAMERAS = {"sim_robot_node": {"cameras_enabled": False}}


def _arm(ros) -> bool:
    res = ros.try_call(Trigger, "/safety_bridge_node/arm")
    return bool(res and res.success)


def test_step4_dry_run_checks_everything_and_sends_nothing(ros, tmp_path):
    would_send = ros.collect(JointTrajectory, "/safety_bridge_node/would_send", 50)
    to_controller = ros.collect(JointTrajectory, "/arm_controller/joint_trajectory", 50)
    safety = ros.collect(String, "/wam/safety_state", LATCHED)
    joint_states = ros.collect(JointState, "/joint_states", 10)
    opts = GraphOptions(policy="expert", output="dry_run", extra_params=SMALL_CAMERAS)
    with GraphRunner(sim_graph(opts), log_dir=tmp_path, echo=None):
        wait_for(lambda: safety and safety[-1].data == "DISARMED", 90, period=0.2)
        # step 1: the names on /joint_states are the URDF's
        wait_for(lambda: joint_states, 30)
        assert set(RobotModel.load().actuated_joints) <= set(joint_states[-1].name)
        # re-armed if a late /joint_states trips the stale-state watchdog (ros_harness.arm_bridge)
        wait_for(lambda: ros.arm_bridge(safety) and len(would_send) > 20, 90, period=0.2)
    assert to_controller == [], "dry_run must not send to the controller"


def test_steps5_6_reduced_speed_arm_estop_release_reset(ros, tmp_path):
    to_controller = ros.collect(JointTrajectory, "/arm_controller/joint_trajectory", 50)
    safety = ros.collect(String, "/wam/safety_state", LATCHED)
    estop = ros.node.create_publisher(Bool, "/wam/estop", 10)
    opts = GraphOptions(policy="expert", output="jtc_topic", extra_params=SMALL_CAMERAS)
    with GraphRunner(sim_graph(opts), log_dir=tmp_path, echo=None) as runner:
        wait_for(lambda: safety and safety[-1].data == "DISARMED", 90, period=0.2)
        # step 5: ros2 param set /safety_bridge_node speed_scaling 0.1
        req = SetParameters.Request(
            parameters=[
                ParameterMsg(
                    name="speed_scaling", value=ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=0.1)
                )
            ]
        )
        assert ros.call(SetParameters, "/safety_bridge_node/set_parameters", req).results[0].successful
        req.parameters[0].value.double_value = 1.5  # out of range: refused, naming it
        res = ros.call(SetParameters, "/safety_bridge_node/set_parameters", req).results[0]
        assert not res.successful and "speed_scaling" in res.reason
        wait_for(lambda: _arm(ros), 30, period=0.5)
        wait_for(lambda: safety[-1].data == "ACTIVE", 30, period=0.1)
        wait_for(lambda: len(to_controller) > 10, 30)
        # step 6: ros2 topic pub --once /wam/estop std_msgs/msg/Bool "{data: true}"
        estop.publish(Bool(data=True))
        wait_for(lambda: safety[-1].data.startswith("FAULT"), 10, period=0.05)
        assert "e-stop" in safety[-1].data
        assert not _arm(ros), "arming must be refused while FAULT latches"
        res = ros.try_call(Trigger, "/safety_bridge_node/reset")
        assert res is not None and not res.success and "release" in res.message
        estop.publish(Bool(data=False))
        reset = "/safety_bridge_node/reset"
        wait_for(lambda: (r := ros.try_call(Trigger, reset)) is not None and r.success, 10, period=0.2)
        assert safety[-1].data == "DISARMED"
        wait_for(lambda: _arm(ros), 30, period=0.5)
        assert not runner.dead()
