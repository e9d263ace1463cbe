"""Thin ROS 2 glue: message conversion, parameter declaration, diagnostics, QoS.

Only this subpackage and ``wam_ros.nodes`` import rclpy or message types.
"""
