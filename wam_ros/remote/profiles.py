"""Server profiles: what one WAM family's own policy server reads and answers (ROS-free).

A profile is a small YAML file (``config/server_profiles/<name>.yaml``; users add their
own and pass a path) that says how an Observation becomes that server's request and how
its reply becomes a joint-position chunk:

- ``protocol``: the conversation. ``openpi`` (stateless request/reply; metadata first),
  ``roboarena`` (every request carries ``endpoint`` infer|reset; a reset is answered by
  the text frame "reset successful"), ``lingbot_va`` (reset/prompt, then obs, then a
  kv-cache call carrying the executed action), ``cosmos`` (HTTP POST of JSON).
- ``images``: request key -> our camera, size, ``resize`` (pad: aspect-preserving zero
  pad as openpi; stretch: as the RoboArena evaluator), ``layout`` (hwc or chw) and, for
  stateful servers, ``history`` (frames per call after the first).
- ``state``: request key -> the parts it concatenates (``arm_joints``, ``gripper``,
  ``gripper_qpos``, ``ee_position``, ``ee_axis_angle``, ``zeros:N``).
- ``action_space``: wam_ros.robot.action_spaces.ActionSpace (kind, rotation, gripper
  convention), with ``arm_columns`` / ``gripper_column`` picking one arm out of wider rows.
- ``reply``: where the actions are (``actions_key``; empty = the reply *is* the array),
  ``horizon`` (0 = any), ``period``, ``execute`` (how many actions to use; 0 = all),
  and ``frames`` (reply key -> our camera) for servers that send predicted images.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from wam_ros.policies.base import Observation, PolicyError
from wam_ros.robot.action_spaces import ActionConverter, ActionSpace, ActionSpaceError, log_so3
from wam_ros.robot.model import RobotModel

PROTOCOLS = ("openpi", "roboarena", "lingbot_va", "cosmos")
RESIZES = ("pad", "stretch", "none")
LAYOUTS = ("hwc", "chw")
STATE_PARTS = ("arm_joints", "gripper", "gripper_qpos", "ee_position", "ee_axis_angle", "joints")
PROFILE_DIR = "config/server_profiles"


@dataclass(frozen=True)
class ImageField:
    camera: str
    size: tuple[int, int] = (224, 224)  # (height, width); (0, 0): as captured
    resize: str = "pad"
    layout: str = "hwc"
    history: int = 1  # frames per request once the server has seen one (DreamZero: 4)


@dataclass(frozen=True)
class ServerProfile:
    name: str
    protocol: str
    url: str
    images: Mapping[str, ImageField]
    state: Mapping[str, tuple[str, ...]]
    action_space: ActionSpace
    prompt_key: str = "prompt"
    arm_columns: tuple[int, int] = (0, 0)  # (0, 0): the first action_space arm width columns
    gripper_column: int = -1  # -1: the column after the arm columns
    actions_key: str = "actions"  # "": the reply is the bare array
    horizon: int = 0
    period: float = 0.1
    execute: int = 0
    frames: Mapping[str, str] = field(default_factory=dict)  # reply key -> our camera
    session_id: bool = False
    extra_fields: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, name_or_path: str, share_dir: Path | None = None) -> ServerProfile:
        """A shipped profile by name, or a YAML file by path; ProfileError naming the bad field."""
        path = Path(name_or_path)
        if path.suffix not in (".yaml", ".yml"):
            from wam_ros.resources import share_path

            folder = share_dir / PROFILE_DIR if share_dir else share_path(*PROFILE_DIR.split("/"))
            path = folder / f"{name_or_path}.yaml"
        if not path.is_file():
            shipped = sorted(p.stem for p in path.parent.glob("*.yaml")) if path.parent.is_dir() else []
            raise ProfileError(f"server profile '{name_or_path}' not found ({path}); shipped: {shipped}")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ProfileError(f"server profile {path}: not YAML: {exc}") from exc
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, d: Any, source: str = "<dict>") -> ServerProfile:
        if not isinstance(d, dict):
            raise ProfileError(f"server profile {source}: expected a map, got {type(d).__name__}")
        d = dict(d)
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ProfileError(f"server profile {source}: unknown field(s) {unknown}; known: {sorted(known)}")
        for req in ("name", "protocol", "url", "images", "state", "action_space"):
            if req not in d:
                raise ProfileError(f"server profile {source}: missing field '{req}'")
        if d["protocol"] not in PROTOCOLS:
            raise ProfileError(f"server profile {source}: protocol '{d['protocol']}' must be one of {list(PROTOCOLS)}")
        try:
            images = {}
            for key, spec in dict(d["images"]).items():
                spec = dict(spec)
                if "size" in spec:
                    spec["size"] = tuple(int(v) for v in spec["size"])
                img = ImageField(**spec)
                if img.resize not in RESIZES or img.layout not in LAYOUTS or img.history < 1:
                    raise ProfileError(f"images.{key}: resize in {RESIZES}, layout in {LAYOUTS}, history >= 1")
                images[str(key)] = img
            state = {}
            for key, parts in dict(d["state"]).items():
                parts = (parts,) if isinstance(parts, str) else tuple(parts)
                for part in parts:
                    if part not in STATE_PARTS and not str(part).startswith("zeros:"):
                        raise ProfileError(f"state.{key}: part '{part}' must be one of {list(STATE_PARTS)} or zeros:N")
                state[str(key)] = parts
            d["images"], d["state"] = images, state
            d["action_space"] = ActionSpace.from_dict(d["action_space"])
            for k in ("arm_columns",):
                if k in d:
                    d[k] = tuple(int(v) for v in d[k])
            profile = cls(**d)
        except (TypeError, ValueError, ActionSpaceError, ProfileError) as exc:
            raise ProfileError(f"server profile {source}: {exc}") from exc
        if not (math.isfinite(profile.period) and profile.period > 0) or profile.horizon < 0 or profile.execute < 0:
            raise ProfileError(f"server profile {source}: period > 0, horizon >= 0 and execute >= 0 required")
        return profile

    @property
    def cameras(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(img.camera for img in self.images.values()))


class ProfileError(PolicyError):
    """A profile that cannot be used, or a reply that does not fit it; the message names the field."""


# ------------------------------------------------------------------ images
def prepare_image(img: np.ndarray, f: ImageField) -> np.ndarray:
    """Resize (pad or stretch) and lay out one uint8 RGB frame as the server reads it."""
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ProfileError(f"camera '{f.camera}' frame must be uint8 HxWx3, got {getattr(img, 'shape', img)}")
    h, w = f.size
    if f.resize == "stretch" and (h, w) != img.shape[:2] and h and w:
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    elif f.resize == "pad" and h and w and (h, w) != img.shape[:2]:  # openpi's resize_with_pad
        scale = min(h / img.shape[0], w / img.shape[1])
        rh, rw = max(1, round(img.shape[0] * scale)), max(1, round(img.shape[1] * scale))
        small = cv2.resize(img, (rw, rh), interpolation=cv2.INTER_AREA)
        out = np.zeros((h, w, 3), np.uint8)
        top, left = (h - rh) // 2, (w - rw) // 2
        out[top:top + rh, left:left + rw] = small
        img = out
    img = np.ascontiguousarray(img)
    return np.ascontiguousarray(img.transpose(2, 0, 1)) if f.layout == "chw" else img


def put(d: dict, key: str, value: Any) -> None:
    """``a.b`` addresses a nested map (ALOHA's ``images.cam_high``); openpi's flat keys have no dots."""
    *parents, leaf = key.split(".")
    for p in parents:
        d = d.setdefault(p, {})
    d[leaf] = value


# ------------------------------------------------------------------ codec
class ProfileCodec:
    """Observation -> request map, reply -> joint-position chunk, for one profile and one robot."""

    def __init__(self, profile: ServerProfile, robot: RobotModel) -> None:
        self.profile, self.robot = profile, robot
        self.converter = ActionConverter(robot, profile.action_space, profile.period)
        self.n_arm = len(robot.arm_joints)
        lim = robot.limits()
        self._g_lo, self._g_hi = lim["lower"][self.n_arm:], lim["upper"][self.n_arm:]
        self.session = ""
        self._history: dict[str, list[np.ndarray]] = {}
        self.calls_since_reset = 0
        self.reset()

    def reset(self) -> None:
        self.session = str(uuid.uuid4()) if self.profile.session_id else ""
        self._history = {}
        self.calls_since_reset = 0
        self.converter.reset()

    def state_part(self, part: str, q: np.ndarray) -> np.ndarray:
        if part == "arm_joints":
            return q[: self.n_arm]
        if part == "joints":
            return q
        if part == "gripper":
            return np.array([self.converter.gripper_value(q)])
        if part == "gripper_qpos":  # both fingers, as LIBERO's robot0_gripper_qpos
            g = float(q[self.n_arm]) if len(q) > self.n_arm else 0.0
            return np.array([g, -g])
        pose = self.converter.ee_pose(q)
        if part == "ee_position":
            return pose[:3, 3]
        if part == "ee_axis_angle":
            return log_so3(pose[:3, :3])
        return np.zeros(int(part.split(":", 1)[1]))

    def camera_frames(self, obs: Observation) -> dict[str, np.ndarray]:
        """Request key -> prepared frame (or (T, ...) stack for history > 1 after the first call)."""
        out = {}
        for key, f in self.profile.images.items():
            if f.camera not in obs.images:
                raise ProfileError(f"profile '{self.profile.name}' needs camera '{f.camera}' for '{key}'; "
                                   f"observation has {sorted(obs.images)}")
            frame = prepare_image(obs.images[f.camera], f)
            hist = self._history.setdefault(key, [])
            hist.append(frame)
            del hist[: max(0, len(hist) - f.history)]
            if f.history > 1 and self.calls_since_reset > 0:
                frames = hist if len(hist) == f.history else [hist[0]] * (f.history - len(hist)) + hist
                out[key] = np.stack(frames)
            else:
                out[key] = frame
        return out

    def request(self, obs: Observation) -> dict[str, Any]:
        q = np.asarray(obs.joint_positions, dtype=float)
        req: dict[str, Any] = {}
        for key, frame in self.camera_frames(obs).items():
            put(req, key, frame)
        for key, parts in self.profile.state.items():
            put(req, key, np.concatenate([self.state_part(p, q) for p in parts]).astype(np.float32))
        if self.profile.prompt_key:
            put(req, self.profile.prompt_key, str(obs.instruction))
        if self.session:
            req["session_id"] = self.session
        req.update(self.profile.extra_fields)
        return req

    def actions(self, reply: Any) -> np.ndarray:
        """The raw (N, D) action array of a reply, checked; ProfileError naming what is wrong."""
        p = self.profile
        if p.actions_key:
            if not isinstance(reply, dict):
                raise ProfileError(f"malformed reply: a {type(reply).__name__}, expected a map with '{p.actions_key}'")
            if p.actions_key not in reply:
                raise ProfileError(f"malformed reply: no '{p.actions_key}' (keys: {sorted(map(str, reply))[:10]})")
            actions = reply[p.actions_key]
        else:
            if isinstance(reply, dict):
                raise ProfileError(f"malformed reply: a map (keys {sorted(map(str, reply))[:10]}), "
                                   "expected a bare action array")
            actions = reply
        if isinstance(actions, list) and actions and all(isinstance(a, np.ndarray) for a in actions):
            actions = np.stack(actions)  # Cosmos Policy: a list of (D,) arrays
        if not isinstance(actions, np.ndarray) or actions.dtype.kind != "f":
            raise ProfileError(f"malformed reply: actions are {type(actions).__name__} "
                               f"{getattr(actions, 'dtype', '')}, expected a float array")
        if actions.ndim != 2 or actions.shape[0] < 1:
            raise ProfileError(f"wrong shape: actions {actions.shape}, expected (N, D)")
        if p.horizon and actions.shape[0] != p.horizon:
            raise ProfileError(f"wrong shape: horizon {actions.shape[0]}, profile '{p.name}' expects {p.horizon}")
        if not np.all(np.isfinite(actions)):
            raise ProfileError("non-finite actions in the reply")
        return actions

    def joint_chunk(self, actions: np.ndarray, q_measured: np.ndarray) -> np.ndarray:
        """Pick this arm's columns, keep ``execute`` steps, convert to (N, J) joint positions."""
        p, space = self.profile, self.profile.action_space
        width = space.arm_width(self.n_arm)
        start, stop = p.arm_columns if p.arm_columns != (0, 0) else (0, width)
        if stop - start != width:
            raise ProfileError(f"profile '{p.name}': arm_columns {p.arm_columns} must span {width} columns")
        cols = list(range(start, stop))
        if space.gripper is not None:
            cols.append(p.gripper_column if p.gripper_column >= 0 else stop)
        if max(cols) >= actions.shape[1]:
            raise ProfileError(f"wrong shape: actions have {actions.shape[1]} columns, profile '{p.name}' reads "
                               f"columns {cols}")
        rows = actions[: p.execute] if p.execute else actions
        try:
            return self.converter.to_joint_positions(rows[:, cols], q_measured)
        except ActionSpaceError as exc:
            raise ProfileError(f"actions do not convert: {exc}") from exc

    def predicted_frames(self, reply: Any) -> dict[str, np.ndarray]:
        """Our camera -> (1, H, W, 3) uint8 predicted frame, for servers that send them."""
        out: dict[str, np.ndarray] = {}
        if not self.profile.frames or not isinstance(reply, dict):
            return out
        for key, cam in self.profile.frames.items():
            cur: Any = reply
            for part in key.split("."):
                cur = cur.get(part) if isinstance(cur, dict) else None
            if isinstance(cur, np.ndarray) and cur.dtype == np.uint8 and cur.ndim in (3, 4) and cur.shape[-1] == 3:
                out[cam] = cur if cur.ndim == 4 else cur[None]
        return out
