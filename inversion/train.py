"""Train a sketch-inversion model: ``python -m inversion.train --help``.

One model per sketch style, on synthetic sketches of aligned face photos
(optionally mixed with hand-drawn pairs). Checkpoints are written atomically
every ``--checkpoint-every`` steps with the optimiser state, so ``--resume``
continues a run exactly where it stopped: it ends with the weights of an
uninterrupted run (the batches of step ``k`` depend only on ``--seed`` and
``k``, so ``--workers`` processes may build them ahead in any order, and no
step draws from torch's random generator). ``--data`` and ``--hand-drawn`` also take a pack made
by ``inversion.pack`` (one file, already aligned: a GPU machine needs
neither dlib nor the archives), and ``--time-budget`` fits the number of
steps to a rented machine's time. Next to the checkpoint: ``<out>.csv`` with the
losses and ``<out>.samples/step_<k>.png`` grids (sketch / composite / photo).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import time
import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from inversion import STYLES, align
from inversion.checkpoints import half_precision, load_checkpoint, save_checkpoint
from inversion.data import (
    AlignedPhotos,
    PairedSketches,
    SyntheticSketches,
    load_aligned,
    split_by_identity,
    to_image,
)
from inversion.losses import (
    FEATURE_NETS,
    LossWeights,
    PatchDiscriminator,
    discriminator_loss,
    feature_network,
    generator_loss,
)
from inversion.model import IN_CHANNELS, SketchInversionNet
from inversion.pack import is_pack, read_pairs, read_photos

PRECISIONS = ("auto", "bf16", "fp32")


@dataclass
class TrainConfig:
    """One training run. ``parse_args`` makes a flag of each field (``--batch-size``
    for ``batch_size``), with its default and the help text in its metadata,
    and one of each loss weight (``--identity-weight``)."""

    style: str = field(metadata={"help": "sketch style", "choices": STYLES})
    data: list[str] = field(metadata={"help": "photo folders or .tar.gz archives, PATH[:SUBFOLDER], or a .pack.npz"})
    out: Path = field(metadata={"help": "checkpoint file to write (and resume)"})
    steps: int = field(default=3000, metadata={"help": "optimiser steps of the whole run"})
    batch_size: int = 16
    #: The feature network costs more than the generator on a CPU; the
    #: feature and identity losses see only the first images of a batch.
    feature_batch: int = field(default=8, metadata={"help": "images per step for the feature losses"})
    resolution: int = field(default=align.RESOLUTION, metadata={"help": "side of the aligned faces in pixels"})
    feature_net: str = field(default="sface", metadata={"choices": FEATURE_NETS})
    adversarial: bool = field(default=False, metadata={"help": "add a PatchGAN discriminator"})
    device: str = field(default="auto", metadata={"choices": ("auto", "cpu", "cuda")})
    resume: bool = field(default=False, metadata={"help": "continue from the checkpoint at --out, if there is one"})
    #: A 1-channel first layer is spread over 3 for colour.
    init: Path | None = field(
        default=None, metadata={"help": "warm start from this checkpoint's weights (e.g. grayscale for line)"}
    )
    hand_drawn: Path | None = field(
        default=None, metadata={"help": "folder with photos/ and sketches/ (CUFS layout), or a .pack.npz"}
    )
    hand_drawn_names: Path | None = field(
        default=None, metadata={"help": "file listing the stems of the pairs to train on"}
    )
    hand_drawn_fraction: float = field(
        default=0.25, metadata={"help": "share of each batch replaced by hand-drawn pairs"}
    )
    mirror_hand_drawn: bool = field(
        default=False, metadata={"help": "mirror half the hand-drawn pairs (sketch and photo)"}
    )
    #: ``python -m inversion.pencil draw`` of the same photos: sketches in an artist's hand of photos that
    #: have none (#16). Only those of the training photos are used (never the held-out people's).
    drawn: Path | None = field(
        default=None, metadata={"help": "pencil sketches of the training photos (.npz from inversion.pencil draw)"}
    )
    drawn_fraction: float = field(
        default=0.25, metadata={"help": "share of each batch given the pencil model's sketch of its photo"}
    )
    learning_rate: float = field(default=1e-3, metadata={"help": "peak of the cosine schedule (it ends at a tenth)"})
    seed: int = 0
    checkpoint_every: int = field(default=250, metadata={"help": "steps between checkpoints"})
    precision: str = field(
        default="auto", metadata={"help": "auto: bfloat16 where the hardware runs it natively", "choices": PRECISIONS}
    )
    holdout: float = field(default=0.02, metadata={"help": "share of identities kept out for validation"})
    threads: int | None = field(default_factory=os.cpu_count, metadata={"help": "CPU threads for PyTorch"})
    workers: int = field(
        default=0, metadata={"help": "processes building batches ahead (0: the training process builds each)"}
    )
    #: After a short measurement the number of steps is cut to what fits
    #: (the learning-rate schedule follows).
    time_budget: float | None = field(
        default=None, metadata={"help": "seconds the run may take; fewer steps if needed"}
    )
    #: Kept as ``<out>.step_<k>.pt``, float16 as shipped, to compare.
    snapshots: int = field(default=0, metadata={"help": "keep the weights after each of N equal parts"})
    weights: LossWeights = field(default_factory=LossWeights)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    return torch.device(name)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """bfloat16 where the hardware runs it natively (CUDA, CPUs with AVX-512
    BF16 or AMX), else full precision."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    capability = torch.backends.cpu.get_cpu_capability()
    return torch.bfloat16 if capability in ("AVX512_BF16", "AMX") or _cpu_has("avx512_bf16") else None


def _cpu_has(flag: str) -> bool:
    try:
        return flag in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def warm_start(model: SketchInversionNet, path: Path) -> None:
    state = load_checkpoint(path)["model"]
    first = "encode.0.1.weight"
    if state[first].shape[1] != model.in_channels:
        state[first] = state[first].mean(dim=1, keepdim=True).repeat(1, model.in_channels, 1, 1)
    model.load_state_dict(state)


def batch_indices(seed: int, step: int, size: int, batch_size: int) -> tuple[np.ndarray, int]:
    """The photos of step ``step`` and the epoch they count as: a fixed
    function of seed and step, so a resumed run sees the same batches."""
    per_epoch = max(1, size // batch_size)
    epoch, position = divmod(step, per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(size)
    return order[position * batch_size : (position + 1) * batch_size], epoch


def stack(items: list[dict], key: str, device: torch.device) -> torch.Tensor:
    return torch.stack([item[key] for item in items]).to(device, memory_format=torch.channels_last)


class StepBatches(Dataset):
    """The batch of step ``k`` as item ``k``: synthetic sketches, the first
    ``hand_drawn_fraction`` of them replaced by hand-drawn pairs when given.
    A fixed function of seed and step, so any worker may build any step."""

    def __init__(
        self,
        config: TrainConfig,
        synthetic: SyntheticSketches,
        hand_drawn: PairedSketches | None,
        drawn: PairedSketches | None = None,
    ):
        self.config, self.synthetic, self.hand_drawn, self.drawn = config, synthetic, hand_drawn, drawn

    def __len__(self) -> int:
        return self.config.steps

    def __getitem__(self, step: int) -> dict:
        config = self.config
        indices, epoch = batch_indices(config.seed, step, len(self.synthetic), config.batch_size)
        self.synthetic.set_epoch(epoch)
        items = [self.synthetic[int(i)] for i in indices]
        if self.hand_drawn is not None:
            count = round(config.batch_size * config.hand_drawn_fraction)
            rng = np.random.default_rng([config.seed, step, 7])
            chosen = rng.choice(len(self.hand_drawn), count)
            mirrored = rng.random(count) < 0.5 if config.mirror_hand_drawn else np.zeros(count, bool)
            items[:count] = [self.hand_drawn.pair(int(i), bool(m)) for i, m in zip(chosen, mirrored, strict=True)]
        if self.drawn is not None:  # the next share: the pencil model's drawings, half of them mirrored
            start = round(config.batch_size * config.hand_drawn_fraction) if self.hand_drawn is not None else 0
            count = min(round(config.batch_size * config.drawn_fraction), config.batch_size - start)
            rng = np.random.default_rng([config.seed, step, 8])
            chosen, mirrored = rng.choice(len(self.drawn), count), rng.random(count) < 0.5
            drawn = [self.drawn.pair(int(i), bool(m)) for i, m in zip(chosen, mirrored, strict=True)]
            items[start : start + count] = drawn
        return {key: torch.stack([item[key] for item in items]) for key in ("sketch", "photo")}


def is_snapshot(done: int, steps: int, count: int) -> bool:
    """Whether step ``done`` ends one of ``count`` equal parts of the run."""
    return any(done == steps * part // count for part in range(1, count + 1))


def snapshot_path(out: Path, step: int) -> Path:
    return out.with_name(f"{out.stem}.step_{step:06d}.pt")


def fitted_steps(config: TrainConfig, step: int, steps_per_second: float, seconds_left: float) -> int:
    """The last step that fits ``seconds_left`` at the measured rate, keeping
    5% for validation and checkpoints; never more than asked for."""
    return min(config.steps, step + max(1, int(0.95 * steps_per_second * seconds_left)))


def sample_grid(model: SketchInversionNet, items: list[dict], device: torch.device) -> np.ndarray:
    """Rows of sketch / composite / photo, one column per item."""
    model.eval()
    with torch.inference_mode():
        composites = model(stack(items, "sketch", device)).float()
    model.train()
    rows = []
    for item, composite in zip(items, composites, strict=True):
        sketch = to_image(item["sketch"])
        sketch = np.stack([sketch] * 3, -1) if sketch.ndim == 2 else sketch
        rows.append(np.concatenate([sketch, to_image(composite), to_image(item["photo"])], axis=0))
    return np.concatenate(rows, axis=1)


def validate(model: SketchInversionNet, items: list[dict], device: torch.device, features) -> dict[str, float]:
    model.eval()
    with torch.inference_mode():
        composite = model(stack(items, "sketch", device)).float()
        photo = stack(items, "photo", device)
        metrics = {"val_pixel_mse": float((composite - photo).pow(2).mean())}
        if features is not None:
            a, b = features(composite), features(photo)
            if "embedding" in a:
                cos = torch.nn.functional.cosine_similarity(a["embedding"], b["embedding"], dim=1)
                metrics["val_identity_cosine"] = float(cos.mean())
    model.train()
    return metrics


# -- Set-up ------------------------------------------------------------------------


@dataclass
class TrainingData:
    """The photos trained on, their synthetic sketches, the hand-drawn pairs
    mixed in and the held-out faces validation and sample grids show."""

    train_photos: AlignedPhotos
    synthetic: SyntheticSketches
    hand_drawn: PairedSketches | None
    val_items: list[dict]
    drawn: PairedSketches | None = None

    @classmethod
    def load(cls, config: TrainConfig, photos: AlignedPhotos | None = None) -> TrainingData:
        if photos is None:
            photos = AlignedPhotos.concatenate(
                [read_photos(s) if is_pack(s) else load_aligned(s, size=config.resolution) for s in config.data]
            )
        if photos.photos.shape[1] != config.resolution:  # a pack or cache made at another size
            raise SystemExit(f"the photos are {photos.photos.shape[1]} px, --resolution is {config.resolution}")
        train_photos, val_photos = split_by_identity(photos, config.holdout, seed=config.seed)
        val_set = SyntheticSketches(val_photos, config.style, augment=False)
        # 64 held-out faces spread over the held-out people (they are sorted by person)
        val_items = [val_set[int(i)] for i in np.linspace(0, len(val_set) - 1, min(64, len(val_set)))]
        synthetic = SyntheticSketches(train_photos, config.style, seed=config.seed)
        return cls(train_photos, synthetic, load_hand_drawn(config), val_items, load_drawn(config, train_photos))


def load_drawn(config: TrainConfig, train_photos: AlignedPhotos) -> PairedSketches | None:
    """The pencil model's sketches of the training photos, paired with them by path (``--drawn``)."""
    if not config.drawn:
        return None
    with np.load(config.drawn, allow_pickle=False) as stored:
        sketches, paths = stored["sketches"], [str(path) for path in stored["paths"]]
    if sketches.shape[1] != config.resolution:
        raise SystemExit(f"the drawn sketches are {sketches.shape[1]} px, --resolution is {config.resolution}")
    drawn = dict(zip(paths, sketches, strict=True))
    kept = [i for i, path in enumerate(train_photos.paths) if path in drawn]  # held-out people's never
    if not kept:
        raise SystemExit(f"{config.drawn} draws none of the training photos (are they of the same pack?)")
    return PairedSketches(
        [train_photos.paths[i] for i in kept],
        [train_photos.photos[i] for i in kept],
        [drawn[train_photos.paths[i]] for i in kept],
        [True] * len(kept),
        config.style,
    )


def load_hand_drawn(config: TrainConfig) -> PairedSketches | None:
    if not config.hand_drawn:
        return None
    names = config.hand_drawn_names.read_text().split() if config.hand_drawn_names else None
    if is_pack(config.hand_drawn):
        pairs = read_pairs(config.hand_drawn, config.style, names)
    else:
        pairs = PairedSketches.from_folder(config.hand_drawn, config.style, config.resolution, names)
    if pairs.photos[0].shape[0] != config.resolution:
        raise SystemExit(f"the hand-drawn pairs are {pairs.photos[0].shape[0]} px, --resolution is {config.resolution}")
    return pairs


@dataclass
class Networks:
    """The generator and, with ``--adversarial``, the discriminator, each
    with its optimiser: everything a checkpoint keeps to resume exactly."""

    model: SketchInversionNet
    optimizer: torch.optim.Optimizer
    discriminator: PatchDiscriminator | None = None
    discriminator_optimizer: torch.optim.Optimizer | None = None

    @classmethod
    def build(cls, config: TrainConfig, device: torch.device) -> Networks:
        model = SketchInversionNet(IN_CHANNELS[config.style]).to(device, memory_format=torch.channels_last)
        networks = cls(model, torch.optim.Adam(model.parameters(), lr=config.learning_rate))
        if config.adversarial:
            networks.discriminator = PatchDiscriminator(IN_CHANNELS[config.style] + 3).to(device)
            networks.discriminator_optimizer = torch.optim.Adam(
                networks.discriminator.parameters(), lr=config.learning_rate, betas=(0.5, 0.999)
            )
        return networks

    def state(self) -> dict:
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}
        if self.discriminator is not None:
            state["discriminator"] = self.discriminator.state_dict()
            state["discriminator_optimizer"] = self.discriminator_optimizer.state_dict()
        return state

    def load_state(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.discriminator is not None and "discriminator" in state:
            self.discriminator.load_state_dict(state["discriminator"])
            self.discriminator_optimizer.load_state_dict(state["discriminator_optimizer"])


@dataclass
class Run:
    """What the steps of one run share: built by ``set_up``, carried from
    step to step, and written into each checkpoint's metadata."""

    config: TrainConfig
    device: torch.device
    dtype: torch.dtype | None  # autocast's, None for full precision
    data: TrainingData
    networks: Networks
    features: torch.nn.Module | None
    start: int = 0  # the first step this process runs
    elapsed: float = 0.0  # seconds spent in steps, over every process of the run

    @property
    def out(self) -> Path:
        return Path(self.config.out)

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None)


def set_up(config: TrainConfig, photos: AlignedPhotos | None = None) -> Run:
    """Threads, seed, data and networks; then the checkpoint at ``config.out``
    resumed (``--resume``) or another one's weights warm-started (``--init``)."""
    if config.style not in STYLES:
        raise SystemExit(f"--style must be one of {STYLES}")
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(config.seed)
    if config.adversarial and not config.weights.adversarial:
        config.weights.adversarial = 0.01
    run = Run(
        config,
        device,
        autocast_dtype(config.precision, device),
        TrainingData.load(config, photos),
        Networks.build(config, device),
        feature_network(config.feature_net, device),
    )
    if config.resume and run.out.exists():
        state = load_checkpoint(run.out)
        run.networks.load_state(state)
        run.start, run.elapsed = state["step"], state["metadata"].get("train_seconds", 0.0)
        print(f"resuming {run.out} at step {run.start}")
    elif config.init:
        warm_start(run.networks.model, config.init)
        print(f"warm start from {config.init}")
    run.out.parent.mkdir(parents=True, exist_ok=True)
    run.out.with_suffix(".samples").mkdir(exist_ok=True)
    return run


# -- One step ------------------------------------------------------------------------


def learning_rate(config: TrainConfig, step: int) -> float:
    """Cosine decay from ``learning_rate`` to a tenth of it over the run."""
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / config.steps)))


def train_step(run: Run, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
    """One optimiser step of the generator and, with ``--adversarial``, one of
    the discriminator; the learning rate and the losses, for the log."""
    config, networks = run.config, run.networks
    lr = learning_rate(config, step)
    for group in networks.optimizer.param_groups:
        group["lr"] = lr
    sketch, photo = (
        batch[key].to(run.device, memory_format=torch.channels_last, non_blocking=True) for key in ("sketch", "photo")
    )
    with run.autocast():
        composite = networks.model(sketch)
        fake_scores = networks.discriminator(sketch, composite) if networks.discriminator is not None else None
        loss, terms = generator_loss(
            config.weights, composite.float(), photo, run.features, fake_scores, config.feature_batch
        )
    networks.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    networks.optimizer.step()

    losses = {"learning_rate": lr, "total": float(loss.detach()), **terms, "discriminator": float("nan")}
    if networks.discriminator is not None:
        with run.autocast():
            d_loss = discriminator_loss(
                networks.discriminator(sketch, photo), networks.discriminator(sketch, composite.detach())
            )
        networks.discriminator_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        networks.discriminator_optimizer.step()
        losses["discriminator"] = float(d_loss.detach())
    return losses


class TimeBudget:
    """``--time-budget``: times 50 steps once the run has warmed up (from the
    10th step of this process), then cuts the run to the steps that fit."""

    def __init__(self, seconds: float, began: float, start: int):
        self.seconds, self.began = seconds, began
        self.first, self.last = start + 10, start + 60
        self.first_began = 0.0

    def steps_that_fit(self, config: TrainConfig, step: int) -> tuple[int, float] | None:
        """At the end of the measurement: the number of steps that fit and the
        measured steps per second; else None."""
        if step == self.first:
            self.first_began = time.perf_counter()
        if step != self.last:
            return None
        now = time.perf_counter()
        rate = (self.last - self.first) / (now - self.first_began)
        return fitted_steps(config, step, rate, self.seconds - (now - self.began)), rate


# -- Logs, checkpoints and snapshots -------------------------------------------------

LOG_COLUMNS = (
    "step",
    "seconds",
    "learning_rate",
    "total",
    "pixel",
    "feature",
    "identity",
    "total_variation",
    "adversarial",
    "discriminator",
    "gradient",
    "absolute",
    "detail",
    "images_per_second",
)


def open_log(path: Path, fresh: bool) -> tuple[IO[str], Any]:
    """``<out>.csv``, one row a step: started over with a fresh run, appended
    to when one resumes."""
    fresh = fresh or not path.exists()
    file = path.open("w" if fresh else "a", newline="")
    log = csv.writer(file)
    if fresh:
        log.writerow(LOG_COLUMNS)
    return file, log


def log_row(done: int, elapsed: float, losses: dict[str, float], images_per_second: float) -> list:
    row = [done, round(elapsed, 2), f"{losses['learning_rate']:.6f}"]
    row += [f"{losses[name]:.5f}" if name in losses else "" for name in LOG_COLUMNS[3:-1]]
    return [*row, f"{images_per_second:.2f}"]


def metadata(run: Run, done: int) -> dict:
    """What a checkpoint says of its run: the recipe, the data, the hardware,
    the time spent and the held-out faces' metrics."""
    config, data = run.config, run.data
    hand_drawn = data.hand_drawn
    device = run.device
    return {
        "style": config.style,
        "resolution": config.resolution,
        "feature_net": config.feature_net,
        "adversarial": config.adversarial,
        "steps": done,
        "batch_size": config.batch_size,
        "feature_batch": min(config.feature_batch, config.batch_size),
        "loss_weights": config.weights.as_dict(),
        "data": config.data,
        "train_photos": len(data.train_photos),
        "train_identities": len(set(data.train_photos.identities)),
        "hand_drawn": str(config.hand_drawn) if config.hand_drawn else None,
        "hand_drawn_pairs": len(hand_drawn) if hand_drawn is not None else 0,
        "hand_drawn_fraction": config.hand_drawn_fraction if hand_drawn is not None else 0.0,
        "mirror_hand_drawn": config.mirror_hand_drawn,
        "drawn": str(config.drawn) if config.drawn else None,
        "drawn_pairs": len(data.drawn) if data.drawn is not None else 0,
        "drawn_fraction": config.drawn_fraction if data.drawn is not None else 0.0,
        "init": str(config.init) if config.init else None,
        "precision": str(run.dtype or torch.float32).replace("torch.", ""),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{torch.get_num_threads()}",
        "train_seconds": round(run.elapsed, 1),
        "learning_rate": config.learning_rate,
        "time_budget": config.time_budget,
        "seed": config.seed,
        "metrics": validate(run.networks.model, data.val_items, device, run.features),
    }


def save_progress(run: Run, done: int) -> str | None:
    """After step ``done``: the checkpoint (every ``--checkpoint-every`` steps
    and at the end) with a grid of samples, and the half-precision snapshot
    that ends each of ``--snapshots`` parts; a line for the progress bar."""
    config = run.config
    checkpoint = done % config.checkpoint_every == 0 or done == config.steps
    snapshot = is_snapshot(done, config.steps, config.snapshots)
    if not (checkpoint or snapshot):
        return None
    described = metadata(run, done)
    if snapshot:
        weights = {"model": half_precision(run.networks.model.state_dict()), "step": done}
        save_checkpoint(snapshot_path(run.out, done), weights, described)
    if not checkpoint:
        return None
    grid = sample_grid(run.networks.model, run.data.val_items[:8], run.device)
    Image.fromarray(grid).save(run.out.with_suffix(".samples") / f"step_{done:06d}.png")
    save_checkpoint(run.out, {**run.networks.state(), "step": done}, described)
    return f"step {done}: checkpoint {run.out} {described['metrics']}"


# -- The run -------------------------------------------------------------------------


def train(config: TrainConfig, photos: AlignedPhotos | None = None) -> Path:
    """Run (or resume) training; ``photos`` replaces loading ``config.data``."""
    began = time.perf_counter()
    run = set_up(config, photos)
    batches = DataLoader(
        StepBatches(config, run.data.synthetic, run.data.hand_drawn, run.data.drawn),
        batch_size=None,
        sampler=range(run.start, config.steps),
        num_workers=config.workers,
        pin_memory=run.device.type == "cuda",
        prefetch_factor=4 if config.workers else None,
    )
    budget = TimeBudget(config.time_budget, began, run.start) if config.time_budget else None
    progress = tqdm(range(run.start, config.steps), initial=run.start, total=config.steps, desc=config.style)
    log_file, log = open_log(run.out.with_suffix(".csv"), fresh=run.start == 0)
    with log_file:
        run.networks.model.train()
        for step, batch in zip(progress, batches, strict=False):
            if step >= config.steps:  # cut by --time-budget
                break
            if budget and (fit := budget.steps_that_fit(config, step)):
                config.steps, rate = fit
                progress.total = config.steps
                progress.write(f"--time-budget {config.time_budget:.0f} s: {rate:.1f} steps/s, {config.steps} steps")
            step_began = time.perf_counter()
            losses = train_step(run, batch, step)
            seconds = time.perf_counter() - step_began
            run.elapsed += seconds
            progress.set_postfix(
                loss=f"{losses['total']:.4f}",
                pixel=f"{losses['pixel']:.4f}",
                img_s=f"{config.batch_size / seconds:.1f}",
            )
            log.writerow(log_row(step + 1, run.elapsed, losses, config.batch_size / seconds))
            log_file.flush()
            if report := save_progress(run, step + 1):
                progress.write(report)
    return run.out


# -- Command line --------------------------------------------------------------------


def flag_settings(hint: Any) -> dict[str, Any]:
    """``argparse`` settings for a field of type ``hint``: a switch for a
    bool, one or more values for a list, the value's type otherwise."""
    if hint is bool:
        return {"action": "store_true"}
    if typing.get_origin(hint) is list:
        return {"nargs": "+", "type": typing.get_args(hint)[0]}
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return {"type": hint}


def build_parser() -> argparse.ArgumentParser:
    """One flag per ``TrainConfig`` field and per loss weight, defaults and
    help taken from there."""
    parser = argparse.ArgumentParser(prog="python -m inversion.train", description=__doc__.split("\n\n")[0])
    hints = typing.get_type_hints(TrainConfig)
    for option_field in fields(TrainConfig):
        if option_field.name == "weights":
            continue
        settings = flag_settings(hints[option_field.name])
        if option_field.default is not MISSING:
            settings["default"] = option_field.default
        elif option_field.default_factory is not MISSING:
            settings["default"] = option_field.default_factory()
        else:
            settings["required"] = True
        settings |= option_field.metadata
        parser.add_argument(f"--{option_field.name.replace('_', '-')}", **settings)
    for name, default in LossWeights().as_dict().items():
        flag = f"--{name.replace('_', '-')}-weight"
        parser.add_argument(flag, type=float, default=default, help=f"weight of the {name.replace('_', ' ')} loss")
    return parser


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    """The config a command line asks for (changes nothing else: ``train``
    applies ``--threads``)."""
    values = vars(build_parser().parse_args(argv))
    weights = LossWeights(**{name: values.pop(f"{name}_weight") for name in LossWeights().as_dict()})
    if values["feature_net"] != "sface":  # only SFace gives the identity loss its embeddings
        weights.identity = 0.0
    return TrainConfig(**values, weights=weights)


def main(argv: list[str] | None = None) -> None:
    out = train(parse_args(argv))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
