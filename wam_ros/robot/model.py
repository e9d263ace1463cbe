"""The robot description as plain Python: joint names, limits and kinematics.

Everything that needs joint names, limits or forward kinematics gets them from here,
loaded from the URDF (plus an optional MoveIt-style ``joint_limits.yaml`` for
acceleration and jerk, which URDF cannot express). Kinematics is pinocchio's.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import yaml

from wam_ros.resources import share_path

DEFAULT_URDF = "urdf/wam_arm.urdf"
DEFAULT_JOINT_LIMITS = "config/joint_limits.yaml"
#: The bundled arm's end-effector link (kinematics, Cartesian checks, the wrist camera's frame).
DEFAULT_EE_LINK = "tool0"


class RobotModelError(ValueError):
    """The robot description is unusable (missing joint, bad limit, unknown link)."""


@dataclass(frozen=True)
class JointLimits:
    """Limits of one joint. Infinite where the description gives none."""

    lower: float = -math.inf
    upper: float = math.inf
    velocity: float = math.inf
    acceleration: float = math.inf
    jerk: float = math.inf
    effort: float = math.inf


@dataclass(frozen=True)
class JointSpec:
    name: str
    type: str  # revolute | continuous | prismatic
    parent: str
    child: str
    limits: JointLimits
    mimic_of: str | None = None


@dataclass
class RobotModel:
    """Joint names, limits and kinematics of one arm (+ optional gripper).

    ``arm_joints`` are the movable joints on the chain from the root to ``ee_link``;
    ``gripper_joints`` the other actuated (non-mimic) joints.
    """

    name: str
    urdf_xml: str
    joints: dict[str, JointSpec]
    arm_joints: tuple[str, ...]
    gripper_joints: tuple[str, ...]
    base_link: str
    ee_link: str
    _kin: object | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(
        cls,
        urdf: str | Path | None = None,
        joint_limits_yaml: str | Path | None = None,
        ee_link: str = DEFAULT_EE_LINK,
    ) -> RobotModel:
        """Load from a URDF file (default: the bundled arm) and a limits YAML."""
        urdf_path = Path(urdf) if urdf else share_path(DEFAULT_URDF)
        if not urdf_path.is_file():
            raise RobotModelError(f"URDF not found: {urdf_path}")
        limits_path = joint_limits_yaml
        if limits_path is None and urdf is None:
            limits_path = share_path(DEFAULT_JOINT_LIMITS)
        return cls.from_urdf_string(urdf_path.read_text(), limits_path, ee_link)

    @classmethod
    def from_urdf_string(
        cls, urdf_xml: str, joint_limits_yaml: str | Path | None = None, ee_link: str = DEFAULT_EE_LINK
    ) -> RobotModel:
        try:
            root = ET.fromstring(urdf_xml)
        except ET.ParseError as exc:
            raise RobotModelError(f"URDF is not valid XML: {exc}") from exc
        extra = _read_joint_limits_yaml(joint_limits_yaml) if joint_limits_yaml else {}
        joints: dict[str, JointSpec] = {}
        child_to_joint: dict[str, str] = {}
        for j in root.findall("joint"):
            jtype = j.get("type", "")
            name = j.get("name", "")
            parent = j.find("parent").get("link")  # type: ignore[union-attr]
            child = j.find("child").get("link")  # type: ignore[union-attr]
            child_to_joint[child] = name
            if jtype in ("fixed", "floating", "planar"):
                joints[name] = JointSpec(name, jtype, parent, child, JointLimits())
                continue
            lim = j.find("limit")
            lower, upper = -math.inf, math.inf
            velocity = effort = math.inf
            if lim is not None:
                if jtype != "continuous":
                    lower = float(lim.get("lower", "-inf"))
                    upper = float(lim.get("upper", "inf"))
                velocity = float(lim.get("velocity", "inf"))
                effort = float(lim.get("effort", "inf"))
            limits = JointLimits(lower, upper, velocity, effort=effort)
            if name in extra:
                limits = _merge_limits(name, limits, extra[name])
            mimic = j.find("mimic")
            joints[name] = JointSpec(
                name, jtype, parent, child, limits, mimic.get("joint") if mimic is not None else None
            )
        links = {lk.get("name") for lk in root.findall("link")}
        if ee_link not in links:
            raise RobotModelError(f"ee_link '{ee_link}' is not a link of the URDF (links: {sorted(links)})")
        # Walk from the end effector to the root to find the arm chain.
        chain: list[str] = []
        link = ee_link
        while link in child_to_joint:
            jn = child_to_joint[link]
            if joints[jn].type in ("revolute", "continuous", "prismatic"):
                chain.append(jn)
            link = joints[jn].parent
        base_link = link
        # Skip a fixed world->base joint so base_link is the robot's base.
        roots = [j for j in joints.values() if j.parent == base_link and j.type == "fixed"]
        if base_link == "world" and len(roots) == 1:
            base_link = roots[0].child
        arm = tuple(reversed(chain))
        gripper = tuple(
            n
            for n, js in joints.items()
            if js.type in ("revolute", "continuous", "prismatic") and js.mimic_of is None and n not in arm
        )
        return cls(root.get("name", "robot"), urdf_xml, joints, arm, gripper, base_link, ee_link)

    # ------------------------------------------------------------------ limits
    @property
    def actuated_joints(self) -> tuple[str, ...]:
        """Arm joints then gripper joints: the order of every command in wam_ros."""
        return self.arm_joints + self.gripper_joints

    def limits(self, names: tuple[str, ...] | list[str] | None = None) -> dict[str, np.ndarray]:
        """Limit vectors for ``names`` (default: actuated joints), keyed by limit kind."""
        names = tuple(names) if names is not None else self.actuated_joints
        missing = [n for n in names if n not in self.joints]
        if missing:
            raise RobotModelError(f"unknown joint(s) {missing}; known: {list(self.actuated_joints)}")
        lims = [self.joints[n].limits for n in names]
        return {
            k: np.array([getattr(lim, k) for lim in lims], dtype=float)
            for k in ("lower", "upper", "velocity", "acceleration", "jerk", "effort")
        }

    # ------------------------------------------------------------------ kinematics
    @property
    def kinematics(self) -> Kinematics:
        if self._kin is None:
            self._kin = Kinematics(self)
        return self._kin  # type: ignore[return-value]

    def fk(self, q_arm: np.ndarray) -> np.ndarray:
        """4x4 pose of ``ee_link`` in ``base_link`` for arm joint positions."""
        return self.kinematics.fk(q_arm)


class Kinematics:
    """Forward kinematics and Jacobians of the arm chain, via pinocchio."""

    def __init__(self, model: RobotModel) -> None:
        import pinocchio as pin

        self._pin = pin
        self.model = pin.buildModelFromXML(model.urdf_xml)
        self.data = self.model.createData()
        self.ee_frame = self.model.getFrameId(model.ee_link)
        self.base_frame = self.model.getFrameId(model.base_link)
        self.arm_idx_q = np.array([self.model.idx_qs[self.model.getJointId(n)] for n in model.arm_joints])
        self.arm_idx_v = np.array([self.model.idx_vs[self.model.getJointId(n)] for n in model.arm_joints])
        self._q = self._pin.neutral(self.model)

    def _full_q(self, q_arm: np.ndarray) -> np.ndarray:
        q = self._q.copy()
        q[self.arm_idx_q] = np.asarray(q_arm, dtype=float)
        return q

    def fk(self, q_arm: np.ndarray) -> np.ndarray:
        pin = self._pin
        pin.framesForwardKinematics(self.model, self.data, self._full_q(q_arm))
        base = self.data.oMf[self.base_frame]
        return (base.inverse() * self.data.oMf[self.ee_frame]).homogeneous

    def fk_path(self, q_arm_path: np.ndarray) -> np.ndarray:
        """(N, 3) end-effector positions for an (N, n_arm) joint path."""
        return np.array([self.fk(q)[:3, 3] for q in np.atleast_2d(q_arm_path)])

    def jacobian(self, q_arm: np.ndarray) -> np.ndarray:
        """6 x n_arm Jacobian of ``ee_link`` in the base frame (LOCAL_WORLD_ALIGNED)."""
        pin = self._pin
        q = self._full_q(q_arm)
        pin.computeJointJacobians(self.model, self.data, q)
        pin.updateFramePlacements(self.model, self.data)
        j = pin.getFrameJacobian(self.model, self.data, self.ee_frame, pin.LOCAL_WORLD_ALIGNED)
        return j[:, self.arm_idx_v]


def _read_joint_limits_yaml(path: str | Path) -> dict[str, dict]:
    p = Path(path)
    if not p.is_file():
        raise RobotModelError(f"joint limits file not found: {p}")
    data = yaml.safe_load(p.read_text()) or {}
    if "joint_limits" not in data or not isinstance(data["joint_limits"], dict):
        raise RobotModelError(f"{p}: expected a top-level 'joint_limits' mapping")
    return data["joint_limits"]


def _merge_limits(name: str, base: JointLimits, extra: dict) -> JointLimits:
    """Apply MoveIt-style limits; they may tighten the URDF's, never loosen them."""
    out = base
    for key, flag, field_name in (
        ("max_velocity", "has_velocity_limits", "velocity"),
        ("max_acceleration", "has_acceleration_limits", "acceleration"),
        ("max_jerk", "has_jerk_limits", "jerk"),
    ):
        if extra.get(flag) and key in extra:
            value = float(extra[key])
            if not value > 0 or not math.isfinite(value):
                raise RobotModelError(f"joint_limits.{name}.{key} must be positive and finite, got {value}")
            out = replace(out, **{field_name: min(value, getattr(out, field_name))})
    return out
