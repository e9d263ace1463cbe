"""expert_policy_node's parameters (the node: ``wam_ros.nodes.expert_policy_node``).

Horizon, action period and speed are the scripted expert's own defaults
(``wam_ros.sim.scripted_expert``), so ``ros2 run`` and ``ros2 launch`` behave alike.
"""

from __future__ import annotations

from wam_ros.params import Param
from wam_ros.params.robot import ROBOT_PARAMS
from wam_ros.sim.scripted_expert import DEFAULT_HORIZON, DEFAULT_PERIOD, DEFAULT_SPEED

PARAMS: list[Param] = [
    *ROBOT_PARAMS,
    Param("horizon", DEFAULT_HORIZON, "actions per chunk", range=(1, 256)),
    Param("action_period", DEFAULT_PERIOD, "s between consecutive actions of a chunk", range=(0.01, 1.0)),
    Param("inference_period", 0.4, "s between chunks (node clock)", range=(0.02, 10.0)),
    Param("extra_latency", 0.0, "s added before publishing each chunk (imitates a slow policy)", range=(0.0, 10.0),
          dynamic=True),
    Param("speed", DEFAULT_SPEED, "end-effector speed of the expert (m/s)", range=(0.01, 1.0)),
    Param("max_state_age", 0.5, "s: skip a cycle when the newest joint state is older than this", range=(0.01, 10.0)),
]
