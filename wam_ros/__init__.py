"""wam_ros: drive a robot arm with a World-Action Model (WAM) over ROS 2.

Core modules (everything directly under ``wam_ros``) are ROS-free; ``wam_ros.ros``
holds the thin message/parameter glue and ``wam_ros.nodes`` the executables.
"""

__version__ = "0.1.0"
