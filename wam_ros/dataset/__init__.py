"""Demonstration datasets in LeRobot's v3 layout, written with pyarrow and PyAV only.

``lerobot`` itself cannot be installed beside torch 2.13 (it pins torch<2.12), so
``writer`` produces the documented on-disk format (with LeRobot 0.6's statistics, see
``stats``) and ``reader`` loads and checks it, and datasets LeRobot wrote or aggregated.
"""

from wam_ros.dataset.lerobot_v3 import CODEBASE_VERSION, DatasetError, DatasetSpec
from wam_ros.dataset.reader import LeRobotDatasetReader
from wam_ros.dataset.writer import DiskFullError, FileIO, LeRobotDatasetWriter

__all__ = [
    "CODEBASE_VERSION",
    "DatasetError",
    "DatasetSpec",
    "DiskFullError",
    "FileIO",
    "LeRobotDatasetReader",
    "LeRobotDatasetWriter",
]
