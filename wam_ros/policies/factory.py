"""Build the policy backend a deployment's settings ask for, and check that it fits the robot.

``build_policy(settings, robot, cameras, scene_source)`` reads the keys of wam_node's
parameters that concern the backend (``backend`` and, per backend, the ones below),
turns them into that backend's constructor arguments, builds it with ``make_policy``
and refuses it unless it drives the robot's joints with the configured cameras.
Every refusal is a :class:`PolicyConfigError` naming the setting to change.

- tiny_wam: checkpoint, device, num_steps, noise_scale, compile, torch_threads, seed (-1: random),
  image_size ([0, 0]: the checkpoint's)
- replay: replay_path, replay_episode, action_horizon
- remote: remote_url, remote_response_timeout, remote_connect_timeout, remote_api_key_env and either
  server_profile (a WAM family's own server: wam_ros.remote.profiles) or, without one, the openpi/wam-serve
  client's action_horizon, remote_key_map, image_size ([0, 0]: the client's default)
- expert: the scripted expert, fed the simulator's scene state by ``scene_source``
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from wam_ros.policies import make_policy
from wam_ros.policies.base import Policy, PolicyError
from wam_ros.robot.model import RobotModel

#: the setting to blame when a backend cannot be built
SOURCE_SETTING = {"tiny_wam": "checkpoint", "replay": "replay_path", "remote": "remote_url"}


class PolicyConfigError(ValueError):
    """The settings do not give a usable backend; ``setting`` names the one to change."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting


def image_size_setting(value: Sequence[int]) -> tuple[int, int] | None:
    """``image_size`` as (h, w), or None for [0, 0] (the backend's own)."""
    size = [int(v) for v in value]
    if len(size) != 2:
        raise PolicyConfigError("image_size", f"parameter 'image_size' = {size}: expected [height, width]")
    return (size[0], size[1]) if any(size) else None


def key_map_setting(entries: Sequence[str]) -> dict[str, str] | None:
    """``remote_key_map`` ["image.scene=observation/image", ...] as a map; None when empty."""
    out: dict[str, str] = {}
    for entry in entries:
        if not entry:
            continue
        name, sep, key = entry.partition("=")
        if not sep or not name or not key:
            raise PolicyConfigError("remote_key_map", f"parameter 'remote_key_map' entry {entry!r}: expected entry=key")
        out[name.strip()] = key.strip()
    return out or None


def api_key(settings: Mapping[str, Any]) -> str | None:
    """The API key from the environment variable ``remote_api_key_env`` names (keys are never parameters)."""
    var = settings["remote_api_key_env"]
    if not var:
        return None
    value = os.environ.get(var)
    if not value:
        raise PolicyConfigError("remote_api_key_env", f"parameter 'remote_api_key_env' = '{var}': "
                                "that environment variable is not set")
    return value


def backend_kwargs(
    settings: Mapping[str, Any],
    robot: RobotModel,
    cameras: Sequence[str],
    scene_source: Callable[[], dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """The constructor arguments of ``settings['backend']`` (see the module docstring for the keys read)."""
    b, s = settings["backend"], settings
    joints = robot.actuated_joints
    size = image_size_setting(s["image_size"])
    if b == "tiny_wam":
        return dict(checkpoint=s["checkpoint"], device=s["device"], num_steps=s["num_steps"], compile=s["compile"],
                    noise_scale=s["noise_scale"], joint_names=joints, cameras=list(cameras),
                    image_size=list(size) if size else None, seed=None if s["seed"] < 0 else s["seed"],
                    num_threads=s["torch_threads"])
    if b == "replay":
        return dict(path=s["replay_path"], episode=s["replay_episode"], horizon=s["action_horizon"], joint_names=joints)
    if b == "remote":
        kw: dict[str, Any] = dict(url=s["remote_url"], response_timeout=s["remote_response_timeout"],
                                  connect_timeout=s["remote_connect_timeout"], api_key=api_key(s))
        if s["server_profile"]:
            return dict(kw, profile=s["server_profile"], robot=robot)
        kw.update(joint_names=joints, cameras=list(cameras), action_horizon=s["action_horizon"],
                  key_map=key_map_setting(s["remote_key_map"]))
        if size:
            kw["image_size"] = list(size)
        return kw
    if b == "expert":
        return dict(robot=robot, scene_source=scene_source or (lambda: None))
    raise PolicyConfigError("backend", f"parameter 'backend' = '{b}': unknown policy backend")


def check_fits(policy: Policy, backend: str, robot: RobotModel, cameras: Sequence[str]) -> None:
    """Refuse a backend whose joints are not the robot's or that needs a camera not configured."""
    joints = robot.actuated_joints
    if tuple(policy.spec.joint_names) != tuple(joints):
        raise PolicyConfigError(
            "backend",
            f"backend '{backend}' joint names mismatch: policy has {list(policy.spec.joint_names)},"
            f" robot has {list(joints)}",
        )
    missing = sorted(set(policy.spec.cameras) - set(cameras))
    if missing:
        raise PolicyConfigError("cameras", f"parameter 'cameras' = {list(cameras)}: backend needs camera(s) {missing}")


def build_policy(
    settings: Mapping[str, Any],
    robot: RobotModel,
    cameras: Sequence[str],
    scene_source: Callable[[], dict[str, Any] | None] | None = None,
) -> Policy:
    """The configured backend, built and checked against ``robot`` and ``cameras``; PolicyConfigError if not."""
    b = settings["backend"]
    kwargs = backend_kwargs(settings, robot, cameras, scene_source)
    profiled = b == "remote" and bool(settings["server_profile"])  # a server family's own protocol
    try:
        if profiled:
            from wam_ros.remote.profile_policy import ProfilePolicy

            policy: Policy = ProfilePolicy(**kwargs)
        else:
            policy = make_policy(b, **kwargs)
    except (ValueError, PolicyError, OSError) as exc:  # CheckpointError/ReplayError are ValueErrors
        name = "server_profile" if profiled else SOURCE_SETTING.get(b, "backend")
        raise PolicyConfigError(name, f"parameter '{name}' ({b} backend): {exc}") from exc
    try:
        check_fits(policy, b, robot, cameras)
    except PolicyConfigError:
        policy.close()
        raise
    return policy
