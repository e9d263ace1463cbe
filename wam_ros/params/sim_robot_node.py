"""sim_robot_node's parameters (the node: ``wam_ros.nodes.sim_robot_node``).

The task settings are ``TaskConfig``'s (``wam_ros.sim.reach_task``); the cameras are
the simulated arm's (``wam_ros.sim.mujoco_arm.CAMERAS``).
"""

from __future__ import annotations

from wam_ros.params import Param
from wam_ros.params.robot import ROBOT_PARAMS
from wam_ros.sim.disturbances import KINDS as DISTURBANCES
from wam_ros.sim.reach_task import TaskConfig
from wam_ros.sim.scene import CAMERAS, CUBE_NAMES
from wam_ros.sim.sim_env import CONTROL_PERIOD

PARAMS: list[Param] = [
    *ROBOT_PARAMS,
    Param("joint_state_rate", 100.0, "Hz of /joint_states and /clock (simulation time)", range=(10.0, 1000.0)),
    Param("control_period", CONTROL_PERIOD, "s between servo target updates (ros2_control update period)",
          range=(0.002, 0.02)),
    Param("real_time_factor", 1.0, "simulated seconds per wall second; 0 = as fast as possible (data generation)",
          range=(0.0, 100.0), dynamic=True),
    Param("publish_clock", True, "publish /clock (sim time) so the graph can run with use_sim_time"),
    Param("cameras_enabled", True, "render and publish the cameras (false: no rendering cost at all)"),
    Param("cameras", list(CAMERAS), "cameras to render (subset of " + ", ".join(CAMERAS) + ")"),
    Param("camera_rate", 15.0, "Hz of rendered frames in simulation time; 0 disables", range=(0.0, 60.0)),
    Param("image_width", 160, "rendered image width (px)", range=(16, 640)),
    Param("image_height", 120, "rendered image height (px)", range=(16, 480)),
    Param("seed", 0, "base seed: episode k after a change of seed uses seed + k (0 = the first)",
          range=(0, 2**31 - 1), dynamic=True),
    Param("targets_per_layout", TaskConfig.targets_per_layout,
          "k consecutive seeds share a cube layout and name k different cubes "
          "(data collection: 3 shows every layout with every target; evaluation: 1)", range=(1, len(CUBE_NAMES))),
    Param("publish_instruction", True, "publish each episode's instruction on wam/instruction at reset"),
    Param("scene_state_rate", 10.0, "Hz of sim/scene_state re-publication", range=(1.0, 100.0)),
    Param("disturbance", "none", "inject a disturbance now, for testing what notices it (wam_ros.sim.disturbances: "
          "the episode's target cube moved or removed, the arm blocked, a heavy payload, the first camera occluded "
          "or frozen); it stays in force, across resets, until set back to none", choices=("none", *DISTURBANCES),
          dynamic=True),
]
