"""chunk_smoother_node's parameters (the node: ``wam_ros.nodes.chunk_smoother_node``).

``TUNING``: the smoother's own settings, defined with their ranges and choices as
``SmootherConfig`` fields and mapped 1:1 onto dynamic parameters of the same name
(``dt`` is not one: it is ``1 / publish_rate``).
"""

from __future__ import annotations

from wam_ros.control.chunk_smoother import SmootherConfig
from wam_ros.params import Param, params_of
from wam_ros.params.robot import ROBOT_PARAMS

TUNING: list[Param] = params_of(SmootherConfig, exclude=("dt",))

OUTPUT_MODES = ("trajectory", "stream")

PARAMS: list[Param] = [
    *ROBOT_PARAMS,
    *TUNING,
    Param("output_mode", OUTPUT_MODES[0],
          "trajectory: look-ahead points with pos/vel/acc; stream: one point per tick", choices=OUTPUT_MODES,
          dynamic=True),
    Param("publish_rate", 100.0, "command rate and filter tick [Hz]", range=(1.0, 500.0)),
    Param("lookahead_time", 0.1, "trajectory mode: seconds of look-ahead", range=(0.0, 2.0), dynamic=True),
    Param("lookahead_points", 6, "trajectory mode: number of points (the first command_lead after the stamp)",
          range=(1, 100), dynamic=True),
    Param("command_lead", 0.05, "first point this long after the stamp (publish time) [s]: delivery latency + "
          "the bridge's point spacing", range=(0.0, 1.0), dynamic=True),
    Param("require_armed", False, "publish only after the safety state was ARMED/ACTIVE (else: until told not)"),
    Param("diagnostics_period", 1.0, "seconds between /diagnostics reports", range=(0.05, 60.0)),
    Param("policy_warn_after", 2.0, "ARMED/ACTIVE without any chunk this long [s]: WARN", range=(0.1, 600.0)),
    Param("policy_error_after", 5.0, "... this long [s]: ERROR (>= policy_warn_after)", range=(0.1, 600.0)),
]
