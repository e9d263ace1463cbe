"""What the world head is told about a chunk's future, in image space: where the arm will be, how a wrist view moves.

The chunk's joint targets at a predicted time fix, through forward kinematics and the cameras'
calibrations, two things a network would otherwise have to learn from pixels (and, in a few
thousand CPU steps, does not: docs/wam_history.md):

* **arm maps**: points along the arm's kinematic chain (every joint origin, the end effector,
  and points between them), projected into each camera at the joints now and at the target,
  splatted into two [H, W] maps. The head paints the arm where the second map says and the
  background where the first said.
* **view warp**: a camera on the end effector sees the whole scene move with the arm. Each
  pixel of the future view is cast onto the support plane (``plane_z`` in the base frame: the
  table, on which the cubes lie) and projected into the current view: a ``grid_sample`` grid
  [H, W, 2] that moves the current frame to where the camera will be, plus a map of the
  pixels that found a source. A static camera's grid is the identity.

All coordinates are the model's: (x, y) in [-1, 1] on pixel centres of the H x W frame
(``pixel_grid``; ``grid_sample(..., align_corners=True)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from wam_ros.camera.pinhole import PinholeCamera
from wam_ros.robot.model import RobotModel

#: channels of the maps, in order
MAP_CHANNELS = ("valid", "arm_now", "arm_target")


class WorldCuesError(ValueError):
    """The cues cannot be made for this robot or these cameras; the message says why."""


class WorldCues:
    """(joints now, joint targets at K times) -> (warp grids [C, K, H, W, 2], maps [C, K, 3, H, W]), float32."""

    def __init__(
        self,
        cameras: Sequence[str],
        calibrations: dict[str, PinholeCamera],
        joint_names: Sequence[str],
        image_size: tuple[int, int],
        plane_z: float = 0.0,
        robot: RobotModel | None = None,
        points_per_link: int = 8,
        sigma_px: float = 1.0,
    ) -> None:
        missing = [c for c in cameras if c not in calibrations]
        if missing:
            raise WorldCuesError(f"the world head needs a calibration of every camera; none for {missing}")
        self.robot = robot or RobotModel.load()
        absent = [j for j in self.robot.arm_joints if j not in joint_names]
        if absent:
            raise WorldCuesError(f"the world head needs the arm joints {absent} in the state {list(joint_names)}")
        self.arm = [list(joint_names).index(j) for j in self.robot.arm_joints]
        self.cameras = tuple(cameras)
        self.calibrations = {c: calibrations[c] for c in self.cameras}
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.plane_z = float(plane_z)
        self.points_per_link = int(points_per_link)
        self.sigma = float(sigma_px)
        kin = self.robot.kinematics
        self._kin = kin
        m = kin.model
        # the chain as segments (joint -> parent joint), the end-effector frame hanging off its parent joint
        self._segments = [(j, int(m.parents[j])) for j in range(2, m.njoints)]
        self._ee_parent = int(m.frames[kin.ee_frame].parentJoint)
        h, w = self.image_size
        self._yy, self._xx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")

    # ------------------------------------------------------------------ geometry
    def arm_points(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(points along the arm [P, 3] in the base frame, base_from_ee 4x4) for the state ``q`` [J]."""
        kin = self._kin
        base_from_ee = kin.fk(np.asarray(q, dtype=float)[self.arm])  # also updates kin.data
        base_inv = kin.data.oMf[kin.base_frame].inverse()
        origin = [(base_inv * kin.data.oMi[j]).translation for j in range(kin.model.njoints)]
        pairs = [(origin[a], origin[b]) for a, b in self._segments] + [(base_from_ee[:3, 3], origin[self._ee_parent])]
        s = np.linspace(0.0, 1.0, self.points_per_link)[:, None]
        pts = np.concatenate([a + s * (b - a) for a, b in pairs])
        return pts, base_from_ee

    def splat(self, cam: PinholeCamera, points: np.ndarray, base_from_ee: np.ndarray) -> np.ndarray:
        """Points projected into ``cam`` as Gaussian dots (a 5x5-pixel window each), [H, W] in [0, 1]."""
        h, w = self.image_size
        yx, visible = cam.normalized(points, self.image_size, base_from_ee if cam.parent == "ee" else None)
        out = np.zeros((h, w))
        if not visible.any():
            return out
        py = (yx[visible, 0] + 1) * (h - 1) / 2  # pixel coordinates on the H x W grid
        px = (yx[visible, 1] + 1) * (w - 1) / 2
        off = np.arange(-2, 3)
        iy = np.round(py)[:, None, None] + off[None, :, None]
        ix = np.round(px)[:, None, None] + off[None, None, :]
        g = np.exp(-((iy - py[:, None, None]) ** 2 + (ix - px[:, None, None]) ** 2) / (2 * self.sigma**2))
        iy, ix = np.broadcast_arrays(iy, ix)
        ok = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
        np.maximum.at(out, (iy[ok].astype(int), ix[ok].astype(int)), g[ok])
        return out

    def warp(self, cam: PinholeCamera, ee_now: np.ndarray, ee_then: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(grid [H, W, 2] as (x, y), valid [H, W]): where each pixel of the view at ``ee_then`` was in the view at
        ``ee_now``, for a scene on the plane z = ``plane_z``. Identity for a static camera."""
        h, w = self.image_size
        if cam.parent == "base":
            return np.stack([self._xx, self._yy], -1), np.ones((h, w))
        pose = cam.base_from_camera(ee_then)
        u = (np.arange(w) + 0.5) * cam.width / w - 0.5
        v = (np.arange(h) + 0.5) * cam.height / h - 0.5
        uu, vv = np.meshgrid(u, v)
        rays_cam = np.stack([uu, vv, np.ones_like(uu)], -1).reshape(-1, 3) @ np.linalg.inv(cam.K).T
        rays = rays_cam @ pose[:3, :3].T
        dz = rays[:, 2]
        lam = (self.plane_z - pose[2, 3]) / np.where(np.abs(dz) > 1e-9, dz, 1e-9)
        hit = lam > 0
        pts = pose[:3, 3] + np.where(hit, lam, 0.0)[:, None] * rays
        yx, inside = cam.normalized(pts, self.image_size, ee_now)
        valid = hit & inside
        grid = np.where(valid[:, None], yx[:, ::-1], np.stack([self._xx, self._yy], -1).reshape(-1, 2))
        return grid.reshape(h, w, 2), valid.reshape(h, w).astype(float)

    def __call__(self, state: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``state`` [J] (joints now), ``targets`` [K, J] (the chunk's joint targets at each predicted time) ->
        (grids [C, K, H, W, 2], maps [C, K, 3, H, W]: valid, arm now, arm at the target), float32."""
        h, w = self.image_size
        k = len(targets)
        now_pts, ee_now = self.arm_points(state)
        then = [self.arm_points(t) for t in targets]
        grids = np.zeros((len(self.cameras), k, h, w, 2), dtype=np.float32)
        maps = np.zeros((len(self.cameras), k, len(MAP_CHANNELS), h, w), dtype=np.float32)
        for c, name in enumerate(self.cameras):
            cam = self.calibrations[name]
            arm_now = self.splat(cam, now_pts, ee_now)
            for i, (pts, ee_then) in enumerate(then):
                grids[c, i], maps[c, i, 0] = self.warp(cam, ee_now, ee_then)
                maps[c, i, 1] = arm_now
                maps[c, i, 2] = self.splat(cam, pts, ee_then)
        return grids, maps
