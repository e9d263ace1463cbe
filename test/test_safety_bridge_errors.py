"""safety_bridge_node fails closed when one of its own callbacks raises (issue 15).

GuardedNode catches every callback exception so no input can kill a node; the bridge's
``on_callback_error`` then latches FAULT and sends a hold, because a bridge whose
command, joint-state, e-stop or watchdog callback failed no longer knows what it is
doing. The node runs in this process (real rclpy, real DDS for its hold); the failure is
injected through the node's own guard, as an exception from any code reached by odd
input would arrive.
"""

from __future__ import annotations

import rclpy
from rclpy.context import Context
from sensor_msgs.msg import JointState

from wam_ros.robot.model import RobotModel

NAMES = RobotModel.load().actuated_joints


def test_a_callback_that_raises_latches_fault_and_holds():
    from wam_ros.nodes.safety_bridge_node import SafetyBridgeNode

    ctx = Context()
    rclpy.init(context=ctx)
    try:
        node = SafetyBridgeNode(context=ctx)
        sup = node.sup
        js = JointState(name=list(NAMES), position=[0.1, -0.3, 0.5, 0.0, 0.2, -0.1, 0.02])
        js.header.stamp = node.get_clock().now().to_msg()
        node._on_joint_states(js)
        assert node.sup.arm(node._now(), steady=node._steady()).ok

        def broken(msg):
            raise KeyError("unexpected input")

        node._guard("sub /joint_states", broken)(js)  # what rclpy calls for a subscription
        assert sup.label == "FAULT(internal error in sub /joint_states: KeyError: 'unexpected input')"
        assert sup.counts["hold"] == 1, "a hold at the measured position was sent"
        assert node.callback_errors == {"sub /joint_states": 1}
        # a service that raises only answers with its default response: nothing to fail closed on
        assert sup.reset(node._now()).ok
        node._guard("srv ~/arm", broken, service=True)(None, "response")
        assert sup.label == "DISARMED"
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=ctx)
