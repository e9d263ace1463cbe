"""Declare node parameters from their one definition: description, range, choices.

Every node's parameters are ``Param`` values defined in the ROS-free ``wam_ros.params``
(``wam_ros.params.<node>``); ``declare_params`` declares them with ParameterDescriptors
(so ``ros2 param describe`` shows ranges), refuses a bad value at start with a
``ParameterError`` naming it, and guards run-time changes of ``dynamic`` parameters with
the same checks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter

from wam_ros.params import Param, ParameterError

__all__ = ["Param", "ParameterError", "declare_params"]


def _descriptor(p: Param) -> ParameterDescriptor:
    d = ParameterDescriptor(description=p.description, read_only=not p.dynamic)
    if p.range is not None and not isinstance(p.default, (list, tuple)):
        lo, hi = p.range
        if isinstance(p.default, int) and not isinstance(p.default, bool):
            d.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=0)]
        else:
            d.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
    if p.choices is not None:
        d.additional_constraints = p.constraint
    return d


def declare_params(
    node: Node,
    specs: Sequence[Param],
    on_change: Callable[[str, Any], None] | None = None,
) -> dict[str, Any]:
    """Declare ``specs`` on ``node`` and return their values by name.

    Raises ParameterError for a value out of range or choices, or of the wrong type.
    ``on_change(name, value)`` is called after a dynamic parameter was changed.
    """
    by_name = {p.name: p for p in specs}
    values: dict[str, Any] = {}
    for p in specs:
        try:
            param = node.declare_parameter(p.name, p.default, _descriptor(p))
        except Exception as exc:  # rclpy raises several exception types for bad values
            raise ParameterError(f"parameter '{p.name}': {exc}") from exc
        value = param.value
        if isinstance(p.default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if p.default is not None and value is not None and isinstance(p.default, (list, tuple)) is not isinstance(
            value, (list, tuple)
        ):
            raise ParameterError(f"parameter '{p.name}' = {value!r}: expected a {type(p.default).__name__}")
        p.check(value)
        values[p.name] = list(value) if isinstance(value, (list, tuple)) else value

    def _guard(params: list[Parameter]) -> SetParametersResult:
        for prm in params:
            spec = by_name.get(prm.name)
            if spec is None:
                continue
            try:
                spec.check(prm.value)
            except ParameterError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(_guard)
    if on_change is not None:

        def _after(params: list[Parameter]) -> None:
            for prm in params:
                if prm.name in by_name and by_name[prm.name].dynamic:
                    on_change(prm.name, prm.value)

        node.add_post_set_parameters_callback(_after)
    return values
