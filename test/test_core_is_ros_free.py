"""The core is ROS-free (ARCHITECTURE.md): every module outside ``nodes/``, ``apps/`` and ``ros/``
imports with rclpy and every ROS message package made unimportable, and never names ``wam_ros.ros``."""

from __future__ import annotations

import ast
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import wam_ros

PACKAGE_DIR = Path(wam_ros.__file__).parent
GLUE_WINGS = ("nodes", "apps", "ros")
#: Modules that need a library which is absent here and optional everywhere (not ROS).
OPTIONAL = {"wam_ros.camera.realsense_source": "pyrealsense2"}


def _core_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages([str(PACKAGE_DIR)], "wam_ros."):
        wing = info.name.split(".")[1]
        if wing not in GLUE_WINGS:
            names.append(info.name)
    return sorted(names)


def test_there_is_a_core_to_check():
    names = _core_modules()
    assert "wam_ros.control.chunk_smoother" in names and "wam_ros.safety.supervisor" in names
    assert not any(n.startswith(("wam_ros.nodes", "wam_ros.ros", "wam_ros.apps")) for n in names)


def test_no_core_module_names_the_ros_glue():
    offenders = []
    for name in _core_modules():
        path = PACKAGE_DIR.joinpath(*name.split(".")[1:])
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                mods = [node.module]
            for mod in mods:
                if mod.split(".")[0] in ("rclpy", "launch", "launch_ros") or mod.startswith(
                    ("wam_ros.ros", "wam_ros.nodes", "wam_ros.apps")
                ) or mod.endswith(("_msgs.msg", "_msgs.srv", "_msgs.action")) or mod.split(".")[0].endswith("_msgs"):
                    offenders.append(f"{name} imports {mod}")
    assert offenders == []


BLOCKER = """
import importlib, importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in ("rclpy", "launch", "launch_ros", "rosidl_runtime_py") or top.endswith("_msgs"):
            raise ImportError(f"blocked ROS import: {name}")
        return None
sys.meta_path.insert(0, Block())
failed = []
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except ImportError as exc:
        failed.append(f"{name}: {exc}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_core_module_imports_without_rclpy():
    names = [n for n in _core_modules() if n not in OPTIONAL]
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-c", BLOCKER, *names], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


#: What the launch files and the real robot's nodes import: a real-robot install without MuJoCo must load them.
WITHOUT_SIMULATOR = [
    "wam_ros.apps.graph", "wam_ros.params.camera_node", "wam_ros.params.chunk_smoother_node",
    "wam_ros.params.episode_recorder_node", "wam_ros.params.expert_policy_node", "wam_ros.params.safety_bridge_node",
    "wam_ros.params.teleop_node", "wam_ros.params.wam_node", "wam_ros.sim.reach_task",
]


def test_the_graph_and_real_robot_parameters_import_without_the_simulator():
    code = ("import importlib, sys\nfor n in sys.argv[1:]: importlib.import_module(n)\n"
            "print(sorted(m for m in sys.modules if m == 'mujoco' or m.startswith('mujoco.')))")
    proc = subprocess.run([sys.executable, "-c", code, *WITHOUT_SIMULATOR], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", f"MuJoCo loaded by {WITHOUT_SIMULATOR}: {proc.stdout.strip()[:200]}"
