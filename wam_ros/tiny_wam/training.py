"""``wam-train``: train the tiny WAM on a LeRobot v3 dataset.

Samples are windows of recorded episodes: the context frames and joint state at frame
t, the next ``action_horizon`` commanded targets (frame t+1 ...) and the future frames
the model must predict at its frame steps. The dataset's fps must match the action
period (``fps * period == 1``), so action i lands on frame t+1+i exactly. Episodes are
split into train/validation by episode (never by frame: neighbouring frames are near
duplicates). Checkpoints are written periodically; ``--resume`` continues from the
last one (weights, optimiser, step and RNG state).

``torchrun --nproc_per_node=N wam-train ...`` trains data-parallel on N processes (one GPU each
on CUDA, gloo on CPU): ``--batch-size`` stays the global batch, each rank builds its slice of
it, rank 0 logs and writes the checkpoints (``distributed.py``).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from wam_ros.camera.pinhole import CalibrationError, PinholeCamera, calibration_files
from wam_ros.dataset.lerobot_v3 import ACTION_KEY, STATE_KEY, video_key
from wam_ros.dataset.reader import LeRobotDatasetReader
from wam_ros.resources import DEFAULT_CHECKPOINT
from wam_ros.robot.model import DEFAULT_EE_LINK, RobotModel, RobotModelError
from wam_ros.tiny_wam.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
from wam_ros.tiny_wam.color_permutation import permute_colors, random_permutation
from wam_ros.tiny_wam.data import Normalization, collate, resize_frame
from wam_ros.tiny_wam.defaults import DEVICE, DEVICES
from wam_ros.tiny_wam.distributed import DistributedContext, loss_function, mean_over_ranks, rank_seed, setup, teardown
from wam_ros.tiny_wam.model import TinyWam, TinyWamConfig

TRAIN_STATE = "train_state.pt"


class TrainingError(ValueError):
    """The dataset or the options cannot be trained on; the message says why."""


@dataclass
class Episode:
    task: str
    state: np.ndarray  # [T, J]
    action: np.ndarray  # [T, J]
    frames: np.ndarray  # [C, T, h, w, 3] uint8, resized to the model's image size
    target_yx: np.ndarray | None = None  # [T, C, 2]: where the episode's target point is in each image
    target_visible: np.ndarray | None = None  # [T, C] bool: calibrated cameras that see it

    @property
    def length(self) -> int:
        return int(self.state.shape[0])


@dataclass
class TrainOptions:
    dataset: Path
    out: Path
    steps: int = 3000
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 1e-4
    seed: int = 0
    val_episodes: float = 0.1  # fraction (< 1) or count (>= 1) of episodes held out
    eval_every: int = 250
    checkpoint_every: int = 500
    resume: bool = False
    init_from: Path | None = None  # fine-tune: start from this checkpoint's weights, normalisation and config
    num_threads: int = 2
    augment_colors: bool = False  # permute red/green/blue objects and colour words (color_permutation.py)
    start_fraction: float = 0.0  # share of windows drawn from each episode's first start_frames frames
    start_frames: int = 3
    model: dict = field(default_factory=dict)  # TinyWamConfig overrides
    # camera name -> calibration file (camera_calibration.py): supervises where the target pointer looks
    calibrations: dict[str, Path] = field(default_factory=dict)
    pointer_target_offset: tuple[float, float, float] = (0.0, 0.0, 0.0)  # m, base frame, from the final EE position
    urdf: Path | None = None  # the robot whose FK places the target (default: the bundled arm)
    ee_link: str = DEFAULT_EE_LINK  # the frame a wrist camera's calibration is relative to
    device: str = DEVICE  # auto (CUDA when available) | cuda | cpu; under torchrun on CUDA: GPU LOCAL_RANK


def dataset_layout(reader: LeRobotDatasetReader) -> tuple[tuple[str, ...], tuple[str, ...], float]:
    """(joint names, cameras, fps) from the dataset's info.json."""
    feats = reader.info["features"]
    if STATE_KEY not in feats or ACTION_KEY not in feats:
        raise TrainingError(f"dataset lacks '{STATE_KEY}' or '{ACTION_KEY}' features")
    names = feats[STATE_KEY].get("names")
    joints = tuple(names if isinstance(names, list) else (names or {}).get("motors", []))
    prefix = video_key("")
    cameras = tuple(sorted(k[len(prefix) :] for k, v in feats.items() if k.startswith(prefix)))
    if not joints or not cameras:
        raise TrainingError(f"dataset has joints {list(joints)} and cameras {list(cameras)}; need both")
    return joints, cameras, float(reader.info["fps"])


def load_episodes(reader: LeRobotDatasetReader, cameras: tuple[str, ...], image_size: tuple[int, int]) -> list[Episode]:
    episodes = []
    for e in tqdm(range(reader.num_episodes), desc="loading episodes", leave=False):
        data = reader.episode_data(e)
        per_cam = []
        for cam in cameras:
            frames, _ = reader.episode_frames(e, cam)
            per_cam.append(np.stack([resize_frame(f, image_size) for f in frames]))
        n = min(len(data[STATE_KEY]), *(len(f) for f in per_cam))
        episodes.append(
            Episode(
                reader.episode_task(e), data[STATE_KEY][:n], data[ACTION_KEY][:n], np.stack([f[:n] for f in per_cam])
            )
        )
    return episodes


def pointer_target_joints(
    joints: tuple[str, ...], cameras: tuple[str, ...], calibrations: dict[str, PinholeCamera], robot: RobotModel
) -> list[int]:
    """Check that pointer targets can be made for this dataset (every calibration names one of its cameras,
    its state has the robot's arm joints); return the arm joints' indices in the state."""
    unknown = sorted(set(calibrations) - set(cameras))
    if unknown:
        raise TrainingError(f"calibrations for {unknown}: the dataset's cameras are {list(cameras)}")
    missing = [j for j in robot.arm_joints if j not in joints]
    if missing:
        raise TrainingError(f"pointer targets need the arm joints {missing} in the dataset's state")
    return [joints.index(j) for j in robot.arm_joints]


def attach_pointer_targets(
    episodes: list[Episode],
    joints: tuple[str, ...],
    cameras: tuple[str, ...],
    calibrations: dict[str, PinholeCamera],
    cfg: TinyWamConfig,
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0),
    robot: RobotModel | None = None,
) -> int:
    """Give every frame of every episode the image position of the episode's target point in each calibrated
    camera: the final end-effector position plus ``offset`` (e.g. down to the object the arm hovers over).

    The arm ends where the instruction sent it, so that point, projected into the cameras, is
    where the named object is: a dense label for the target pointer from the demonstration
    itself (no annotation). A static camera sees it at one pixel all episode; a wrist camera
    wherever the arm's pose of that frame puts it. Returns the (frame, camera) pairs that see it.
    """
    robot = robot or RobotModel.load()
    arm = pointer_target_joints(joints, cameras, calibrations, robot)
    grid = (cfg.image_size[0] // 2, cfg.image_size[1] // 2)  # the pointer's feature grid
    seen = 0
    for ep in episodes:
        point = robot.kinematics.fk(ep.state[-1][arm])[:3, 3] + np.asarray(offset, dtype=float)
        ep.target_yx = np.zeros((ep.length, len(cameras), 2))
        ep.target_visible = np.zeros((ep.length, len(cameras)), dtype=bool)
        for c, name in enumerate(cameras):
            cam = calibrations.get(name)
            if cam is None:
                continue
            if cam.parent == "base":
                yx, visible = cam.normalized(point[None], grid)
                ep.target_yx[:, c], ep.target_visible[:, c] = yx[0], visible[0]
                continue
            for t in range(ep.length):
                yx, visible = cam.normalized(point[None], grid, robot.kinematics.fk(ep.state[t][arm]))
                ep.target_yx[t, c], ep.target_visible[t, c] = yx[0], visible[0]
        seen += int(ep.target_visible.sum())
    return seen


def make_sample(ep: Episode, t: int, cfg: TinyWamConfig) -> dict:
    """One training window at frame t (indices past the end repeat the last frame: the arm rests)."""
    last = ep.length - 1
    ctx = [max(0, t - cfg.context_frames + 1 + i) for i in range(cfg.context_frames)]
    act = [min(t + 1 + i, last) for i in range(cfg.action_horizon)]
    fut = [min(t + s, last) for s in cfg.frame_steps()]
    return {
        "images": ep.frames[:, ctx],
        "state": ep.state[t],
        "instruction": ep.task,
        "actions": ep.action[act],
        "future_frames": ep.frames[:, fut],
        "goal": ep.state[-1],
    } | ({} if ep.target_yx is None else {"target_yx": ep.target_yx[t], "target_visible": ep.target_visible[t]})


def split_episodes(n: int, val: float, seed: int) -> tuple[list[int], list[int]]:
    k = int(val) if val >= 1 else max(1, round(n * val)) if n > 1 else 0
    order = np.random.default_rng(seed).permutation(n)
    return sorted(order[k:].tolist()), sorted(order[:k].tolist())


def action_targets(episodes: list[Episode], cfg: TinyWamConfig) -> tuple[np.ndarray, np.ndarray]:
    """(states [N, J], action windows [N, H, J]) of every frame, in the space the model's
    action normalisation applies to (relative to the state when ``action_mode`` is delta)."""
    states, actions = [], []
    for ep in episodes:
        for t in range(ep.length):
            s = make_sample(ep, t, cfg)
            states.append(s["state"])
            actions.append(s["actions"] - s["state"] if cfg.action_mode == "delta" else s["actions"])
    return np.asarray(states), np.asarray(actions)


class WindowSampler:
    """Training windows, uniform over all frames, except that ``start_fraction`` of them come from
    each episode's first ``start_frames`` frames.

    Why the start matters: mid-episode, the arm's pose and motion already reveal which cube it
    is going to, so a policy trained on uniform windows learns to continue the motion and to
    ignore the instruction (causal confusion, de Haan et al. 2019); then at the start, where
    only the instruction says which cube, it picks one at random. Measured on this task: the
    goal token's choice did not change with the named colour at all. Oversampling the starts
    (with colour permutation, the same scene under other names) makes the instruction the only
    way to lower the loss there.

    ``shard`` (data-parallel training): every rank draws the same global batch (its sampler has
    the same seed) and ``batch`` builds only the samples of ``shard(size)``, this rank's disjoint
    slice; the ranks together train on the windows a single process would. Batches are on ``device``.
    """

    def __init__(
        self,
        episodes: list[Episode],
        cfg: TinyWamConfig,
        seed: int,
        augment_colors: bool = False,
        start_fraction: float = 0.0,
        start_frames: int = 3,
        device: torch.device | str = "cpu",
        shard: Callable[[int], slice] | None = None,
    ) -> None:
        if not 0.0 <= start_fraction <= 1.0:
            raise TrainingError(f"start_fraction must be in [0, 1], got {start_fraction}")
        if start_frames < 1:
            raise TrainingError(f"start_frames must be >= 1, got {start_frames}")
        self.episodes, self.cfg, self.augment_colors = episodes, cfg, augment_colors
        self.index = [(e, t) for e, ep in enumerate(episodes) for t in range(ep.length)]
        self.start_index = [(e, t) for e, ep in enumerate(episodes) for t in range(min(start_frames, ep.length))]
        if not self.index:
            raise TrainingError("no frames to train on")
        self.start_fraction = start_fraction
        self.rng = np.random.default_rng(seed)
        self.device, self.shard = torch.device(device), shard

    def batch(self, size: int) -> dict[str, torch.Tensor]:
        from_start = self.rng.random(size) < self.start_fraction
        windows = [
            self.start_index[self.rng.integers(len(self.start_index))]
            if s
            else self.index[self.rng.integers(len(self.index))]
            for s in from_start
        ]
        # drawn for the whole global batch on every rank, so the ranks' random streams stay in step
        perms = [random_permutation(self.rng) for _ in windows] if self.augment_colors else None
        part = self.shard(size) if self.shard is not None else slice(None)
        samples = [make_sample(self.episodes[e], t, self.cfg) for e, t in windows[part]]
        if perms is not None:
            for s, perm in zip(samples, perms[part], strict=True):
                (s["images"], s["future_frames"]), s["instruction"] = permute_colors(
                    (s["images"], s["future_frames"]), s["instruction"], perm
                )
        return {k: v.to(self.device) for k, v in collate(samples, self.cfg).items()}


@torch.no_grad()
def evaluate(model: TinyWam, sampler: WindowSampler, batches: int, batch_size: int, seed: int) -> dict[str, float]:
    """Mean losses on a fixed set of validation windows and fixed flow noise (comparable across steps)."""
    model.eval()
    rng_state = torch.get_rng_state()
    torch.manual_seed(seed)
    sampler.rng = np.random.default_rng(seed)
    totals: dict[str, float] = {}
    for _ in range(batches):
        for k, v in model.loss(sampler.batch(batch_size)).items():
            totals[k] = totals.get(k, 0.0) + float(v) / batches
    torch.set_rng_state(rng_state)
    model.train()
    return totals


def build_model(
    opts: TrainOptions, joints: tuple[str, ...], cameras: tuple[str, ...]
) -> tuple[TinyWam, CheckpointMeta | None]:
    """The model to train: resumed from ``opts.out``, fine-tuned from ``opts.init_from`` or new.

    A new model has no metadata yet (None): its normalisation comes from the training data.
    With ``init_from`` only the training fields of the config (loss weights) may change.
    """
    if opts.resume and (opts.out / "config.json").is_file():
        model, meta = load_checkpoint(opts.out)
    elif opts.init_from is not None:
        model, meta = load_checkpoint(opts.init_from, allow_new_modules=True)
        cfg = model.cfg
        if tuple(meta.joint_names) != tuple(joints) or tuple(meta.cameras) != tuple(cameras):
            raise TrainingError(
                f"--init-from {opts.init_from} has joints {list(meta.joint_names)} and cameras {list(meta.cameras)}; "
                f"the dataset has {list(joints)} and {list(cameras)}"
            )
        if opts.model:  # loss weights may change when fine-tuning; the architecture may not
            wanted = TinyWamConfig.from_dict({**cfg.to_dict(), **opts.model})
            fixed = sorted(k for k in set(opts.model) - set(TinyWamConfig.TRAINING_FIELDS)
                           if getattr(wanted, k) != getattr(cfg, k))
            if fixed:
                raise TrainingError(
                    f"--model {fixed} cannot change with --init-from (only {sorted(TinyWamConfig.TRAINING_FIELDS)})"
                )
            model.cfg = meta.model = wanted
    else:
        cfg = TinyWamConfig(**{"num_joints": len(joints), "num_cameras": len(cameras), **opts.model})
        if cfg.world_head:  # its loss needs the chunks' rollouts and cues, which demonstrations do not have
            raise TrainingError("world_head: train the action model here, then its world head with "
                                "python -m wam_ros.tiny_wam.world_training (docs/wam.md, the world head)")
        model, meta = TinyWam(cfg), None
    cfg = model.cfg
    if cfg.num_joints != len(joints) or cfg.num_cameras != len(cameras):
        raise TrainingError(
            f"model has {cfg.num_joints} joints/{cfg.num_cameras} cameras; dataset {len(joints)}/{len(cameras)}"
        )
    return model, meta


def load_calibrations(
    opts: TrainOptions, joints: tuple[str, ...], cameras: tuple[str, ...]
) -> tuple[dict[str, PinholeCamera], RobotModel | None]:
    """The cameras' calibrations and the robot whose FK places the pointer targets (None without calibrations),
    checked against the dataset's layout: a bad file or a wrong camera fails here, before the slow dataset load."""
    calibrations = {name: PinholeCamera.load(path) for name, path in opts.calibrations.items()}
    robot = RobotModel.load(opts.urdf, ee_link=opts.ee_link) if calibrations else None
    if robot is not None:
        pointer_target_joints(joints, cameras, calibrations, robot)
    return calibrations, robot


def prepare_episodes(
    reader: LeRobotDatasetReader,
    opts: TrainOptions,
    cfg: TinyWamConfig,
    joints: tuple[str, ...],
    cameras: tuple[str, ...],
    calibrations: dict[str, PinholeCamera],
    robot: RobotModel | None,
) -> list[Episode]:
    """Every episode, resized to the model's images, with pointer targets where cameras are calibrated."""
    episodes = load_episodes(reader, cameras, cfg.image_size)
    if calibrations:
        seen = attach_pointer_targets(episodes, joints, cameras, calibrations, cfg, opts.pointer_target_offset, robot)
        total = sum(ep.length for ep in episodes) * len(calibrations)
        print(f"[wam-train] pointer targets: {seen} of {total} frames x {sorted(calibrations)} see the target")
    return episodes


@dataclass
class Samplers:
    train: WindowSampler
    val: WindowSampler | None  # all validation windows
    val_start: WindowSampler | None  # the episode starts alone: where the instruction is the only cue for the goal


def make_samplers(
    train_eps: list[Episode], val_eps: list[Episode], cfg: TinyWamConfig, opts: TrainOptions,
    ctx: DistributedContext | None = None,
) -> Samplers:
    """Training windows (under torchrun: this rank's slice of every global batch) and the validation windows
    (whole batches: rank 0 evaluates alone)."""
    ctx = ctx or DistributedContext()
    train = WindowSampler(train_eps, cfg, opts.seed, augment_colors=opts.augment_colors,
                          start_fraction=opts.start_fraction, start_frames=opts.start_frames, device=ctx.device,
                          shard=ctx.shard if ctx.distributed else None)
    if not val_eps:
        return Samplers(train, None, None)
    return Samplers(
        train,
        WindowSampler(val_eps, cfg, opts.seed + 1, device=ctx.device),
        WindowSampler(val_eps, cfg, opts.seed + 1, start_fraction=1.0, start_frames=opts.start_frames,
                      device=ctx.device),
    )


def learning_rate(step: int, lr: float, steps: int) -> float:
    """Linear warm-up (a tenth of the run, at most 200 steps), then cosine decay to 0 at ``steps``."""
    warm = min(200, steps // 10 + 1)
    if step < warm:
        return lr * (step + 1) / warm
    return lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, steps - warm))))


def restore_train_state(path: Path, optim: torch.optim.Optimizer) -> tuple[int, list[dict]]:
    """(step, history) saved beside a checkpoint; restores the optimiser and torch's RNG in place."""
    st = torch.load(path, weights_only=True)
    optim.load_state_dict(st["optimizer"])
    torch.set_rng_state(st["torch_rng"])
    return int(st["step"]), json.loads(st["history"])


def save_training(
    opts: TrainOptions,
    model: TinyWam,
    meta: CheckpointMeta,
    optim: torch.optim.Optimizer,
    step: int,
    history: list[dict],
    split: tuple[int, int],
) -> None:
    """The checkpoint (with what it was trained on in ``meta.extra``) and the state ``--resume`` continues from."""
    meta.extra = {
        "dataset": str(opts.dataset),
        "episodes": {"train": split[0], "val": split[1]},
        "step": step,
        "history": history[-20:],
        "seed": opts.seed,
        "augment_colors": opts.augment_colors,
        "start_fraction": opts.start_fraction,
        "init_from": None if opts.init_from is None else str(opts.init_from),
        "calibrations": {k: str(v) for k, v in sorted(opts.calibrations.items())},
        "pointer_target_offset": list(opts.pointer_target_offset),
    }
    save_checkpoint(opts.out, model, meta)
    torch.save(
        {"optimizer": optim.state_dict(), "step": step, "torch_rng": torch.get_rng_state(),
         "history": json.dumps(history)},
        opts.out / TRAIN_STATE,
    )


def train_step(
    model: TinyWam, optim: torch.optim.Optimizer, batch: dict[str, torch.Tensor], lr: float,
    loss_fn: Callable[[dict], dict[str, torch.Tensor]] | None = None,
) -> dict[str, torch.Tensor]:
    """One optimiser step at learning rate ``lr`` (gradient norm clipped to 1); the batch's losses.

    ``loss_fn``: what computes the losses (default ``model.loss``; under torchrun the model's loss through
    DistributedDataParallel, whose backward averages the gradients over the ranks before the clip)."""
    for g in optim.param_groups:
        g["lr"] = lr
    losses = (loss_fn or model.loss)(batch)
    optim.zero_grad(set_to_none=True)
    losses["loss"].backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optim.step()
    return losses


def history_entry(
    step: int, losses: dict[str, torch.Tensor], model: TinyWam, samplers: Samplers, batch_size: int, seed: int,
    elapsed: float,
) -> dict:
    """The training losses of this step and, with validation episodes, the validation losses (all windows and
    the episode starts alone)."""
    entry: dict = {"step": step, "train": {k: float(v.detach()) for k, v in losses.items()},
                   "elapsed_s": round(elapsed, 1)}
    if samplers.val is not None and samplers.val_start is not None:
        entry["val"] = evaluate(model, samplers.val, 4, batch_size, seed)
        entry["val_start"] = evaluate(model, samplers.val_start, 2, batch_size, seed)
    return entry


def train(opts: TrainOptions) -> Path:
    """Train (under torchrun: this process's rank of a data-parallel run) and write the checkpoint to ``opts.out``."""
    try:
        ctx = setup(opts.device)
    except ValueError as exc:  # a device this machine lacks, a malformed torchrun environment
        raise TrainingError(str(exc)) from exc
    ok = False
    try:
        out = run_training(opts, ctx)
        ok = True
        return out
    finally:
        teardown(ctx, wait=ok)


def run_training(opts: TrainOptions, ctx: DistributedContext) -> Path:
    torch.set_num_threads(opts.num_threads)
    torch.manual_seed(opts.seed)  # the same initial weights on every rank (DDP broadcasts rank 0's anyway)
    if ctx.distributed and opts.batch_size % ctx.world_size:
        raise TrainingError(f"--batch-size {opts.batch_size} (the global batch) is not divisible by the "
                            f"{ctx.world_size} processes")
    reader = LeRobotDatasetReader(opts.dataset)
    reader.validate()
    joints, cameras, fps = dataset_layout(reader)
    model, meta = build_model(opts, joints, cameras)
    cfg = model.cfg
    calibrations, robot = load_calibrations(opts, joints, cameras)  # fail early
    episodes = prepare_episodes(reader, opts, cfg, joints, cameras, calibrations, robot)
    train_ids, val_ids = split_episodes(len(episodes), opts.val_episodes, opts.seed)
    train_eps = [episodes[i] for i in train_ids]
    if meta is None:
        norm = Normalization.from_data(*action_targets(train_eps, cfg))
        meta = CheckpointMeta(joints, cameras, 1.0 / fps, cfg, norm)
        model.set_normalization(norm.state_mean, norm.state_std, norm.action_mean, norm.action_std)
    model.to(ctx.device)
    samplers = make_samplers(train_eps, [episodes[i] for i in val_ids], cfg, opts, ctx)
    optim = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    step, history = 0, []
    if opts.resume and (opts.out / TRAIN_STATE).is_file():
        step, history = restore_train_state(opts.out / TRAIN_STATE, optim)
        if ctx.is_main:
            print(f"[wam-train] resumed at step {step}")
    if ctx.distributed:  # each rank its own flow noise (after a resume too: the file holds rank 0's state only)
        torch.manual_seed(rank_seed(opts.seed, ctx.rank, step))
    loss_fn = loss_function(model, ctx)

    def save(tag: str) -> None:
        if ctx.is_main:
            save_training(opts, model, meta, optim, step, history, (len(train_ids), len(val_ids)))
            print(f"[wam-train] {tag} checkpoint at step {step} -> {opts.out}")

    if ctx.is_main:
        print(
            f"[wam-train] {len(train_ids)} train / {len(val_ids)} val episodes, {len(samplers.train.index)} windows, "
            f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, fps {fps:g}, on {ctx.device}"
            + (f", {ctx.world_size} processes x {opts.batch_size // ctx.world_size} windows" if ctx.distributed
               else "")
        )
    model.train()
    bar = tqdm(total=opts.steps, initial=step, desc="wam-train", dynamic_ncols=True, disable=not ctx.is_main)
    t0 = time.monotonic()
    while step < opts.steps:
        losses = train_step(model, optim, samplers.train.batch(opts.batch_size),
                            learning_rate(step, opts.lr, opts.steps), loss_fn)
        step += 1
        bar.update(1)
        bar.set_postfix({k: f"{float(v.detach()):.3f}" for k, v in losses.items()})
        if step % opts.eval_every == 0 or step == opts.steps:
            losses = mean_over_ranks(losses, ctx)  # every rank takes part; the global batch's losses
            if ctx.is_main:
                entry = history_entry(step, losses, model, samplers, opts.batch_size, opts.seed,
                                      time.monotonic() - t0)
                if "val" in entry:
                    bar.write(
                        f"[wam-train] step {step} val {json.dumps({k: round(v, 4) for k, v in entry['val'].items()})} "
                        f"starts {json.dumps({k: round(entry['val_start'][k], 4) for k in ('action', 'goal')})}"
                    )
                history.append(entry)
        if step % opts.checkpoint_every == 0 and step < opts.steps:
            save("periodic")
    bar.close()
    save("final")
    return opts.out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="wam-train", description="Train the tiny WAM on a LeRobot v3 dataset.")
    ap.add_argument("dataset", type=Path, help="LeRobot v3 dataset directory")
    ap.add_argument("--out", type=Path, default=Path(DEFAULT_CHECKPOINT), help="checkpoint directory")
    ap.add_argument("--steps", type=int, default=TrainOptions.steps)
    ap.add_argument("--batch-size", type=int, default=TrainOptions.batch_size)
    ap.add_argument("--lr", type=float, default=TrainOptions.lr)
    ap.add_argument("--seed", type=int, default=TrainOptions.seed)
    ap.add_argument("--val-episodes", type=float, default=TrainOptions.val_episodes)
    ap.add_argument("--eval-every", type=int, default=TrainOptions.eval_every)
    ap.add_argument("--checkpoint-every", type=int, default=TrainOptions.checkpoint_every)
    ap.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    ap.add_argument("--init-from", type=Path, default=None,
                    help="fine-tune: start from this checkpoint (new heads start fresh; a new lr schedule)")
    ap.add_argument("--threads", type=int, default=TrainOptions.num_threads)
    ap.add_argument("--device", default=TrainOptions.device, choices=DEVICES,
                    help="auto: CUDA when available; under torchrun on CUDA each process trains on GPU LOCAL_RANK")
    ap.add_argument(
        "--start-fraction",
        type=float,
        default=TrainOptions.start_fraction,
        help="share of windows from the episodes' first --start-frames frames (against causal confusion)",
    )
    ap.add_argument("--start-frames", type=int, default=TrainOptions.start_frames)
    ap.add_argument(
        "--augment-colors",
        action="store_true",
        help="permute the colours of saturated objects and the colour words of the instruction",
    )
    ap.add_argument(
        "--model", type=json.loads, default={}, help="TinyWamConfig overrides as JSON, e.g. '{\"d_model\": 96}'"
    )
    ap.add_argument(
        "--calibration",
        action="append",
        default=[],
        metavar="CAMERA=FILE",
        help="a camera's calibration (camera_calibration.py): supervises where the target pointer looks",
    )
    ap.add_argument(
        "--pointer-target-offset",
        type=float,
        nargs=3,
        default=TrainOptions.pointer_target_offset,
        metavar=("X", "Y", "Z"),
        help="m, base frame: the pointer's target is the final end-effector position plus this",
    )
    ap.add_argument("--urdf", type=Path, default=None,
                    help="robot description for the pointer targets' FK (default: the bundled arm)")
    ap.add_argument("--ee-link", default=TrainOptions.ee_link, help="end-effector link of --urdf")
    a = ap.parse_args(argv)
    try:
        train(
            TrainOptions(
                a.dataset,
                a.out,
                a.steps,
                a.batch_size,
                a.lr,
                seed=a.seed,
                val_episodes=a.val_episodes,
                eval_every=a.eval_every,
                checkpoint_every=a.checkpoint_every,
                resume=a.resume,
                init_from=a.init_from,
                num_threads=a.threads,
                device=a.device,
                augment_colors=a.augment_colors,
                start_fraction=a.start_fraction,
                start_frames=a.start_frames,
                model=a.model,
                calibrations={c: Path(f) for c, f in calibration_files(a.calibration).items()},
                pointer_target_offset=tuple(a.pointer_target_offset),
                urdf=a.urdf,
                ee_link=a.ee_link,
            )
        )
    except (TrainingError, CalibrationError, RobotModelError, FileNotFoundError) as exc:
        raise SystemExit(f"wam-train: {exc}") from exc


if __name__ == "__main__":
    main()
