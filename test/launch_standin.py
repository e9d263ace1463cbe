"""A stand-in for the ROS 2 launch system, used only where the real one is not importable.

launch / launch_ros are not available as wheels, so here the launch files run against
these classes. They copy the real packages' *public* API, with the same signatures
(keyword-only where the real ones are, so a call the real API refuses is refused here
too) and the same semantics, for exactly the names the launch files and the tests use:

- ``launch.LaunchDescription(initial_entities=None, *, deprecated_reason=None)`` and its
  ``entities``;
- ``launch.LaunchContext(*, argv=None, noninteractive=False)`` and its
  ``launch_configurations`` dict;
- ``launch.actions.DeclareLaunchArgument(name, *, default_value=None, description=None,
  choices=None)``: ``name``, ``default_value`` (a list of substitutions, or None),
  ``description`` (with " Valid choices are: [...]" appended, as launch does), ``choices``,
  and ``execute(context)`` (sets the default unless given, refuses a value not in choices,
  raises when a required argument is missing);
- ``launch.actions.OpaqueFunction(*, function, args=None, kwargs=None)`` and
  ``execute(context)``, which returns what the function returns;
- ``launch.substitutions.TextSubstitution(*, text)``, ``LaunchConfiguration(variable_name, *,
  default=None)``, each with ``perform(context)``; ``launch.utilities.perform_substitutions``;
- ``launch_ros.actions.Node(*, executable, package=None, name=None, namespace=None,
  exec_name=None, parameters=None, remappings=None, ros_arguments=None, arguments=None,
  **ExecuteProcess keywords)``: ``node_package``, ``node_executable``, and ``node_name``,
  which, as in launch_ros, raises RuntimeError until the action has been executed (here: never).

Nothing is started. On a ROS install ``install()`` does nothing and the same tests run
against the real packages. Real bring-up of the same graphs is tested through the
plain-process runner, which shares the graph description.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterable
from typing import Any


class LaunchContext:
    def __init__(self, *, argv: list[str] | None = None, noninteractive: bool = False) -> None:
        self.__argv = argv if argv is not None else []
        self.__noninteractive = noninteractive
        self.__launch_configurations: dict[str, str] = {}

    @property
    def argv(self) -> list[str]:
        return self.__argv

    @property
    def noninteractive(self) -> bool:
        return self.__noninteractive

    @property
    def launch_configurations(self) -> dict[str, str]:
        return self.__launch_configurations

    def perform_substitution(self, substitution: Any) -> str:
        return substitution.perform(self)


class Substitution:
    def perform(self, context: LaunchContext) -> str:
        raise NotImplementedError


class TextSubstitution(Substitution):
    def __init__(self, *, text: str) -> None:
        if not isinstance(text, str):
            raise TypeError(f"TextSubstitution expects a str, got {type(text).__name__}")
        self.__text = text

    @property
    def text(self) -> str:
        return self.__text

    def perform(self, context: LaunchContext) -> str:
        return self.__text


class LaunchConfiguration(Substitution):
    def __init__(self, variable_name: Any, *, default: Any = None) -> None:
        self.__variable_name = normalize_to_list_of_substitutions(variable_name)
        self.__default = None if default is None else normalize_to_list_of_substitutions(default)

    @property
    def variable_name(self) -> list[Substitution]:
        return self.__variable_name

    @property
    def default(self) -> list[Substitution] | None:
        return self.__default

    def perform(self, context: LaunchContext) -> str:
        name = perform_substitutions(context, self.__variable_name)
        if name in context.launch_configurations:
            return context.launch_configurations[name]
        if self.__default is None:
            raise KeyError(f"launch configuration '{name}' does not exist")  # launch: SubstitutionFailure
        return perform_substitutions(context, self.__default)


def normalize_to_list_of_substitutions(subs: Any) -> list[Substitution]:
    """As launch.utilities does: a str, a Substitution or an iterable of both -> list of Substitutions."""
    if isinstance(subs, str):
        return [TextSubstitution(text=subs)]
    if isinstance(subs, Substitution):
        return [subs]
    if isinstance(subs, Iterable):
        return [TextSubstitution(text=s) if isinstance(s, str) else s for s in subs]
    raise TypeError(f"expected str, Substitution or an iterable of them, got {type(subs).__name__}")


def perform_substitutions(context: LaunchContext, subs: list[Substitution]) -> str:
    return "".join(context.perform_substitution(s) for s in subs)


class Action:
    def __init__(self, *, condition: Any = None) -> None:
        self.__condition = condition

    @property
    def condition(self) -> Any:
        return self.__condition

    def execute(self, context: LaunchContext) -> list[Any] | None:
        return None


class LaunchDescription:
    def __init__(self, initial_entities: Iterable[Any] | None = None, *, deprecated_reason: str | None = None):
        self.__entities = list(initial_entities) if initial_entities is not None else []
        self.__deprecated_reason = deprecated_reason

    @property
    def entities(self) -> list[Any]:
        return self.__entities

    @property
    def deprecated(self) -> bool:
        return self.__deprecated_reason is not None

    def add_action(self, action: Action) -> None:
        self.__entities.append(action)


class DeclareLaunchArgument(Action):
    def __init__(
        self,
        name: str,
        *,
        default_value: Any = None,
        description: str | None = None,
        choices: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.__name = name
        self.__default_value = None if default_value is None else normalize_to_list_of_substitutions(default_value)
        if choices is not None:
            if len(choices) == 0:
                raise RuntimeError("Provided choices arg is empty. Use None to ignore the choice list.")
            if isinstance(default_value, str) and default_value not in choices:
                raise RuntimeError(f'Provided default_value "{default_value}" is not in provided choices "{choices}".')
        if description is None:
            self.__description = "no description given" if choices is None else "One of: " + str(choices)
        else:
            self.__description = description
            if choices is not None:
                if not self.__description.endswith("."):
                    self.__description += "."
                self.__description += " Valid choices are: " + str(choices)
        self.__choices = choices

    @property
    def name(self) -> str:
        return self.__name

    @property
    def default_value(self) -> list[Substitution] | None:
        return self.__default_value

    @property
    def description(self) -> str:
        return self.__description

    @property
    def choices(self) -> list[str] | None:
        return self.__choices

    def execute(self, context: LaunchContext) -> None:
        if self.name not in context.launch_configurations:
            if self.default_value is None:
                raise RuntimeError(f'Required launch argument "{self.name}" was not provided.')
            context.launch_configurations[self.name] = perform_substitutions(context, self.default_value)
        if self.__choices is not None:
            value = context.launch_configurations[self.name]
            if value not in self.__choices:
                raise RuntimeError(
                    f'Argument "{self.name}" provided value "{value}" is not valid. Valid options are: {self.__choices}'
                )


class OpaqueFunction(Action):
    def __init__(
        self,
        *,
        function: Callable[..., Any],
        args: Iterable[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        **left_over_kwargs: Any,
    ) -> None:
        super().__init__(**left_over_kwargs)
        if not callable(function):
            raise TypeError(f"OpaqueFunction expected a callable for 'function', got '{type(function)}'")
        self.__function = function
        self.__args = list(args) if args is not None else []
        self.__kwargs = dict(kwargs) if kwargs is not None else {}

    def execute(self, context: LaunchContext) -> list[Any] | None:
        return self.__function(context, *self.__args, **self.__kwargs)


class Node(Action):
    # launch.actions.ExecuteProcess's keywords, which launch_ros' Node passes on.
    _EXECUTE_PROCESS = (
        "output", "emulate_tty", "respawn", "respawn_delay", "additional_env", "prefix", "sigterm_timeout",
        "sigkill_timeout", "cwd", "env", "shell", "log_cmd", "on_exit", "cached_output", "output_format",
        "condition",
    )  # fmt: skip

    def __init__(
        self,
        *,
        executable: Any,
        package: Any = None,
        name: Any = None,
        namespace: Any = None,
        exec_name: Any = None,
        parameters: list[Any] | None = None,
        remappings: Iterable[tuple[Any, Any]] | None = None,
        ros_arguments: Iterable[Any] | None = None,
        arguments: Iterable[Any] | None = None,
        **kwargs: Any,
    ) -> None:
        unknown = set(kwargs) - set(self._EXECUTE_PROCESS)
        if unknown:
            raise TypeError(f"Node got unexpected keyword argument(s) {sorted(unknown)}")
        if parameters is not None and not isinstance(parameters, list):
            raise TypeError("'parameters' of Node must be a list")  # launch's ensure_argument_type
        super().__init__(condition=kwargs.pop("condition", None))
        self.__package = package
        self.__node_executable = executable

    @property
    def node_package(self) -> Any:
        return self.__package

    @property
    def node_executable(self) -> Any:
        return self.__node_executable

    @property
    def node_name(self) -> str:
        raise RuntimeError("cannot access 'node_name' before executing action")


def _module(name: str, **attrs: Any) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    return mod


def install() -> bool:
    """Register the stand-in modules where the real ones are missing; True if they stand in."""
    if getattr(sys.modules.get("launch"), "STANDIN", False):
        return True
    try:
        import launch_ros.actions  # noqa: F401

        import launch  # noqa: F401

        return False  # a real ROS 2 install: nothing to stand in for
    except ImportError:
        pass
    sys.modules["launch"] = _module(
        "launch", STANDIN=True, LaunchDescription=LaunchDescription, LaunchContext=LaunchContext, Action=Action
    )
    sys.modules["launch.actions"] = _module(
        "launch.actions", DeclareLaunchArgument=DeclareLaunchArgument, OpaqueFunction=OpaqueFunction
    )
    sys.modules["launch.substitutions"] = _module(
        "launch.substitutions", LaunchConfiguration=LaunchConfiguration, TextSubstitution=TextSubstitution
    )
    sys.modules["launch.utilities"] = _module(
        "launch.utilities",
        perform_substitutions=perform_substitutions,
        normalize_to_list_of_substitutions=normalize_to_list_of_substitutions,
    )
    sys.modules["launch_ros"] = _module("launch_ros")
    sys.modules["launch_ros.actions"] = _module("launch_ros.actions", Node=Node)
    return True


class LaunchRun:
    """What a launch file declared and would start, read through the public launch API only."""

    def __init__(self, description: Any, context: Any, actions: list[Any]) -> None:
        from launch.actions import DeclareLaunchArgument
        from launch_ros.actions import Node

        self.description = description  # the LaunchDescription
        self.context = context  # the LaunchContext its arguments were evaluated in
        self.arguments = {e.name: e for e in description.entities if isinstance(e, DeclareLaunchArgument)}
        self.actions = actions  # what its OpaqueFunctions returned
        self.nodes = [a for a in actions if isinstance(a, Node)]

    @property
    def configurations(self) -> dict[str, str]:
        return self.context.launch_configurations


def load_launch_file(path: Any) -> Any:
    """The LaunchDescription of a Python launch file (as ``ros2 launch`` gets it)."""
    import importlib.util

    install()
    spec = importlib.util.spec_from_file_location(f"launch_file_{path.stem.replace('.', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description()


def run_launch_file(path: Any, arguments: dict[str, str] | None = None) -> LaunchRun:
    """Evaluate a launch file as ``ros2 launch <file> name:=value ...`` would, without starting anything.

    The given arguments go into a fresh ``LaunchContext``'s launch configurations; every
    ``DeclareLaunchArgument`` is executed in order (defaults, choices, required arguments),
    then every ``OpaqueFunction``, whose returned actions are collected. Only public API of
    launch / launch_ros is used, so this runs the same against the real packages. An
    argument the file does not declare raises KeyError (``ros2 launch`` would silently
    ignore it: a typo in a test must not pass unnoticed).
    """
    install()
    from launch.actions import DeclareLaunchArgument, OpaqueFunction

    from launch import LaunchContext

    ld = load_launch_file(path)
    declared = {e.name for e in ld.entities if isinstance(e, DeclareLaunchArgument)}
    unknown = set(arguments or {}) - declared
    if unknown:
        raise KeyError(f"{path.name} does not declare argument(s) {sorted(unknown)}")
    context = LaunchContext()
    context.launch_configurations.update(arguments or {})
    actions: list[Any] = []
    for entity in ld.entities:
        if isinstance(entity, DeclareLaunchArgument):
            entity.execute(context)
        elif isinstance(entity, OpaqueFunction):
            actions += entity.execute(context) or []
    return LaunchRun(ld, context, actions)
