"""Teleoperation cores (ROS-free): leader-arm mapping, differential IK, gamepad and keyboard mappings."""
