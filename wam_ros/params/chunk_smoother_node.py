"""chunk_smoother_node's parameters (the node: ``wam_ros.nodes.chunk_smoother_node``).

``TUNING``: the smoother's own settings, mapped 1:1 onto parameters of the same name
(all dynamic); their defaults are ``SmootherConfig``'s.
"""

from __future__ import annotations

from wam_ros.control.chunk_blending import MASKS, STRATEGIES
from wam_ros.control.chunk_smoother import GRIPPER_MODES, SmootherConfig
from wam_ros.params import Param
from wam_ros.params.robot import ROBOT_PARAMS

_C = SmootherConfig

TUNING: list[Param] = [
    Param("strategy", _C.strategy, "chunk blending strategy", choices=STRATEGIES, dynamic=True),
    Param("ensemble_k", _C.ensemble_k, "temporal_ensemble: weight exp(-k*i), i=0 for the oldest chunk",
          range=(-10.0, 10.0), dynamic=True),
    Param("blend_horizon", _C.blend_horizon, "rtc_blend: seconds over which the plan moves from old to new chunk",
          range=(0.0, 10.0), dynamic=True),
    Param("blend_mask", _C.blend_mask, "rtc_blend: soft mask shape", choices=MASKS, dynamic=True),
    Param("commit_time", _C.commit_time, "rtc_blend: seconds after arrival kept frozen to the current plan",
          range=(0.0, 5.0), dynamic=True),
    Param("gripper_mode", _C.gripper_mode, "gripper joints: follow the chunk, or snap open/closed",
          choices=GRIPPER_MODES, dynamic=True),
    Param("gripper_threshold", _C.gripper_threshold, "binary gripper: fraction of the range above which it opens",
          range=(0.0, 1.0), dynamic=True),
    Param("track_lookahead", _C.track_lookahead,
          "filter intercepts the plan this far ahead [s] (0: chase it time-optimally)", range=(0.0, 2.0),
          dynamic=True),
    Param("smoothing_window", _C.smoothing_window, "triangular smoothing of the plan [s], at most track_lookahead",
          range=(0.0, 2.0), dynamic=True),
    Param("max_chunk_age", _C.max_chunk_age, "chunks older than this [s] at arrival are rejected", range=(0.0, 60.0),
          dynamic=True),
    Param("chunk_timeout", _C.chunk_timeout,
          "brake to rest after this long [s] without a chunk (0: hold the last step)", range=(0.0, 600.0),
          dynamic=True),
]

OUTPUT_MODES = ("trajectory", "stream")

PARAMS: list[Param] = [
    *ROBOT_PARAMS,
    *TUNING,
    Param("output_mode", OUTPUT_MODES[0],
          "trajectory: look-ahead points with pos/vel/acc; stream: one point per tick", choices=OUTPUT_MODES,
          dynamic=True),
    Param("publish_rate", 100.0, "command rate and filter tick [Hz]", range=(1.0, 500.0)),
    Param("lookahead_time", 0.1, "trajectory mode: seconds of look-ahead", range=(0.0, 2.0), dynamic=True),
    Param("lookahead_points", 6, "trajectory mode: number of points (the current reference first)",
          range=(1, 100), dynamic=True),
    Param("require_armed", False, "publish only after the safety state was ARMED/ACTIVE (else: until told not)"),
    Param("diagnostics_period", 1.0, "seconds between /diagnostics reports", range=(0.05, 60.0)),
]
