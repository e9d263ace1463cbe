"""wam_ros: drive a robot arm with a World-Action Model (WAM) over ROS 2.

The package is laid out in wings that name the architecture. The core wings are
ROS-free (robot, control, safety, policies, remote, tiny_wam, camera, dataset, sim,
teleop, visualization); ``wam_ros.ros`` holds the thin message/parameter glue, and only
``wam_ros.nodes`` (the executables) and ``wam_ros.apps`` (command-line tools) use it
(test/test_core_is_ros_free.py).
"""

__version__ = "0.1.0"
