"""Test-wide setup: DDS isolated to loopback and a private domain for this run."""

from __future__ import annotations

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
