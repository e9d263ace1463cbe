"""Parameters defined once (ROS-free): every node's and graph's settings, and the machinery.

A setting is a ``Param``: name, default (its type), description, range, choices and
whether it may change at run time. Each node's list lives in ``wam_ros.params.<node>``
(mirroring ``wam_ros.nodes.<node>``); where a core object already owns the setting
(``SmootherConfig``, ``SafetyConfig``, ``ScriptedExpert``, ...), the node's ``Param``
takes its default from it, or the core dataclass carries the whole definition as field
metadata (``param(...)``) and ``params_of`` turns its fields into ``Param`` values.

From that one definition come: the ROS declarations with descriptors and run-time
guards (``wam_ros.ros.parameters.declare_params``), validation of core configs
(``check_fields``, instead of ranges typed again in a ``validated()``), the parameter
tables in ``docs/*.md`` (``wam_ros.apps.param_docs``), and the launch arguments and CLI
options (``wam_ros.apps.graph.GraphOptions``). ``test/test_parameter_sources.py``
fails when a default, range or choice list is typed a second time.
"""

from __future__ import annotations

import copy
import math
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

#: Key of the parameter definition in a dataclass field's metadata.
PARAM_KEY = "wam_ros.param"


class ParameterError(ValueError):
    """A parameter value was refused; the message names the parameter."""


@dataclass(frozen=True)
class Param:
    """One setting: its default gives the type; ``range`` is inclusive; not ``dynamic`` = read-only."""

    name: str
    default: Any
    description: str
    range: tuple[float, float] | None = None  # inclusive; for a list default: every element
    choices: tuple[str, ...] | None = None
    dynamic: bool = False  # may be changed at run time (otherwise read-only)

    def check(self, value: Any) -> None:
        """Raise ParameterError when ``value`` is outside the declared range/choices."""
        if self.choices is not None and value not in self.choices:
            raise ParameterError(f"parameter '{self.name}' = {value!r}: must be one of {list(self.choices)}")
        if self.range is not None:
            values = value if isinstance(value, (list, tuple)) else [value]
            lo, hi = self.range
            for v in values:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v) or not lo <= v <= hi:
                    raise ParameterError(f"parameter '{self.name}' = {value!r}: must be within [{lo}, {hi}]")

    @property
    def constraint(self) -> str:
        """The range or choices as text ('' when unconstrained), for descriptors and docs."""
        if self.choices is not None:
            return "one of " + ", ".join(self.choices)
        if self.range is not None:
            return f"[{self.range[0]:g}, {self.range[1]:g}]"
        return ""


def param(
    default: Any,
    description: str,
    *,
    range: tuple[float, float] | None = None,
    choices: tuple[str, ...] | None = None,
    dynamic: bool = False,
    **extra: Any,
) -> Any:
    """A dataclass field that carries its parameter definition (lerobot-style config fields).

    ``extra`` is kept in the metadata for the owner (e.g. ``arg=`` for a launch argument name).
    """
    meta = {PARAM_KEY: {"description": description, "range": range, "choices": choices, "dynamic": dynamic, **extra}}
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return field(default=default, metadata=meta)


def field_default(f: Any) -> Any:
    """A dataclass field's default (calling its factory)."""
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    raise ValueError(f"field '{f.name}' has no default")


def params_of(
    cls: type,
    *,
    names: tuple[str, ...] | None = None,
    exclude: tuple[str, ...] = (),
    rename: dict[str, str] | None = None,
) -> list[Param]:
    """The ``Param`` of every field of dataclass ``cls`` defined with ``param(...)``, in field order."""
    rename = rename or {}
    out = []
    for f in fields(cls):
        spec = f.metadata.get(PARAM_KEY)
        if spec is None or f.name in exclude or (names is not None and f.name not in names):
            continue
        core = {k: spec[k] for k in ("description", "range", "choices", "dynamic")}
        out.append(Param(rename.get(f.name, f.name), field_default(f), **core))
    return out


def field_meta(cls: type, name: str) -> dict[str, Any]:
    """The ``param(...)`` metadata of field ``name`` of dataclass ``cls`` (extra keys included)."""
    for f in fields(cls):
        if f.name == name:
            return dict(f.metadata.get(PARAM_KEY, {}))
    raise KeyError(f"{cls.__name__} has no field '{name}'")


def check_fields(obj: Any) -> None:
    """Raise ParameterError naming the first ``param(...)`` field of ``obj`` out of range/choices."""
    for p in params_of(type(obj)):
        p.check(getattr(obj, p.name))


def defaults(params: list[Param]) -> dict[str, Any]:
    """name -> default."""
    return {p.name: p.default for p in params}


def by_name(params: list[Param]) -> dict[str, Param]:
    """name -> Param; ValueError when a name is defined twice."""
    out: dict[str, Param] = {}
    for p in params:
        if p.name in out:
            raise ValueError(f"parameter '{p.name}' is defined twice")
        out[p.name] = p
    return out


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`' if value == "" else f"`{value}`"
    if isinstance(value, (list, tuple)):
        return "`[" + ", ".join(f"'{v}'" if isinstance(v, str) else str(v) for v in value) + "]`"
    return f"`{value!r}`"


def markdown_table(params: list[Param], read_only_column: bool = True) -> str:
    """The parameter table of a docs page: name, default, range/choices, dynamic, meaning."""
    head = "| name | default | range / choices | " + ("dynamic | " if read_only_column else "") + "meaning |"
    rule = "|---|---|---|" + ("---|" if read_only_column else "") + "---|"
    rows = [head, rule]
    for p in params:
        cells = [f"`{p.name}`", _cell(p.default), p.constraint]
        if read_only_column:
            cells.append("yes" if p.dynamic else "")
        cells.append(p.description)
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)
