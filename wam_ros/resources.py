"""Locate the package's data files (urdf/, config/, launch/, checkpoints/).

On a colcon install they live in ``share/wam_ros`` (found through the ament index);
in a source checkout / editable install they live next to the ``wam_ros`` package.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = "wam_ros"
#: The bundled TinyWAM checkpoint (relative to the package share dir): the default of every tool that loads one.
DEFAULT_CHECKPOINT = "checkpoints/tiny_wam"
_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def share_dir() -> Path:
    """The directory holding urdf/, config/, launch/ for this installation."""
    env = os.environ.get("WAM_ROS_SHARE")
    if env:
        return Path(env)
    if (_SOURCE_ROOT / "package.xml").is_file():
        return _SOURCE_ROOT
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE))
    except Exception:
        return _SOURCE_ROOT


def share_path(*parts: str) -> Path:
    """Path of a data file, e.g. ``share_path("urdf", "wam_arm.urdf")``."""
    return share_dir().joinpath(*parts)


def resolve(path: str | os.PathLike[str]) -> Path:
    """Resolve a user-given path: absolute, relative to cwd, or relative to share/."""
    p = Path(path).expanduser()
    if p.is_absolute() or p.exists():
        return p
    candidate = share_dir() / p
    return candidate if candidate.exists() else p
