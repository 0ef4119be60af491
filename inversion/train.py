"""Train a sketch-inversion model: ``python -m inversion.train --help``.

One model per sketch style, on synthetic sketches of aligned face photos
(optionally mixed with hand-drawn pairs). Checkpoints are written atomically
every ``--checkpoint-every`` steps with the optimiser state, so ``--resume``
continues a run exactly where it stopped (the batches of step ``k`` depend
only on ``--seed`` and ``k``, so ``--workers`` processes may build them
ahead in any order). ``--data`` and ``--hand-drawn`` also take a pack made
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
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
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


@dataclass
class TrainConfig:
    style: str
    data: list[str]
    out: Path
    steps: int = 3000
    batch_size: int = 16
    resolution: int = align.RESOLUTION
    feature_net: str = "sface"
    adversarial: bool = False
    device: str = "auto"
    resume: bool = False
    #: Start from another checkpoint's weights (e.g. the grayscale model for
    #: the line model); a 1-channel first layer is spread over 3 for colour.
    init: Path | None = None
    #: Hand-drawn pairs: a folder with photos/ and sketches/ (CUFS layout),
    #: optionally restricted to the file stems listed in ``hand_drawn_names``.
    hand_drawn: Path | None = None
    hand_drawn_names: Path | None = None
    hand_drawn_fraction: float = 0.25
    #: Mirror each hand-drawn pair (sketch and photo together) with chance 1/2.
    mirror_hand_drawn: bool = False
    learning_rate: float = 1e-3
    seed: int = 0
    checkpoint_every: int = 250
    precision: str = "auto"  # auto | bf16 | fp32
    holdout: float = 0.02  # share of identities kept out for validation
    feature_batch: int = 8  # images per step that go through the feature network
    workers: int = 0  # processes building batches ahead (0: the training process builds each)
    #: Seconds the whole run may take: after a short measurement the number
    #: of steps is cut to what fits (the learning-rate schedule follows).
    time_budget: float | None = None
    #: Also keep the weights alone (float16, as shipped) at the end of each of
    #: this many equal parts of the run, as ``<out>.step_<k>.pt``, to compare.
    snapshots: int = 0
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

    def __init__(self, config: TrainConfig, synthetic: SyntheticSketches, hand_drawn: PairedSketches | None):
        self.config, self.synthetic, self.hand_drawn = config, synthetic, hand_drawn

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


def train(config: TrainConfig, photos: AlignedPhotos | None = None) -> Path:
    """Run (or resume) training; ``photos`` replaces loading ``config.data``."""
    from PIL import Image

    if config.style not in STYLES:
        raise SystemExit(f"--style must be one of {STYLES}")
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    dtype = autocast_dtype(config.precision, device)

    began = time.perf_counter()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if photos is None:
        photos = AlignedPhotos.concatenate(
            [read_photos(s) if is_pack(s) else load_aligned(s, size=config.resolution) for s in config.data]
        )
    if photos.photos.shape[1] != config.resolution:  # a pack or cache made at another size
        raise SystemExit(f"the photos are {photos.photos.shape[1]} px, --resolution is {config.resolution}")
    train_photos, val_photos = split_by_identity(photos, config.holdout, seed=config.seed)
    dataset = SyntheticSketches(train_photos, config.style, seed=config.seed)
    val_set = SyntheticSketches(val_photos, config.style, augment=False)
    # 64 held-out faces spread over the held-out people (they are sorted by person)
    val_items = [val_set[int(i)] for i in np.linspace(0, len(val_set) - 1, min(64, len(val_set)))]
    hand_drawn = None
    if config.hand_drawn:
        names = config.hand_drawn_names.read_text().split() if config.hand_drawn_names else None
        if is_pack(config.hand_drawn):
            hand_drawn = read_pairs(config.hand_drawn, config.style, names)
        else:
            hand_drawn = PairedSketches.from_folder(config.hand_drawn, config.style, config.resolution, names)
        if hand_drawn.photos[0].shape[0] != config.resolution:
            raise SystemExit(
                f"the hand-drawn pairs are {hand_drawn.photos[0].shape[0]} px, --resolution is {config.resolution}"
            )

    model = SketchInversionNet(IN_CHANNELS[config.style]).to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    discriminator = d_optimizer = None
    if config.adversarial:
        discriminator = PatchDiscriminator(IN_CHANNELS[config.style] + 3).to(device)
        d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=config.learning_rate, betas=(0.5, 0.999))
        if not config.weights.adversarial:
            config.weights.adversarial = 0.01
    features = feature_network(config.feature_net, device)

    out = Path(config.out)
    start, elapsed = 0, 0.0
    if config.resume and out.exists():
        state = load_checkpoint(out)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if discriminator is not None and "discriminator" in state:
            discriminator.load_state_dict(state["discriminator"])
            d_optimizer.load_state_dict(state["discriminator_optimizer"])
        start = state["step"]
        elapsed = state["metadata"].get("train_seconds", 0.0)
        print(f"resuming {out} at step {start}")
    elif config.init:
        warm_start(model, config.init)
        print(f"warm start from {config.init}")
    out.parent.mkdir(parents=True, exist_ok=True)
    samples_dir = out.with_suffix(".samples")
    samples_dir.mkdir(exist_ok=True)
    log_path = out.with_suffix(".csv")
    log_is_new = not log_path.exists() or start == 0
    log_file = log_path.open("w" if log_is_new else "a", newline="")
    log = csv.writer(log_file)
    if log_is_new:
        log.writerow(
            [
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
                "images_per_second",
            ]
        )

    model.train()
    batches = DataLoader(
        StepBatches(config, dataset, hand_drawn),
        batch_size=None,
        sampler=range(start, config.steps),
        num_workers=config.workers,
        pin_memory=device.type == "cuda",
        prefetch_factor=4 if config.workers else None,
    )
    progress = tqdm(range(start, config.steps), initial=start, total=config.steps, desc=f"{config.style}")
    probe = (start + 10, start + 60)  # steps timed for --time-budget, after the warm-up
    for step, batch in zip(progress, batches, strict=False):
        if step >= config.steps:  # cut by --time-budget
            break
        if config.time_budget and step == probe[0]:
            probe_began = time.perf_counter()
        if config.time_budget and step == probe[1]:
            rate = (probe[1] - probe[0]) / (time.perf_counter() - probe_began)
            config.steps = fitted_steps(config, step, rate, config.time_budget - (time.perf_counter() - began))
            progress.total = config.steps
            progress.write(f"--time-budget {config.time_budget:.0f} s: {rate:.1f} steps/s, {config.steps} steps")
        t0 = time.perf_counter()
        lr = config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / config.steps)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        sketch, photo = (
            batch[key].to(device, memory_format=torch.channels_last, non_blocking=True) for key in ("sketch", "photo")
        )

        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            composite = model(sketch)
            fake_scores = discriminator(sketch, composite) if discriminator is not None else None
            loss, terms = generator_loss(
                config.weights, composite.float(), photo, features, fake_scores, config.feature_batch
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

        d_value = float("nan")
        if discriminator is not None:
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                d_loss = discriminator_loss(discriminator(sketch, photo), discriminator(sketch, composite.detach()))
            d_optimizer.zero_grad(set_to_none=True)
            d_loss.backward()
            d_optimizer.step()
            d_value = float(d_loss)

        seconds = time.perf_counter() - t0
        elapsed += seconds
        speed = config.batch_size / seconds
        progress.set_postfix(loss=f"{float(loss.detach()):.4f}", pixel=f"{terms['pixel']:.4f}", img_s=f"{speed:.1f}")
        log.writerow(
            [step + 1, round(elapsed, 2), f"{lr:.6f}", f"{float(loss.detach()):.5f}"]
            + [
                f"{terms[k]:.5f}" if k in terms else ""
                for k in ("pixel", "feature", "identity", "total_variation", "adversarial")
            ]
            + [f"{d_value:.5f}", f"{speed:.2f}"]
        )

        done = step + 1
        checkpoint = done % config.checkpoint_every == 0 or done == config.steps
        snapshot = is_snapshot(done, config.steps, config.snapshots)
        if checkpoint or snapshot:
            log_file.flush()
            metadata = {
                "style": config.style,
                "resolution": config.resolution,
                "feature_net": config.feature_net,
                "adversarial": config.adversarial,
                "steps": done,
                "batch_size": config.batch_size,
                "feature_batch": min(config.feature_batch, config.batch_size),
                "loss_weights": config.weights.as_dict(),
                "data": config.data,
                "train_photos": len(train_photos),
                "train_identities": len(set(train_photos.identities)),
                "hand_drawn": str(config.hand_drawn) if config.hand_drawn else None,
                "hand_drawn_pairs": len(hand_drawn) if hand_drawn is not None else 0,
                "hand_drawn_fraction": config.hand_drawn_fraction if hand_drawn is not None else 0.0,
                "mirror_hand_drawn": config.mirror_hand_drawn,
                "init": str(config.init) if config.init else None,
                "precision": str(dtype or torch.float32).replace("torch.", ""),
                "device": torch.cuda.get_device_name(device)
                if device.type == "cuda"
                else f"cpu x{torch.get_num_threads()}",
                "train_seconds": round(elapsed, 1),
                "learning_rate": config.learning_rate,
                "time_budget": config.time_budget,
                "seed": config.seed,
                "metrics": validate(model, val_items, device, features),
            }
        if snapshot:
            save_checkpoint(
                snapshot_path(out, done), {"model": half_precision(model.state_dict()), "step": done}, metadata
            )
        if checkpoint:
            metrics = metadata["metrics"]
            grid = sample_grid(model, val_items[:8], device)
            Image.fromarray(grid).save(samples_dir / f"step_{done:06d}.png")
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": done}
            if discriminator is not None:
                state["discriminator"] = discriminator.state_dict()
                state["discriminator_optimizer"] = d_optimizer.state_dict()
            save_checkpoint(out, state, metadata)
            progress.write(f"step {done}: checkpoint {out} {metrics}")
    log_file.close()
    return out


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    parser = argparse.ArgumentParser(prog="python -m inversion.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--style", required=True, choices=STYLES)
    parser.add_argument(
        "--data", required=True, nargs="+", help="photo folders or .tar.gz archives, PATH[:SUBFOLDER], or a .pack.npz"
    )
    parser.add_argument("--out", required=True, type=Path, help="checkpoint file to write (and resume)")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--feature-batch", type=int, default=8, help="images per step for the feature losses")
    parser.add_argument("--resolution", type=int, default=align.RESOLUTION)
    parser.add_argument("--feature-net", choices=FEATURE_NETS, default="sface")
    parser.add_argument("--adversarial", action="store_true", help="add a PatchGAN discriminator")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--init", type=Path, help="warm start from this checkpoint's weights")
    parser.add_argument(
        "--hand-drawn", type=Path, help="folder with photos/ and sketches/ (CUFS layout), or a .pack.npz"
    )
    parser.add_argument("--hand-drawn-names", type=Path, help="file listing the stems of the pairs to train on")
    parser.add_argument("--hand-drawn-fraction", type=float, default=0.25)
    parser.add_argument(
        "--mirror-hand-drawn", action="store_true", help="mirror half the hand-drawn pairs (sketch and photo)"
    )
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-every", type=int, default=250)
    parser.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads for PyTorch")
    parser.add_argument("--workers", type=int, default=0, help="processes building batches ahead")
    parser.add_argument("--time-budget", type=float, help="seconds the run may take; fewer steps if needed")
    parser.add_argument("--snapshots", type=int, default=0, help="keep the weights after each of N equal parts")
    for name, default in asdict(LossWeights()).items():
        parser.add_argument(f"--{name.replace('_', '-')}-weight", type=float, default=default)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    weights = LossWeights(**{name: getattr(args, f"{name}_weight") for name in asdict(LossWeights())})
    if args.feature_net != "sface":
        weights.identity = 0.0
    return TrainConfig(
        style=args.style,
        data=args.data,
        out=args.out,
        steps=args.steps,
        batch_size=args.batch_size,
        resolution=args.resolution,
        feature_net=args.feature_net,
        adversarial=args.adversarial,
        device=args.device,
        resume=args.resume,
        init=args.init,
        hand_drawn=args.hand_drawn,
        hand_drawn_names=args.hand_drawn_names,
        hand_drawn_fraction=args.hand_drawn_fraction,
        mirror_hand_drawn=args.mirror_hand_drawn,
        learning_rate=args.learning_rate,
        feature_batch=args.feature_batch,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        precision=args.precision,
        workers=args.workers,
        time_budget=args.time_budget,
        snapshots=args.snapshots,
        weights=weights,
    )


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    out = train(config)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
