"""QoS profiles, one per kind of traffic, so publishers and subscribers agree."""

from __future__ import annotations

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

#: Camera images and joint states: newest sample wins (rclpy's sensor-data profile).
SENSOR = qos_profile_sensor_data

#: Commands and chunks: every message matters, only the newest few are useful.
COMMAND = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)

#: State that late joiners must see (safety state, robot description).
LATCHED = QoSProfile(
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
    history=HistoryPolicy.KEEP_LAST,
)
