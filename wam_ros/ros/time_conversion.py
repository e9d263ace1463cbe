"""builtin_interfaces Time/Duration <-> float seconds (node-clock time)."""

from __future__ import annotations

from builtin_interfaces.msg import Duration, Time


def time_to_sec(t: Time) -> float:
    return float(t.sec) + float(t.nanosec) * 1e-9


def sec_to_time(s: float) -> Time:
    ns = round(s * 1e9)
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def duration_to_sec(d: Duration) -> float:
    return float(d.sec) + float(d.nanosec) * 1e-9


def sec_to_duration(s: float) -> Duration:
    ns = round(s * 1e9)
    return Duration(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)
