"""``wam-train-world``: give a trained tiny WAM a world head, trained on simulator rollouts, the rest frozen.

``python -m wam_ros.tiny_wam.world_training ROLLOUTS.npz [...] --init-from checkpoints/tiny_wam --out DIR
--calibration scene=config/sim_scene_camera.yaml --calibration wrist=config/sim_wrist_camera.yaml``

Every weight of ``--init-from`` is kept and frozen (the action half, whose closed-loop success
is measured, is bit-for-bit the same); only the world head (``world_head.py``) trains. A sample is
one tick of a rollout chunk (``world_data.py``): the frame and joints at that tick, the chunk's
joint targets from there (held after its end), the cues they give (``world_cues.py``, from the
calibrations, which the checkpoint then carries), and the real frames ``frame_steps()`` ticks later.
Held out: the chunks of a share of the scenes, scored every ``--eval-every`` steps as PSNR of the
prediction and of copying the current frame, whole frame and changed pixels.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from wam_ros.camera.pinhole import CalibrationError, PinholeCamera, load_calibrations
from wam_ros.tiny_wam.checkpoint import WEIGHTS, CheckpointError, load_meta, save_checkpoint
from wam_ros.tiny_wam.data import frames_to_tensor, tensor_to_frames
from wam_ros.tiny_wam.image_metrics import changed_pixels, psnr
from wam_ros.tiny_wam.model import TinyWam, TinyWamConfig
from wam_ros.tiny_wam.training import learning_rate
from wam_ros.tiny_wam.world_cues import WorldCues
from wam_ros.tiny_wam.world_data import WorldRollouts


class WorldTrainingError(ValueError):
    """The rollouts, checkpoint or options do not fit together; the message says why."""


@dataclass
class WorldTrainOptions:
    rollouts: list[Path]
    init_from: Path
    out: Path
    calibrations: dict[str, PinholeCamera] = field(default_factory=dict)  # camera -> calibration
    # the bundled checkpoint's recipe (its head is step 200 of these 400: docs/wam_history.md)
    steps: int = 400
    batch_size: int = 12
    lr: float = 3e-3
    seed: int = 0
    val_fraction: float = 0.1  # share of the scenes held out
    eval_every: int = 250
    starts: int = 5  # ticks of each chunk used as sample starts (0 .. starts-1)
    num_threads: int = 2
    model: dict = field(default_factory=dict)  # world_* overrides of TinyWamConfig


def build_world_model(init_from: Path, overrides: dict) -> tuple[TinyWam, object]:
    """The checkpoint's model with a world head (fresh, or the checkpoint's own to continue), everything else
    loaded from it and frozen."""
    meta = load_meta(init_from)
    bad = sorted(k for k in overrides if not k.startswith("world_"))
    if bad:
        raise WorldTrainingError(f"--model may set only world_* fields here, got {bad}")
    cfg = TinyWamConfig.from_dict({**meta.model.to_dict(), **overrides, "world_head": True})
    model = TinyWam(cfg)
    try:
        missing, unexpected = model.load_state_dict(load_file(str(Path(init_from) / WEIGHTS)), strict=False)
    except RuntimeError as exc:
        raise WorldTrainingError(f"weights in {init_from} do not fit its config (or the world_* overrides): "
                                 f"{exc}") from exc
    stray = sorted(k for k in missing if not k.startswith("world_head."))
    if unexpected or stray:
        raise WorldTrainingError(f"{init_from}: weights missing {stray}, unexpected {sorted(unexpected)}")
    n = meta.normalization
    model.set_normalization(n.state_mean, n.state_std, n.action_mean, n.action_std)
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("world_head."))
    meta.model = cfg
    return model, meta


class WorldSamples:
    """Every (chunk, start tick) of the rollouts with its cues, built once (the cues need FK and projections)."""

    def __init__(self, data: WorldRollouts, chunks: np.ndarray, cfg: TinyWamConfig, cues: WorldCues, starts: int):
        steps = cfg.frame_steps()
        horizon = data.actions.shape[1]
        if max(steps) > horizon or starts + max(steps) > data.frames.shape[2]:
            raise WorldTrainingError(f"rollout chunks of {horizon} actions cannot give frames {max(steps)} ticks "
                                     f"ahead of {starts} start ticks")
        self.data, self.cfg = data, cfg
        self.index = [(int(m), i) for m in chunks for i in range(starts)]
        self.steps = steps
        n = len(self.index)
        c, k, (h, w) = len(data.cameras), len(steps), cfg.image_size
        self.grids = np.zeros((n, c, k, h, w, 2), dtype=np.float16)
        self.maps = np.zeros((n, c, k, 3, h, w), dtype=np.float16)
        for j, (m, i) in enumerate(self.index):
            g, mp = cues(data.states[m, i], self.actions(m, i)[[s - 1 for s in steps]])
            self.grids[j], self.maps[j] = g, mp

    def actions(self, m: int, i: int) -> np.ndarray:
        """The chunk's targets from tick ``i`` on ([H, J], action j at (j + 1) * period), the last one held."""
        a = self.data.actions[m]
        return a[np.minimum(np.arange(i, i + len(a)), len(a) - 1)]

    def __len__(self) -> int:
        return len(self.index)

    def batch(self, rows: np.ndarray) -> dict[str, torch.Tensor]:
        d = self.data
        ms = [self.index[r] for r in rows]
        return {
            "images": frames_to_tensor(np.stack([d.frames[m, :, i][:, None] for m, i in ms])),
            "state": torch.as_tensor(np.stack([d.states[m, i] for m, i in ms]), dtype=torch.float32),
            "actions": torch.as_tensor(np.stack([self.actions(m, i) for m, i in ms]), dtype=torch.float32),
            "future_frames": frames_to_tensor(np.stack([d.frames[m][:, [i + s for s in self.steps]] for m, i in ms])),
            "world_grids": torch.from_numpy(self.grids[rows].astype(np.float32)),
            "world_maps": torch.from_numpy(self.maps[rows].astype(np.float32)),
        }


@torch.no_grad()
def score(model: TinyWam, samples: WorldSamples, rows: np.ndarray, batch_size: int = 32) -> dict[str, float]:
    """Mean PSNR (dB) of the prediction and of copying the current frame, whole frame and changed pixels,
    over every camera and offset of ``rows`` where something changed."""
    model.eval()
    acc: dict[str, list[float]] = {"pred": [], "copy": [], "pred_changed": [], "copy_changed": []}
    for s in range(0, len(rows), batch_size):
        b = samples.batch(rows[s : s + batch_size])
        pred = tensor_to_frames(model.predict_frames(b["images"], b["state"], b["actions"], b["world_grids"],
                                                     b["world_maps"]))
        real, cur = tensor_to_frames(b["future_frames"]), tensor_to_frames(b["images"][:, :, -1])
        for r in range(len(pred)):
            for c in range(pred.shape[1]):
                for k in range(pred.shape[2]):
                    mask = changed_pixels(cur[r, c], real[r, c, k], 0.1)
                    if not mask.any():  # nothing moved: copying is exact (infinite PSNR), nothing to compare
                        continue
                    acc["pred"].append(psnr(pred[r, c, k], real[r, c, k]))
                    acc["copy"].append(psnr(cur[r, c], real[r, c, k]))
                    acc["pred_changed"].append(psnr(pred[r, c, k], real[r, c, k], mask))
                    acc["copy_changed"].append(psnr(cur[r, c], real[r, c, k], mask))
    model.train()
    return {k: float(np.mean(v)) for k, v in acc.items() if v}


def train_world(opts: WorldTrainOptions) -> Path:
    torch.set_num_threads(opts.num_threads)
    torch.manual_seed(opts.seed)
    model, meta = build_world_model(opts.init_from, opts.model)
    cfg = model.cfg
    data = WorldRollouts.load(*opts.rollouts)
    if data.cameras != tuple(meta.cameras) or data.joint_names != tuple(meta.joint_names):
        raise WorldTrainingError(f"rollouts have cameras {list(data.cameras)} / joints {list(data.joint_names)}, the "
                                 f"checkpoint {list(meta.cameras)} / {list(meta.joint_names)}")
    if abs(data.period - meta.action_period) > 1e-9 or tuple(data.frames.shape[3:5]) != tuple(cfg.image_size):
        raise WorldTrainingError(f"rollouts at {data.period} s, {data.frames.shape[3:5]} px; the checkpoint at "
                                 f"{meta.action_period} s, {cfg.image_size} px")
    calibrations = {**meta.cameras_calibrated(), **opts.calibrations}  # continuing: the checkpoint's own
    cues = WorldCues(meta.cameras, calibrations, meta.joint_names, cfg.image_size, cfg.world_plane_z)
    meta.calibrations = {name: cam.to_dict() for name, cam in calibrations.items() if name in meta.cameras}
    rng = np.random.default_rng(opts.seed)
    scenes = np.unique(data.seeds) if data.seeds is not None else np.arange(len(data))
    held = set(rng.permutation(scenes)[: max(1, round(len(scenes) * opts.val_fraction))].tolist())
    key = data.seeds if data.seeds is not None else np.arange(len(data))
    t0 = time.monotonic()
    train = WorldSamples(data, np.flatnonzero([s not in held for s in key]), cfg, cues, opts.starts)
    val = WorldSamples(data, np.flatnonzero([s in held for s in key]), cfg, cues, opts.starts)
    print(f"[wam-train-world] {len(train)} train / {len(val)} val samples ({len(held)} held-out scenes), cues in "
          f"{time.monotonic() - t0:.0f} s; world head {sum(p.numel() for p in model.world_head.parameters()) / 1e6:.2f}"
          f" M parameters", flush=True)
    val_rows = rng.permutation(len(val))[:64]
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=opts.lr, weight_decay=1e-4)
    history: list[dict] = []
    model.train()
    t0 = time.monotonic()
    for step in range(1, opts.steps + 1):
        for g in optim.param_groups:
            g["lr"] = learning_rate(step - 1, opts.lr, opts.steps)
        loss = model.world_loss(train.batch(rng.integers(len(train), size=opts.batch_size)))
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        if step % opts.eval_every == 0 or step == opts.steps:
            entry = {"step": step, "loss": float(loss.detach()), "elapsed_s": round(time.monotonic() - t0, 1),
                     "val": score(model, val, val_rows)}
            history.append(entry)
            print(f"[wam-train-world] {json.dumps(entry)}", flush=True)
            save_world(opts, model, meta, history, (len(train), len(val)))
    return opts.out


def save_world(opts: WorldTrainOptions, model: TinyWam, meta, history: list[dict], split: tuple[int, int]) -> None:
    meta.extra = {**meta.extra, "world_head": {
        "rollouts": [str(p) for p in opts.rollouts], "init_from": str(opts.init_from), "steps": history[-1]["step"],
        "batch_size": opts.batch_size, "lr": opts.lr, "seed": opts.seed, "samples": {"train": split[0],
                                                                                       "val": split[1]},
        "history": history[-10:]}}
    save_checkpoint(opts.out, model, meta)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="wam-train-world", description=__doc__.splitlines()[0])
    ap.add_argument("rollouts", type=Path, nargs="+", help="world_data.py .npz files")
    ap.add_argument("--init-from", type=Path, required=True, help="the trained tiny WAM (its weights stay frozen)")
    ap.add_argument("--out", type=Path, required=True, help="checkpoint directory to write")
    ap.add_argument("--calibration", action="append", default=[], metavar="CAMERA=FILE",
                    help="every camera's calibration (the checkpoint's own when it has them)")
    ap.add_argument("--steps", type=int, default=WorldTrainOptions.steps)
    ap.add_argument("--batch-size", type=int, default=WorldTrainOptions.batch_size)
    ap.add_argument("--lr", type=float, default=WorldTrainOptions.lr)
    ap.add_argument("--seed", type=int, default=WorldTrainOptions.seed)
    ap.add_argument("--eval-every", type=int, default=WorldTrainOptions.eval_every)
    ap.add_argument("--starts", type=int, default=WorldTrainOptions.starts)
    ap.add_argument("--threads", type=int, default=WorldTrainOptions.num_threads)
    ap.add_argument("--model", type=json.loads, default={}, help="world_* TinyWamConfig overrides as JSON")
    a = ap.parse_args(argv)
    try:
        train_world(WorldTrainOptions(a.rollouts, a.init_from, a.out, load_calibrations(a.calibration), a.steps,
                                      a.batch_size, a.lr, a.seed, eval_every=a.eval_every, starts=a.starts,
                                      num_threads=a.threads, model=a.model))
    except (WorldTrainingError, CheckpointError, CalibrationError, FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"wam-train-world: {exc}") from exc


if __name__ == "__main__":
    main()
