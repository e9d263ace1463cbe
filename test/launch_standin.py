"""A recording stand-in for the ROS 2 launch system, which cannot be installed here.

launch / launch_ros are not available as wheels, so the launch files are executed
against these classes. Each one accepts exactly the keyword arguments of the real
Jazzy API it stands for (anything else raises TypeError, as the real one would) and
records what it was given; nothing is started. Real bring-up of the same graphs is
tested through the plain-process runner, which shares the graph description.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any


class _Recorded:
    ALLOWED: tuple[str, ...] = ()
    POSITIONAL: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(self.POSITIONAL):
            raise TypeError(f"{type(self).__name__} takes at most {len(self.POSITIONAL)} positional arguments")
        kwargs.update(dict(zip(self.POSITIONAL, args)))
        unknown = set(kwargs) - set(self.ALLOWED) - set(self.POSITIONAL)
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s) {sorted(unknown)}")
        self.kwargs = kwargs


class LaunchDescription(_Recorded):
    POSITIONAL = ("initial_entities",)
    ALLOWED = ("deprecated_reason",)


class DeclareLaunchArgument(_Recorded):
    POSITIONAL = ("name",)
    ALLOWED = ("default_value", "description", "choices")


class OpaqueFunction(_Recorded):
    POSITIONAL = ("function",)
    ALLOWED = ("args", "kwargs")


class IncludeLaunchDescription(_Recorded):
    POSITIONAL = ("launch_description_source",)
    ALLOWED = ("launch_arguments", "condition")


class LaunchConfiguration(_Recorded):
    POSITIONAL = ("variable_name",)
    ALLOWED = ("default",)


class Node(_Recorded):
    # launch_ros.actions.Node: its own keywords plus ExecuteProcess's (output, emulate_tty, ...).
    ALLOWED = (
        "executable", "package", "name", "namespace", "exec_name", "parameters", "remappings",
        "ros_arguments", "arguments", "output", "emulate_tty", "respawn", "respawn_delay", "condition",
        "additional_env", "prefix", "sigterm_timeout", "sigkill_timeout",
    )  # fmt: skip


class LaunchContextStandIn:
    def __init__(self, configurations: dict[str, str]) -> None:
        self.launch_configurations = dict(configurations)


def _module(name: str, **attrs: Any) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    return mod


def install() -> None:
    """Register the stand-in modules (only where the real ones are missing)."""
    try:
        import launch_ros  # noqa: F401

        import launch  # noqa: F401

        return  # a real ROS 2 install: nothing to stand in for
    except ImportError:
        pass
    sys.modules["launch"] = _module("launch", LaunchDescription=LaunchDescription)
    sys.modules["launch.actions"] = _module(
        "launch.actions",
        DeclareLaunchArgument=DeclareLaunchArgument,
        OpaqueFunction=OpaqueFunction,
        IncludeLaunchDescription=IncludeLaunchDescription,
    )
    sys.modules["launch.substitutions"] = _module("launch.substitutions", LaunchConfiguration=LaunchConfiguration)
    sys.modules["launch_ros"] = _module("launch_ros")
    sys.modules["launch_ros.actions"] = _module("launch_ros.actions", Node=Node)


def run_launch_file(path: Path, arguments: dict[str, str] | None = None) -> tuple[dict[str, str], list[Node]]:
    """Execute a launch file: returns its declared argument defaults and the Nodes it makes."""
    install()
    spec = importlib.util.spec_from_file_location(f"launch_file_{path.stem.replace('.', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ld = module.generate_launch_description()
    entities = ld.kwargs["initial_entities"]
    declared = {
        e.kwargs["name"]: e.kwargs.get("default_value", "") for e in entities if isinstance(e, DeclareLaunchArgument)
    }
    unknown = set(arguments or {}) - set(declared)
    if unknown:
        raise KeyError(f"{path.name} does not declare argument(s) {sorted(unknown)}")
    context = LaunchContextStandIn({**declared, **(arguments or {})})
    nodes: list[Node] = []
    for e in entities:
        if isinstance(e, OpaqueFunction):
            nodes += [a for a in e.kwargs["function"](context) if isinstance(a, Node)]
    return declared, nodes
