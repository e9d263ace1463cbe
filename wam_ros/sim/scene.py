"""The simulated scene's facts: the three cubes and the table, without MuJoCo.

The reach task, the sim node's parameters and the launch-time graph read these; only
``mujoco_arm`` builds them into a model, so importing the task or a node's parameter
definitions never loads the physics engine (a real-robot install need not have it).
"""

from __future__ import annotations

from wam_ros.camera.config import DEFAULT_CAMERAS

CUBE_NAMES = ("red_cube", "green_cube", "blue_cube")
CUBE_RGBA = {"red_cube": (0.85, 0.1, 0.1, 1), "green_cube": (0.1, 0.7, 0.15, 1), "blue_cube": (0.1, 0.2, 0.85, 1)}
CUBE_SIZE = 0.04
CAMERAS = DEFAULT_CAMERAS
TABLE_TOP_Z = 0.0  # the arm base stands on the table top
