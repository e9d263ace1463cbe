"""The parameter tables of ``docs/*.md``, generated from the one definition of each parameter.

A page marks where a table goes::

    <!-- BEGIN GENERATED parameters: chunk_smoother_node -->
    <!-- END GENERATED parameters: chunk_smoother_node -->

and ``python -m wam_ros.apps.param_docs`` rewrites what is between the markers;
``--check`` only reports stale tables (``test/test_parameter_sources.py`` runs it).
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Callable
from pathlib import Path

from wam_ros.params import Param, markdown_table
from wam_ros.params.robot import ROBOT_PARAMS

DOCS = Path(__file__).resolve().parent.parent.parent / "docs"
NODES = ("camera_node", "chunk_smoother_node", "episode_recorder_node", "expert_policy_node", "safety_bridge_node",
         "sim_robot_node", "teleop_node", "wam_node")  # fmt: skip
_ROBOT_NAMES = {p.name for p in ROBOT_PARAMS}
_MARK = re.compile(
    r"(<!-- BEGIN GENERATED parameters: (?P<key>[\w.<>]+) -->\n)(?P<body>.*?)"
    r"(<!-- END GENERATED parameters: (?P=key) -->)",
    re.S,
)


def node_params(node: str) -> list[Param]:
    """Node ``node``'s parameters (``wam_ros.params.<node>.PARAMS``)."""
    return list(importlib.import_module(f"wam_ros.params.{node}").PARAMS)


def _node_table(node: str) -> str:
    own = [p for p in node_params(node) if p.name not in _ROBOT_NAMES]
    robot = len(own) < len(node_params(node))
    note = "\n\nPlus the robot description parameters (table `robot` in docs/safety_bridge.md)." if robot else ""
    return markdown_table(own) + note


def _camera_table() -> str:
    from wam_ros.params.camera_node import CAMERA_PARAMS

    return markdown_table(CAMERA_PARAMS, read_only_column=False)


def _graph_table() -> str:
    from wam_ros.apps.graph import OPTIONS, option_arg

    rows = [
        Param(option_arg(name), p.default, p.description, p.range, p.choices) for name, p in OPTIONS.items()
    ]
    return (
        "Launch arguments (`ros2 launch wam_ros <graph>.launch.py name:=value`) and `wam-graph` options "
        "(`--name`, dashes for underscores), from `GraphOptions`:\n\n" + markdown_table(rows, read_only_column=False)
    )


def _remote_table() -> str:
    wanted = ("backend", "remote_url", "server_profile", "remote_response_timeout", "remote_connect_timeout",
              "remote_key_map", "remote_api_key_env", "action_horizon")
    return "wam_node parameters of the remote backend:\n\n" + markdown_table(
        [p for p in node_params("wam_node") if p.name in wanted]
    )


#: Table key -> generator.
TABLES: dict[str, Callable[[], str]] = {
    **{n: (lambda n=n: _node_table(n)) for n in NODES},
    "camera_node.<name>": _camera_table,
    "robot": lambda: markdown_table(ROBOT_PARAMS),
    "graph": _graph_table,
    "wam_node.remote": _remote_table,
}


def render(text: str) -> str:
    """``text`` with every marked table regenerated; KeyError names an unknown table key."""

    def table(m: re.Match) -> str:
        key = m.group("key")
        if key not in TABLES:
            raise KeyError(f"unknown parameter table '{key}' (known: {sorted(TABLES)})")
        return f"{m.group(1)}{TABLES[key]()}\n{m.group(4)}"

    return _MARK.sub(table, text)


def tables_in(text: str) -> list[str]:
    """The table keys marked in ``text``."""
    return [m.group("key") for m in _MARK.finditer(text)]


def stale_pages(docs: Path = DOCS) -> list[Path]:
    """Pages whose generated tables differ from the definitions."""
    return [p for p in sorted(docs.glob("*.md")) if render(p.read_text()) != p.read_text()]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m wam_ros.apps.param_docs", description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only report stale pages (exit 1 if any)")
    ap.add_argument("--docs", type=Path, default=DOCS)
    a = ap.parse_args(argv)
    stale = stale_pages(a.docs)
    if a.check:
        for p in stale:
            print(f"stale parameter table(s) in {p}; run python -m wam_ros.apps.param_docs")
        sys.exit(1 if stale else 0)
    for p in stale:
        p.write_text(render(p.read_text()))
        print(f"updated {p}")


if __name__ == "__main__":
    main()
