"""Disturbances injected into the simulated world mid-episode, to test what notices them (ROS-free).

The kinds, and what they edit:

* ``cube_moved``: a cube is pushed ``distance`` m across the table (MjData edit);
* ``cube_removed``: a cube is taken off the table (moved far below it, out of every view);
* ``arm_blocked``: the arm joints meet a huge resistance, as when the arm pushes against an
  obstacle (MjModel ``dof_damping``): the arm barely moves whatever it is commanded;
* ``heavy_payload``: a ``payload`` kg mass in the gripper that gravity compensation does not
  know about (MjModel ``body_mass``/``body_gravcomp`` of the end-effector body): the arm sags;
* ``camera_occluded``: something dark covers ``occlusion`` of a camera's image (image edit);
* ``camera_frozen``: a camera keeps delivering the frame it had when frozen (image edit).

``Disturbance.apply`` makes the world edits on a ``MujocoArm`` and ``revert`` undoes them;
``edit_images`` applies the image edits to one set of rendered frames. The simulator
node and the headless evaluation (``bench/bench_surprise.py``) both use these.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np

from wam_ros.sim.mujoco_arm import CUBE_NAMES, MujocoArm

KINDS = ("cube_moved", "cube_removed", "arm_blocked", "heavy_payload", "camera_occluded", "camera_frozen")
#: Kinds that edit the world (the rest edit camera images).
WORLD_KINDS = KINDS[:4]
#: ``dof_damping`` [N m s/rad] of a blocked arm joint.
BLOCKED_DAMPING = 1e5


@dataclass
class Disturbance:
    """One disturbance of ``kind``; ``cube``/``camera`` default to the first cube/camera it is applied to."""

    kind: str
    cube: str = CUBE_NAMES[0]
    camera: str = "scene"
    distance: float = 0.12  # m a moved cube travels
    payload: float = 3.0  # kg in the gripper
    occlusion: float = 0.5  # share of the image covered (a band from the left)
    _saved: dict = field(default_factory=dict, repr=False)
    _frozen: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"disturbance '{self.kind}' must be one of {list(KINDS)}")
        if self.cube not in CUBE_NAMES:
            raise ValueError(f"disturbance cube '{self.cube}' must be one of {list(CUBE_NAMES)}")
        if not 0.0 < self.occlusion <= 1.0:
            raise ValueError(f"occlusion {self.occlusion} must be within (0, 1]")

    # ------------------------------------------------------------------ world edits
    def apply(self, arm: MujocoArm) -> None:
        """Make the world edit (nothing for the image kinds); ``revert`` undoes it."""
        m, d = arm.model, arm.data
        if self.kind == "cube_moved":
            pos = arm.object_positions()[self.cube]
            toward = -np.sign(pos[1]) or 1.0  # across the table, toward its middle line and beyond
            arm.set_objects({self.cube: pos + np.array([0.0, toward * self.distance, 0.0])})
        elif self.kind == "cube_removed":
            pos = arm.object_positions()[self.cube]
            self._saved["cube"] = pos
            arm.set_objects({self.cube: np.array([pos[0], pos[1], -5.0])})  # falls on, far below every view
        elif self.kind == "arm_blocked":
            dofs = np.array([m.jnt_dofadr[m.joint(n).id] for n in arm.robot.arm_joints])
            self._saved["damping"] = (dofs, m.dof_damping[dofs].copy())
            m.dof_damping[dofs] = BLOCKED_DAMPING
        elif self.kind == "heavy_payload":
            body = m.body(arm.robot.ee_link).id
            mass = float(m.body_mass[body])
            self._saved["payload"] = (body, mass, float(m.body_gravcomp[body]), m.body_inertia[body].copy())
            m.body_mass[body] = mass + self.payload
            m.body_inertia[body] += self.payload * 0.05**2 / 6  # a 5 cm cube of it
            m.body_gravcomp[body] = mass / (mass + self.payload)  # the controller compensates the arm, not the load
            mujoco.mj_setConst(m, d)

    def revert(self, arm: MujocoArm) -> None:
        """Undo ``apply`` (a removed cube comes back where it was)."""
        m = arm.model
        if "cube" in self._saved:
            arm.set_objects({self.cube: self._saved.pop("cube")})
        if "damping" in self._saved:
            dofs, damping = self._saved.pop("damping")
            m.dof_damping[dofs] = damping
        if "payload" in self._saved:
            body, mass, gravcomp, inertia = self._saved.pop("payload")
            m.body_mass[body], m.body_gravcomp[body], m.body_inertia[body] = mass, gravcomp, inertia
            mujoco.mj_setConst(m, arm.data)
        self._frozen = None

    # ------------------------------------------------------------------ image edits
    def edit_image(self, camera: str, image: np.ndarray) -> np.ndarray:
        """``image`` as the disturbed camera delivers it (unchanged for other cameras and kinds)."""
        if camera != self.camera:
            return image
        if self.kind == "camera_occluded":
            out = image.copy()
            w = max(1, round(self.occlusion * image.shape[1]))
            out[:, :w] = (30, 26, 24)  # a dark sleeve across the view
            return out
        if self.kind == "camera_frozen":
            if self._frozen is None:
                self._frozen = image.copy()
            return self._frozen
        return image

    def edit_images(self, images: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {cam: self.edit_image(cam, img) for cam, img in images.items()}
