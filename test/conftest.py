"""Test-wide setup: DDS isolated to loopback and a private domain for this run."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Before anything imports rclpy: traffic stays on this machine, and this pytest run
# gets its own domain so parallel runs never see each other's topics.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(REPO / "config" / "fastdds.xml"))
os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
os.environ.setdefault("PYTHONUNBUFFERED", "1")


@pytest.fixture
def ros():
    """A spinning rclpy probe node over real DDS (see test/ros_harness.py)."""
    from ros_harness import RosTestNode

    probe = RosTestNode()
    yield probe
    probe.close()


# --------------------------------------------------------------------------- tiers
# `pytest -m "not ros"` is the fast core tier (no DDS, no node processes, no sim episodes).
# A module is in the `ros` tier when it talks DDS or starts processes: found from what it
# imports or starts, so a new test file is tiered without anyone remembering a marker.
_ROS_SIGNS = ("import rclpy", "from rclpy", "ros_harness", "NodeProcess", "GraphRunner", "wam_ros.ros.",
              "wam_ros.nodes", "_msgs.msg import", "_msgs.srv import", "subprocess.Popen")


@functools.cache
def _module_is_ros(path: Path) -> bool:
    try:
        src = path.read_text()
    except OSError:
        return False
    return any(sign in src for sign in _ROS_SIGNS)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "ros" in getattr(item, "fixturenames", ()) or _module_is_ros(Path(str(item.fspath))):
            item.add_marker(pytest.mark.ros)
