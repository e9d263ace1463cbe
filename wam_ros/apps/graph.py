"""The node graphs of wam_ros, described once.

Both the ROS 2 launch files (``launch/*.launch.py``) and the plain-process runner
(``wam-graph``, used by ``make demo`` where the launch system is not installed) build
their processes from these descriptions, so the two cannot drift. ROS-free: a graph
is a list of ``NodeSpec`` values; parameters come from ``config/*.yaml`` and only the
few values a graph must decide (output mode, backend, checkpoint) are set here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

PACKAGE = "wam_ros"


@dataclass(frozen=True)
class NodeSpec:
    """One process of a graph, as launch_ros.actions.Node would describe it."""

    name: str
    executable: str
    package: str = PACKAGE
    params_files: tuple[str, ...] = ()  # relative to the package share dir
    params: dict[str, Any] = field(default_factory=dict)  # overrides, after the files
    remaps: tuple[tuple[str, str], ...] = ()
    arguments: tuple[str, ...] = ()

    @property
    def module(self) -> str | None:
        """Python module of a wam_ros node (None for other packages' nodes)."""
        return f"wam_ros.nodes.{self.executable}" if self.package == PACKAGE else None


@dataclass(frozen=True)
class GraphOptions:
    """The choices a user makes when bringing up a graph (launch arguments)."""

    use_sim_time: bool = False
    policy: str = "tiny_wam"  # tiny_wam | remote | replay | expert
    checkpoint: str = "checkpoints/tiny_wam"
    server_url: str = "ws://127.0.0.1:8000"
    output: str = "jtc_topic"  # jtc_topic | jtc_action | forward | dry_run
    controller: str = "arm_controller"
    smoother_strategy: str = "rtc_blend"
    extra_latency: float = 0.0
    cameras_config: str = "config/camera_node.yaml"
    teleop_source: str = "expert"  # expert | leader_arm | joy
    dataset_dir: str = "data/wam_demos"
    extra_params: dict[str, dict[str, Any]] = field(default_factory=dict)  # node name -> overrides


def _node(name: str, opts: GraphOptions, params: dict[str, Any] | None = None, **kw: Any) -> NodeSpec:
    merged = {"use_sim_time": opts.use_sim_time, **(params or {}), **opts.extra_params.get(name, {})}
    return NodeSpec(
        name=name, executable=kw.pop("executable", name), params_files=(f"config/{name}.yaml",), params=merged, **kw
    )


def policy_nodes(opts: GraphOptions) -> list[NodeSpec]:
    """The policy (WAM or the scripted expert) and the chunk smoother."""
    if opts.policy == "expert":
        policy = _node("expert_policy_node", opts, {"extra_latency": opts.extra_latency})
    else:
        policy = _node(
            "wam_node",
            opts,
            {
                "backend": opts.policy,
                "checkpoint": opts.checkpoint,
                "remote_url": opts.server_url,
                "extra_latency": opts.extra_latency,
                # start the next inference early enough that its chunk lands before this one runs out
                "trigger_threshold": max(0.8, opts.extra_latency + 0.5),
            },
        )
    smoother = _node("chunk_smoother_node", opts, {"strategy": opts.smoother_strategy})
    return [policy, smoother]


def safety_bridge(opts: GraphOptions) -> NodeSpec:
    return _node("safety_bridge_node", opts, {"output": opts.output, "controller": opts.controller})


def sim_arm(opts: GraphOptions) -> NodeSpec:
    return _node("sim_robot_node", opts, {"publish_clock": True})


def sim_graph(opts: GraphOptions) -> list[NodeSpec]:
    """Simulated arm + cameras, policy, smoother, safety bridge: `make demo`.

    Always on simulation time: the sim stamps images and joint states with /clock, and
    latency is computed from those stamps.
    """
    opts = replace(opts, use_sim_time=True)
    return [sim_arm(opts), *policy_nodes(opts), safety_bridge(opts)]


def robot_graph(opts: GraphOptions) -> list[NodeSpec]:
    """A real arm: our cameras, policy, smoother, safety bridge (ros2_control is the robot's)."""
    cameras = NodeSpec(
        "camera_node",
        "camera_node",
        params_files=(opts.cameras_config,),
        params={"use_sim_time": opts.use_sim_time, **opts.extra_params.get("camera_node", {})},
    )
    return [cameras, *policy_nodes(opts), safety_bridge(opts)]


def teleop_collect_graph(opts: GraphOptions, simulated: bool = True) -> list[NodeSpec]:
    """Teleoperation through the safety bridge, with the episode recorder."""
    nodes = (
        [sim_arm(opts)]
        if simulated
        else [
            NodeSpec(
                "camera_node",
                "camera_node",
                params_files=(opts.cameras_config,),
                params={"use_sim_time": opts.use_sim_time},
            )
        ]
    )
    nodes.append(_node("teleop_node", opts, {"source": opts.teleop_source}))
    nodes.append(safety_bridge(opts))
    nodes.append(_node("episode_recorder_node", opts, {"dataset_root": opts.dataset_dir}))
    return nodes


GRAPHS: dict[str, Callable[[GraphOptions], list[NodeSpec]]] = {
    "sim": sim_graph,
    "robot": robot_graph,
    "teleop_collect": teleop_collect_graph,
}
