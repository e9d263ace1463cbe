"""The arm in MuJoCo: the project's URDF plus a table, three cubes, lights and two cameras.

The model is built from the same URDF every other node reads (via ``mujoco.MjSpec``),
so joint names, limits and kinematics cannot drift. The arm is driven by position
servos (with velocity feed-forward and gravity compensation, like a well-tuned
ros2_control position interface); the mimic finger is an equality constraint.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import mujoco
import numpy as np

from wam_ros.camera.pinhole import PinholeCamera
from wam_ros.robot.model import DEFAULT_EE_LINK, RobotModel
from wam_ros.sim.scene import CAMERAS, CUBE_NAMES, CUBE_RGBA, CUBE_SIZE, TABLE_TOP_Z

# Servo gains per joint kind. Armature models the reflected rotor inertia of a geared
# joint; it also keeps the stiff wrist servos stable at a 2 ms time step.
_ARM_KP = (2500.0, 2500.0, 1800.0, 400.0, 400.0, 250.0)
_ARM_ARMATURE = (0.3, 0.3, 0.15, 0.03, 0.03, 0.02)
_GRIPPER_KP = 400.0
_GRIPPER_ARMATURE = 0.05
_DAMPING = 6.0  # kv = _DAMPING * sqrt(kp * armature): tuned so a step settles in ~0.25 s without overshoot


@dataclass(frozen=True)
class CameraSpec:
    name: str
    fovy: float  # degrees, vertical field of view


def initial_positions(robot: RobotModel) -> np.ndarray:
    """Home pose (actuated order): the ``initial_value`` of each joint's position state in the URDF.

    The ros2_control block of the URDF is where a mock/real system reads its start
    state, so the simulator starts from the same one.
    """
    root = ET.fromstring(robot.urdf_xml)
    values: dict[str, float] = {}
    for joint in root.iter("joint"):
        for state in joint.findall("state_interface"):
            if state.get("name") == "position":
                for p in state.findall("param"):
                    if p.get("name") == "initial_value":
                        values[joint.get("name", "")] = float(p.text or 0.0)
    q = np.zeros(len(robot.actuated_joints))
    for i, name in enumerate(robot.actuated_joints):
        lim = robot.joints[name].limits
        q[i] = np.clip(values.get(name, 0.0), lim.lower, lim.upper)
    return q


def _look_at_quat(pos: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Quaternion of a MuJoCo camera at ``pos`` looking at ``target`` (cameras look along -z), world z up."""
    up = np.array([0.0, 0.0, 1.0])
    fwd = target - pos
    fwd = fwd / np.linalg.norm(fwd)
    right = np.cross(fwd, up)
    right /= np.linalg.norm(right)
    cam_up = np.cross(right, fwd)
    mat = np.column_stack([right, cam_up, -fwd]).reshape(-1)
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, mat)
    return quat


def build_spec(robot: RobotModel) -> mujoco.MjSpec:
    """The scene as an MjSpec: the robot's URDF + table, cubes, lights, cameras, servos."""
    xml = re.sub(r"<ros2_control.*?</ros2_control>", "", robot.urdf_xml, flags=re.S)
    # Keep every link as its own body (tool0 and the gripper frame are needed by name).
    xml = re.sub(
        r"(<robot\b[^>]*>)",
        r'\1<mujoco><compiler fusestatic="false" discardvisual="true" balanceinertia="true"/></mujoco>',
        xml,
        count=1,
    )
    spec = mujoco.MjSpec.from_string(xml)
    spec.option.timestep = 0.002
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.visual.global_.offwidth = 640
    spec.visual.global_.offheight = 480
    spec.visual.quality.shadowsize = 0  # no shadow pass: cheaper software rendering

    robot_bodies = [b for b in spec.bodies if b.name not in ("world", "")]
    for body in robot_bodies:
        body.gravcomp = 1.0  # the servo holds its own weight, as a tuned controller would
    # Robot geoms collide with the world (table, cubes) but not with each other.
    for geom in spec.geoms:
        geom.contype, geom.conaffinity = 2, 1
        geom.rgba = (0.55, 0.57, 0.62, 1)

    world = spec.worldbody
    table = world.add_geom(
        name="table",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=(0.6, 0.6, 0.02),
        pos=(0.3, 0.0, TABLE_TOP_Z - 0.02),
        rgba=(0.75, 0.68, 0.55, 1),
    )
    table.contype, table.conaffinity = 1, 3
    floor = world.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=(2, 2, 0.1), pos=(0, 0, -0.75))
    floor.rgba = (0.35, 0.37, 0.4, 1)
    floor.contype, floor.conaffinity = 0, 0
    world.add_light(name="key", pos=(0.6, -0.6, 2.0), dir=(-0.2, 0.3, -1.0), diffuse=(0.7, 0.7, 0.7))
    world.add_light(name="fill", pos=(-0.5, 0.5, 1.5), dir=(0.4, -0.3, -1.0), diffuse=(0.35, 0.35, 0.35))
    spec.visual.headlight.ambient = (0.35, 0.35, 0.35)

    for name in CUBE_NAMES:
        cube = world.add_body(name=name, pos=(0.5, 0.0, TABLE_TOP_Z + CUBE_SIZE / 2))
        cube.add_freejoint(name=f"{name}_joint")
        g = cube.add_geom(
            name=f"{name}_geom",
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=(CUBE_SIZE / 2,) * 3,
            rgba=CUBE_RGBA[name],
            mass=0.05,
        )
        g.contype, g.conaffinity = 1, 3

    cam_pos = np.array([1.05, 0.3, 0.6])
    world.add_camera(name="scene", pos=cam_pos, quat=_look_at_quat(cam_pos, np.array([0.42, 0.0, 0.12])), fovy=55)
    # Wrist camera on the gripper, beside the fingers, looking along the tool axis (+z).
    gripper = spec.body(robot.joints[robot.gripper_joints[0]].parent) if robot.gripper_joints else None
    mount = gripper if gripper is not None else spec.body(robot.ee_link)
    # A MuJoCo camera looks along its -z: rotating 180 deg about x makes it look along the tool axis.
    mount.add_camera(name="wrist", pos=(0.07, 0.0, 0.0), quat=(0.0, 1.0, 0.0, 0.0), fovy=70)

    limits = robot.limits()
    for i, jname in enumerate(robot.actuated_joints):
        joint = spec.joint(jname)
        is_arm = jname in robot.arm_joints
        kp = _ARM_KP[min(i, len(_ARM_KP) - 1)] if is_arm else _GRIPPER_KP
        joint.armature = _ARM_ARMATURE[min(i, len(_ARM_ARMATURE) - 1)] if is_arm else _GRIPPER_ARMATURE
        act = spec.add_actuator(name=f"{jname}_servo", target=jname, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        kv = _DAMPING * np.sqrt(kp * max(joint.armature, 1e-3))
        act.set_to_position(kp=kp, kv=kv)
        act.ctrllimited = 0
        effort = limits["effort"][i]
        if np.isfinite(effort):
            act.forcelimited = 1
            act.forcerange = (-effort, effort)
    return spec


class MujocoArm:
    """Model + data of the simulated arm; position targets in, joint/object state out."""

    def __init__(self, robot: RobotModel) -> None:
        self.robot = robot
        self.spec = build_spec(robot)
        self.model = self.spec.compile()
        self.data = mujoco.MjData(self.model)
        m = self.model
        self.actuated = robot.actuated_joints
        #: every non-fixed URDF joint (incl. the mimic finger), as /joint_states reports them
        self.all_joints = tuple(
            n for n, js in robot.joints.items() if js.type in ("revolute", "continuous", "prismatic")
        )
        self._qadr = np.array([m.jnt_qposadr[m.joint(n).id] for n in self.all_joints])
        self._dadr = np.array([m.jnt_dofadr[m.joint(n).id] for n in self.all_joints])
        self._act_q = np.array([m.jnt_qposadr[m.joint(n).id] for n in self.actuated])
        self._act_d = np.array([m.jnt_dofadr[m.joint(n).id] for n in self.actuated])
        self._act_ids = np.array([m.actuator(f"{n}_servo").id for n in self.actuated])
        self._kp = m.actuator_gainprm[self._act_ids, 0].copy()
        self._kv = -m.actuator_biasprm[self._act_ids, 2].copy()
        self._ee_body = m.body(robot.ee_link).id
        self._cube_q = {n: m.jnt_qposadr[m.joint(f"{n}_joint").id] for n in CUBE_NAMES}
        self._mimic = [
            (m.jnt_qposadr[m.joint(n).id], m.jnt_qposadr[m.joint(js.mimic_of).id])
            for n, js in robot.joints.items()
            if js.mimic_of
        ]
        self.timestep = float(m.opt.timestep)
        #: URDF velocity limits of the actuated joints, enforced on every physics step (a drive's velocity loop)
        self.velocity_limit = np.asarray(robot.limits(self.actuated)["velocity"], dtype=float)
        self.velocity_clamps = 0  # physics steps in which a joint was held to its velocity limit
        self.home = initial_positions(robot)
        self.set_joint_positions(self.home)

    # ------------------------------------------------------------------ state
    @property
    def time(self) -> float:
        return float(self.data.time)

    def joint_positions(self) -> np.ndarray:
        """Positions of ``all_joints`` (arm, gripper and mimic finger)."""
        return self.data.qpos[self._qadr].copy()

    def joint_velocities(self) -> np.ndarray:
        return self.data.qvel[self._dadr].copy()

    def actuated_positions(self) -> np.ndarray:
        return self.data.qpos[self._act_q].copy()

    def actuated_velocities(self) -> np.ndarray:
        return self.data.qvel[self._act_d].copy()

    def ee_position(self) -> np.ndarray:
        return self.data.xpos[self._ee_body].copy()

    def object_positions(self) -> dict[str, np.ndarray]:
        return {n: self.data.qpos[a : a + 3].copy() for n, a in self._cube_q.items()}

    # ------------------------------------------------------------------ control
    def set_joint_positions(self, q: np.ndarray) -> None:
        """Teleport the actuated joints to ``q`` at rest (reset); the servos target it."""
        self.data.qpos[self._act_q] = q
        for dst, src in self._mimic:
            self.data.qpos[dst] = self.data.qpos[src]
        self.data.qvel[:] = 0.0
        self.data.ctrl[self._act_ids] = q
        mujoco.mj_forward(self.model, self.data)

    def set_objects(self, positions: dict[str, np.ndarray]) -> None:
        for name, pos in positions.items():
            a = self._cube_q[name]
            self.data.qpos[a : a + 3] = pos
            self.data.qpos[a + 3 : a + 7] = (1, 0, 0, 0)
            d = self.model.jnt_dofadr[self.model.joint(f"{name}_joint").id]
            self.data.qvel[d : d + 6] = 0.0
        mujoco.mj_forward(self.model, self.data)

    def set_target(self, q: np.ndarray, v: np.ndarray | None = None) -> None:
        """Servo targets for the actuated joints; ``v`` adds velocity feed-forward.

        The position servo applies kp (ctrl - q) - kv qdot, so ctrl = q + kv/kp v gives
        kp (q_d - q) + kv (v_d - qdot): a PD with feed-forward and no tracking lag.
        """
        ctrl = np.asarray(q, dtype=float)
        if v is not None:
            ctrl = ctrl + self._kv / self._kp * np.asarray(v, dtype=float)
        self.data.ctrl[self._act_ids] = ctrl

    def step(self, n: int = 1) -> None:
        """``n`` physics steps; after each, no actuated joint moves faster than its URDF velocity limit.

        The servo targets are velocity-limited already (SimEnv), but a PD servo catching up
        a position error adds to the feed-forward: like a real drive's velocity loop, the
        joint saturates at its limit instead.
        """
        d, lim = self._act_d, self.velocity_limit
        for _ in range(n):
            mujoco.mj_step(self.model, self.data)
            v = self.data.qvel[d]
            over = np.abs(v) > lim
            if over.any():
                self.data.qvel[d] = np.clip(v, -lim, lim)
                self.velocity_clamps += 1


class ArmRenderer:
    """Offscreen renders of the named cameras from a joint/object snapshot.

    Owns its own MjData, so it can run in another thread than the physics: the
    physics thread hands it ``qpos`` copies and never shares its data.
    """

    def __init__(self, model: mujoco.MjModel, width: int, height: int) -> None:
        self.model = model
        self.data = mujoco.MjData(model)
        self.width, self.height = int(width), int(height)
        self.renderer = mujoco.Renderer(model, self.height, self.width)

    def intrinsics(self, camera: str) -> np.ndarray:
        """3x3 pinhole K from the camera's vertical field of view (square pixels)."""
        fovy = np.deg2rad(self.model.cam_fovy[self.model.camera(camera).id])
        f = 0.5 * self.height / np.tan(fovy / 2)
        return np.array([[f, 0, (self.width - 1) / 2], [0, f, (self.height - 1) / 2], [0, 0, 1.0]])

    def calibration(self, camera: str, ee_link: str = DEFAULT_EE_LINK) -> PinholeCamera:
        """The camera as a calibrated pinhole (optical frame; world = robot base) for this render size:
        a world-fixed camera relative to the base, the wrist camera relative to ``ee_link``."""
        cam = self.model.camera(camera)
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_camlight(self.model, self.data)
        pose = np.eye(4)
        # MuJoCo cameras look along -z with y up; the optical frame looks along +z with y down.
        pose[:3, :3] = self.data.cam_xmat[cam.id].reshape(3, 3) @ np.diag([1.0, -1.0, -1.0])
        pose[:3, 3] = self.data.cam_xpos[cam.id]
        if self.model.cam_bodyid[cam.id] == 0:
            return PinholeCamera(camera, self.width, self.height, self.intrinsics(camera), pose)
        ee = np.eye(4)
        body = self.model.body(ee_link).id
        ee[:3, :3] = self.data.xmat[body].reshape(3, 3)
        ee[:3, 3] = self.data.xpos[body]
        return PinholeCamera(camera, self.width, self.height, self.intrinsics(camera), np.linalg.inv(ee) @ pose, "ee")

    def render(self, qpos: np.ndarray, cameras: tuple[str, ...] = CAMERAS) -> dict[str, np.ndarray]:
        self.data.qpos[:] = qpos
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_camlight(self.model, self.data)
        out = {}
        for cam in cameras:
            self.renderer.update_scene(self.data, camera=cam)
            out[cam] = self.renderer.render().copy()
        return out

    def close(self) -> None:
        self.renderer.close()
