"""Teleoperated data collection: teleop source -> safety bridge (deadman) -> arm, plus recorder.

ros2 launch wam_ros teleop_collect.launch.py                       # simulated arm, scripted teleoperator
ros2 launch wam_ros teleop_collect.launch.py mode:=auto num_episodes:=20   # unattended: arm the bridge once
ros2 launch wam_ros teleop_collect.launch.py simulated:=false teleop_source:=leader_arm output:=jtc_topic

``use_sim_time`` follows ``simulated`` unless given: the simulated arm stamps every image
and joint state with simulation time (/clock), and the recorder only takes frames whose
stamps are fresh on its own clock.
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration

from launch import LaunchDescription
from wam_ros.apps.graph import teleop_collect_graph
from wam_ros.params import ParameterError, by_name
from wam_ros.params import episode_recorder_node as recorder_params
from wam_ros.ros.launch_support import (
    COMMON_ARGUMENTS,
    LaunchSetupError,
    declare_arguments,
    flag,
    graph_actions,
    graph_use_sim_time,
    options_from_context,
    require_packages,
    rviz_if_requested,
)

ARGS = ["namespace", "output", "controller", "teleop_source", "dataset_dir", "rviz"]
RECORDER = by_name(recorder_params.PARAMS)
#: episode_recorder_node parameters offered as launch arguments (defaults, choices: the node's).
RECORDER_ARGS = ("mode", "num_episodes")

#: Optional packages and the argument that does without each.
TURN_OFF = {"rviz2": "rviz:=false"}


def _recorder_settings(context) -> dict:
    values = {}
    for name in RECORDER_ARGS:
        p = RECORDER[name]
        text = context.launch_configurations[name]
        try:
            values[name] = type(p.default)(text)
            p.check(values[name])
        except (ValueError, ParameterError) as exc:
            raise LaunchSetupError(f"teleop_collect.launch.py: {name}:={text}: {exc}") from None
    return values


def _setup(context, *args, **kwargs):
    cfg = context.launch_configurations
    simulated = flag(context, "simulated")
    recorder = _recorder_settings(context)
    if recorder["mode"] == "auto" and not simulated:
        raise LaunchSetupError(
            "teleop_collect.launch.py: mode:=auto needs the simulator (it starts an episode on a new sim "
            "episode and saves on success); use mode:=manual with simulated:=false"
        )
    opts = options_from_context(context, extra_params={"episode_recorder_node": recorder})
    if simulated and not opts.use_sim_time:
        raise LaunchSetupError(
            "teleop_collect.launch.py: use_sim_time:=false with simulated:=true: the simulated arm stamps images "
            "with simulation time, so on the wall clock every frame looks stale and nothing is recorded"
        )
    specs = teleop_collect_graph(opts, simulated=simulated)
    actions = graph_actions(specs, cfg.get("namespace", ""))
    actions += rviz_if_requested(context, graph_use_sim_time(specs))
    return require_packages(actions, TURN_OFF, "teleop_collect.launch.py")


def generate_launch_description():
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "simulated", default_value="true", description="use the MuJoCo arm", choices=["true", "false"]
            ),
            # After `simulated`: its default is that argument's value.
            DeclareLaunchArgument(
                "use_sim_time",
                default_value=LaunchConfiguration("simulated"),
                description=COMMON_ARGUMENTS["use_sim_time"][1] + "; default: the value of simulated",
            ),
            *declare_arguments(ARGS),  # output empty: the graph's (jtc_topic, GRAPH_OUTPUT)
            *[
                DeclareLaunchArgument(
                    name,
                    default_value=str(RECORDER[name].default),
                    description=f"episode_recorder_node {name}: {RECORDER[name].description}",
                    **({"choices": list(RECORDER[name].choices)} if RECORDER[name].choices else {}),
                )
                for name in RECORDER_ARGS
            ],
            OpaqueFunction(function=_setup),
        ]
    )
