"""Pencil sketches of photos, learned from hand-drawn pairs: ``python -m inversion.pencil --help``.

The sketch-inversion models learn from procedural sketches
(:mod:`inversion.sketches`) and a few hundred hand-drawn ones, and on real
pencil sketches their composites come out soft: a procedural sketch is not
drawn the way an artist draws. This module learns the other direction,
photo to pencil sketch, from the hand-drawn CUFS pairs, so that every
training photo can be given a sketch in an artist's hand.

- ``train``: a small U-Net (:class:`PencilNet`) trained on the CUFS pairs
  listed in ``inversion/splits/cufs_train.txt`` (201 pairs; the 67 of
  ``cufs_val.txt`` are never trained on), 128x128 faces aligned as the app
  aligns uploaded sketches. Resumable: run it again with the same ``--out``
  and it continues where it stopped, optimizer and random state included.
  It saves every few minutes and on SIGTERM or SIGINT.
- ``draw``: pencil sketches of a pack, an aligned-photo cache, a folder of
  aligned photos or a photo archive (aligned on the way), written to an
  ``.npz`` (uint8 sketches and their paths) or a folder of PNGs.
- ``grid``: photo, hand-drawn sketch and drawn sketch of held-out pairs,
  side by side (``docs/images/pencil-cufs-val.png``).
- ``export``: the generator of a training checkpoint as the small float16
  file kept in ``inversion/weights/pencil.pt``, with its model card
  (``pencil.json``: data, steps, hardware, held-out L1), so that later
  training runs draw with it instead of training it again. ``draw`` and
  ``grid`` use that file when no ``--model`` is given.

Why this network and these losses. Photo to sketch is a pixel-aligned
translation that keeps the face's geometry and changes its rendering, the
case pix2pix was made for (Isola, Zhu, Zhou and Efros, "Image-to-Image
Translation with Conditional Adversarial Networks", CVPR 2017): a U-Net
whose skip connections carry the edges straight to the output, trained with
L1 and a PatchGAN. With 201 pairs and one CPU core the U-Net here is small
(about 3 M parameters, widths 32 to 256) and upsamples by nearest neighbour
and convolution rather than transposed convolution (no checkerboard). The
losses:

- L1 to the hand-drawn sketch: the tones (hair mass, shading, paper).
  Alone it draws the average of what artists might draw, a blur.
- L1 between the image gradients of the two: strokes have to be where and
  as sharp as the artist's. Cheap, and a sharper signal than L1 for the
  thin lines a pencil sketch is made of.
- A light conditional PatchGAN (least-squares, Mao et al. 2017): judged on
  patches about 34 px across, it asks for pencil texture (hatching, grain)
  that L1 averages away. Its weight is small (0.02 against L1's 1, close to
  pix2pix's 1:100) so it sharpens rather than invents.

No perceptual (VGG) loss: its ImageNet weights are not on these machines and
nothing may be downloaded; the face-recognition network of
:mod:`inversion.sface` is made for photos, not sketches.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import signal
import sys
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch import nn
from tqdm import tqdm

from inversion.checkpoints import half_precision, load_checkpoint, save_checkpoint, sha256_of
from inversion.data import IMAGE_SUFFIXES, PairedSketches, listed, load_aligned, load_rgb
from inversion.pack import is_pack, read_pairs, read_photos

#: Resolution the pencil model is trained and draws at (pixels, square).
RESOLUTION = 128
ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "pencil"
SPLITS = Path(__file__).resolve().parent / "splits"
CUFS = ROOT.parent / "shared" / "data" / "cufs-train.tar.gz"
#: The exported generator (``export``), what ``draw`` and ``grid`` use by default.
SHIPPED = Path(__file__).resolve().parent / "weights" / "pencil.pt"
KIND = "pencil"


# --- data ---------------------------------------------------------------------------------------------------------


@dataclass
class Pairs:
    """Aligned photos (uint8 RGB) and the sketches drawn from them (uint8 gray)."""

    stems: list[str]
    photos: np.ndarray  # (N, size, size, 3)
    sketches: np.ndarray  # (N, size, size)

    def __len__(self) -> int:
        return len(self.stems)

    def select(self, names: list[str]) -> Pairs:
        chosen = set(listed(self.stems, names))
        keep = [i for i, stem in enumerate(self.stems) if stem in chosen]
        if not keep:
            raise ValueError("none of the listed pairs is there")
        return Pairs([self.stems[i] for i in keep], self.photos[keep], self.sketches[keep])


def load_pairs(source: Path, size: int = RESOLUTION, names: list[str] | None = None, cache_dir: Path = CACHE) -> Pairs:
    """Hand-drawn pairs from a pack, a CUFS folder or the CUFS archive, aligned at ``size``.

    Pairs where the aligner found no face in the photo or the sketch are left
    out: a centred crop is framed unlike anything the model will be shown.
    Aligning a folder or archive takes a minute; the result is cached in
    ``cache_dir`` (``.cache/pencil/``, git-ignored).
    """
    source = Path(source)
    if is_pack(source):
        paired = read_pairs(source, "grayscale", names)
        if paired.photos[0].shape[0] != size:
            raise SystemExit(f"{source} holds {paired.photos[0].shape[0]} px pairs, not {size} px")
        return _found(paired)
    key = hashlib.sha256(f"{source.resolve()}:{size}".encode()).hexdigest()[:12]
    cache = Path(cache_dir) / f"pairs-{source.name.split('.')[0]}-{size}-{key}.npz"
    if not cache.exists():
        pairs = _found(_aligned_pairs(source, size))
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(".part.npz")
        np.savez(partial, stems=np.array(pairs.stems), photos=pairs.photos, sketches=pairs.sketches)
        partial.replace(cache)
        print(f"{source}: {len(pairs)} pairs aligned at {size} px, cached in {cache}")
    with np.load(cache, allow_pickle=False) as stored:
        pairs = Pairs([str(s) for s in stored["stems"]], stored["photos"], stored["sketches"])
    return pairs if names is None else pairs.select(names)


def _aligned_pairs(source: Path, size: int) -> PairedSketches:
    if source.is_dir():
        return PairedSketches.from_folder(source, "grayscale", size)
    with tempfile.TemporaryDirectory() as folder, tarfile.open(source) as archive:
        archive.extractall(folder, filter="data")
        return PairedSketches.from_folder(Path(folder), "grayscale", size)


def _found(paired: PairedSketches) -> Pairs:
    keep = [i for i, found in enumerate(paired.found) if found]
    return Pairs(
        [paired.stems[i] for i in keep],
        np.stack([paired.photos[i] for i in keep]),
        np.stack([paired.sketches[i] for i in keep]),
    )


def read_names(path: Path | None) -> list[str] | None:
    return Path(path).read_text().split() if path else None


def as_tensors(photos: np.ndarray, sketches: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """uint8 arrays → float tensors in [-1, 1], channels first."""
    photo = torch.from_numpy(np.ascontiguousarray(photos)).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    if sketches is None:
        return photo, None
    return photo, torch.from_numpy(np.ascontiguousarray(sketches)).unsqueeze(1).float().div(127.5).sub(1)


def augment(photo: torch.Tensor, sketch: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The same mirror, shift (±4 px at 128), scale (±5 %) and rotation (±3°)
    for photo and sketch, as the aligner's own jitter; colour jitter of the
    photo alone (brightness, contrast, saturation, one in ten in grey), since
    LFW and CelebA are lit and coloured unlike the CUFS studio photos."""
    count, size = photo.shape[0], photo.shape[-1]

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return torch.empty(count, *shape).uniform_(low, high, generator=generator)

    mirror = torch.where(torch.rand(count, generator=generator) < 0.5, -1.0, 1.0)
    angle = uniform(-3.0, 3.0) * math.pi / 180
    scale = uniform(0.95, 1.05)
    shift = uniform(-4.0, 4.0, 2) * 2 / size
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos * mirror, -sin, shift[:, 0]], 1), torch.stack([sin * mirror, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(photo.shape), align_corners=False)
    photo = F.grid_sample(photo, grid, padding_mode="border", align_corners=False)
    sketch = F.grid_sample(sketch, grid, padding_mode="border", align_corners=False)

    grey = photo.mean(1, keepdim=True)
    saturation = torch.where(torch.rand(count, generator=generator) < 0.1, 0.0, uniform(0.6, 1.4))
    photo = grey + (photo - grey) * saturation.view(-1, 1, 1, 1)
    mean = photo.mean((1, 2, 3), keepdim=True)
    photo = (photo - mean) * uniform(0.75, 1.25, 1, 1, 1) + mean + uniform(-0.2, 0.2, 1, 1, 1)
    return photo.clamp(-1, 1), sketch


def batch(pairs: Pairs, seed: int, step: int, batch_size: int, augmented: bool = True) -> dict[str, torch.Tensor]:
    """The batch of ``step``: a fixed function of seed and step, so a resumed
    run sees exactly the batches an uninterrupted one would."""
    per_epoch = max(1, len(pairs) // batch_size)
    epoch, position = divmod(step, per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(len(pairs))
    chosen = np.sort(order[position * batch_size : (position + 1) * batch_size])
    photo, sketch = as_tensors(pairs.photos[chosen], pairs.sketches[chosen])
    if augmented:
        photo, sketch = augment(photo, sketch, torch.Generator().manual_seed(seed * 1_000_003 + step))
    return {"photo": photo, "sketch": sketch}


# --- networks -----------------------------------------------------------------------------------------------------


class DownLayer(nn.Sequential):
    """4x4 convolution of stride 2, instance norm, leaky ReLU: the pix2pix
    U-Net encoder block (Isola et al. 2017, section 6.1.1). Instance norm, as
    pix2pix's batch norm at batch size 1, so drawing does not depend on the
    batch or on running statistics."""

    def __init__(self, in_channels: int, out_channels: int, norm: bool = True):
        super().__init__(
            nn.ReflectionPad2d(1),
            nn.Conv2d(in_channels, out_channels, 4, stride=2, bias=not norm),
            nn.InstanceNorm2d(out_channels, affine=True) if norm else nn.Identity(),
            nn.LeakyReLU(0.2, inplace=True),
        )


class UpLayer(nn.Sequential):
    """Nearest-neighbour upsampling, 3x3 convolution, instance norm, ReLU: the
    U-Net decoder block, upsampled as in :class:`inversion.model.UpsampleLayer`
    (Odena, Dumoulin and Olah, Distill 2016) instead of pix2pix's transposed
    convolution."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.ReflectionPad2d(1),
            nn.Conv2d(in_channels, out_channels, 3, bias=False),
            nn.InstanceNorm2d(out_channels, affine=True),
            nn.ReLU(inplace=True),
        )


class PencilNet(nn.Module):
    """Photo in, pencil sketch out: a five-level U-Net (Ronneberger et al.
    2015, as pix2pix uses it), the input photo also skipped to the last
    convolution so fine detail need not pass the bottleneck.

    Input: RGB photo in [-1, 1], (N, 3, H, W), H and W multiples of 32.
    Output: grey sketch in [-1, 1], (N, 1, H, W), white paper = +1.
    """

    def __init__(self, width: int = 32):
        super().__init__()
        self.width = width
        widths = [width, width * 2, width * 4, width * 8, width * 8]
        self.down = nn.ModuleList(
            DownLayer(a, b, norm=i > 0) for i, (a, b) in enumerate(zip([3, *widths], widths, strict=False))
        )
        # up[k] doubles the size of level k+1's output (the deepest alone, the others with their skip).
        ins = [2 * widths[0], 2 * widths[1], 2 * widths[2], 2 * widths[3], widths[4]]
        outs = [width, *widths[:-1]]
        self.up = nn.ModuleList(UpLayer(a, b) for a, b in zip(ins, outs, strict=True))
        self.out = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(width + 3, 1, 3), nn.Tanh())

    def forward(self, photo: torch.Tensor) -> torch.Tensor:
        height, width = photo.shape[-2:]
        if height % 32 or width % 32:
            raise ValueError(f"photo size {width}x{height} is not a multiple of 32")
        skips, x = [], photo
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        x = self.up[-1](skips.pop())
        for layer in reversed(self.up[:-1]):
            x = layer(torch.cat([x, skips.pop()], 1))
        return self.out(torch.cat([x, photo], 1))


class PatchCritic(nn.Module):
    """Conditional PatchGAN (Isola et al. 2017, section 3.2.2), three layers
    instead of pix2pix's five: each output judges a patch of about 34 px
    (photo and sketch together) as hand-drawn or drawn by the network."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            DownLayer(4, width, norm=False),
            DownLayer(width, width * 2),
            nn.ReflectionPad2d(1),
            nn.Conv2d(width * 2, width * 4, 4, bias=False),
            nn.InstanceNorm2d(width * 4, affine=True),
            nn.LeakyReLU(0.2, inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(width * 4, 1, 4),
        )

    def forward(self, photo: torch.Tensor, sketch: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([photo, sketch], 1))


# --- losses -------------------------------------------------------------------------------------------------------


@dataclass
class LossWeights:
    pixel: float = 1.0
    gradient: float = 1.0
    adversarial: float = 0.02


def pixel_loss(drawn: torch.Tensor, sketch: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(drawn, sketch)


def gradient_loss(drawn: torch.Tensor, sketch: torch.Tensor) -> torch.Tensor:
    """L1 between horizontal and vertical differences: strokes in place and as sharp."""

    def differences(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]

    (dx, dy), (sx, sy) = differences(drawn), differences(sketch)
    return F.l1_loss(dx, sx) + F.l1_loss(dy, sy)


def least_squares_loss(scores: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss (Mao et al. 2017): steadier than the log loss on tiny data."""
    return (scores - (1.0 if real else 0.0)).pow(2).mean()


# --- training -----------------------------------------------------------------------------------------------------


@dataclass
class TrainConfig:
    out: Path = Path("runs/pencil.pt")
    #: CUFS folder or archive, or a pack made with ``--hand-drawn``.
    pairs: Path = CUFS
    names: Path = SPLITS / "cufs_train.txt"
    #: Pairs only measured (L1 at each save), never trained on; None: no measuring.
    val_names: Path | None = SPLITS / "cufs_val.txt"
    #: Total steps of the run, counted across resumptions.
    steps: int = 6000
    #: Stop this process after this many steps (then save); the run stays resumable.
    stop_after: int | None = None
    batch_size: int = 8
    learning_rate: float = 2e-4
    #: The last fraction of ``steps`` decays the learning rate linearly to zero.
    decay_fraction: float = 0.3
    width: int = 32
    resolution: int = RESOLUTION
    weights: LossWeights = field(default_factory=LossWeights)
    augmented: bool = True
    seed: int = 0
    threads: int | None = None
    save_minutes: float = 3.0
    log_every: int = 25


def learning_rate(config: TrainConfig, step: int) -> float:
    """Constant, then linear decay to zero over the last ``decay_fraction`` of
    ``steps``. Resuming with more ``--steps`` raises it again (a warm restart)."""
    decay = max(1, round(config.steps * config.decay_fraction))
    return config.learning_rate * min(1.0, (config.steps - step) / decay)


@dataclass
class Trainer:
    """The generator, the critic and their optimizers: everything a checkpoint holds."""

    config: TrainConfig
    generator: PencilNet
    critic: PatchCritic
    generator_optimizer: torch.optim.Optimizer
    critic_optimizer: torch.optim.Optimizer
    step: int = 0

    @classmethod
    def new(cls, config: TrainConfig) -> Trainer:
        torch.manual_seed(config.seed)
        generator, critic = PencilNet(config.width), PatchCritic(config.width)
        return cls(
            config,
            generator,
            critic,
            torch.optim.Adam(generator.parameters(), lr=config.learning_rate, betas=(0.5, 0.999)),
            torch.optim.Adam(critic.parameters(), lr=config.learning_rate, betas=(0.5, 0.999)),
        )

    def train_step(self, photo: torch.Tensor, sketch: torch.Tensor) -> dict[str, float]:
        weights, rate = self.config.weights, learning_rate(self.config, self.step)
        for optimizer in (self.generator_optimizer, self.critic_optimizer):
            for group in optimizer.param_groups:
                group["lr"] = rate
        drawn = self.generator(photo)
        losses = {}
        if weights.adversarial:
            self.critic_optimizer.zero_grad(set_to_none=True)
            real = least_squares_loss(self.critic(photo, sketch), True)
            fake = least_squares_loss(self.critic(photo, drawn.detach()), False)
            critic_loss = (real + fake) / 2
            critic_loss.backward()
            self.critic_optimizer.step()
            losses["critic"] = float(critic_loss.detach())
        self.generator_optimizer.zero_grad(set_to_none=True)
        terms = {"pixel": pixel_loss(drawn, sketch), "gradient": gradient_loss(drawn, sketch)}
        if weights.adversarial:
            terms["adversarial"] = least_squares_loss(self.critic(photo, drawn), True)
        total = sum(getattr(weights, name) * value for name, value in terms.items())
        total.backward()
        self.generator_optimizer.step()
        self.step += 1
        return {
            "total": float(total.detach()),
            **{name: float(value.detach()) for name, value in terms.items()},
            **losses,
        }

    def state(self) -> dict:
        return {
            "generator": self.generator.state_dict(),
            "critic": self.critic.state_dict(),
            "generator_optimizer": self.generator_optimizer.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "step": self.step,
        }

    def load(self, state: dict) -> None:
        self.generator.load_state_dict(state["generator"])
        self.critic.load_state_dict(state["critic"])
        self.generator_optimizer.load_state_dict(state["generator_optimizer"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
        torch.set_rng_state(state["torch_rng"])
        self.step = int(state["step"])


def config_record(config: TrainConfig) -> dict:
    """The config as plain values, for a checkpoint's metadata."""
    return {key: str(value) if isinstance(value, Path) else value for key, value in asdict(config).items()}


def validate(generator: PencilNet, pairs: Pairs, batch_size: int = 16) -> dict[str, float]:
    drawn = draw_array(generator, pairs.photos, batch_size)
    error = np.abs(drawn.astype(np.float32) - pairs.sketches.astype(np.float32)) / 127.5  # on the [-1, 1] scale
    return {"val_l1": float(error.mean())}


def train(config: TrainConfig, pairs: Pairs | None = None, val: Pairs | None = None) -> Path:
    """Run or resume training; ``pairs`` and ``val`` replace loading them from ``config.pairs``."""
    if config.threads:
        torch.set_num_threads(config.threads)
    if pairs is None:
        pairs = load_pairs(config.pairs, config.resolution, read_names(config.names))
        if config.val_names:
            val = load_pairs(config.pairs, config.resolution, read_names(config.val_names))
    if pairs.photos.shape[1] != config.resolution:
        raise SystemExit(f"the pairs are {pairs.photos.shape[1]} px, --resolution is {config.resolution}")
    if val is not None and set(val.stems) & set(pairs.stems):
        raise SystemExit("the validation pairs overlap the training pairs")

    trainer = Trainer.new(config)
    if config.out.exists():
        state = load_checkpoint(config.out)
        saved = state["metadata"]
        if saved.get("kind") != KIND or saved["width"] != config.width or saved["resolution"] != config.resolution:
            raise SystemExit(f"{config.out} is not a {config.resolution} px pencil model of width {config.width}")
        trainer.load(state)
        print(f"resuming {config.out} at step {trainer.step} of {config.steps}")
    metrics: dict[str, float] = {}

    def save() -> None:
        nonlocal metrics
        if val is not None:
            metrics = validate(trainer.generator, val)
            trainer.generator.train()
        metadata = {
            "kind": KIND,
            "resolution": config.resolution,
            "width": config.width,
            "step": trainer.step,
            "pairs": len(pairs),
            "stems_sha256": hashlib.sha256("\n".join(pairs.stems).encode()).hexdigest(),
            "config": config_record(config),
            "metrics": metrics,
        }
        config.out.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(config.out, trainer.state(), metadata)
        shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        print(f"saved {config.out} at step {trainer.step}{', ' + shown if shown else ''}", flush=True)

    stopping: list[str] = []

    def request_stop(signum: int, frame: object) -> None:
        stopping.append(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    last = config.steps if config.stop_after is None else min(config.steps, trainer.step + config.stop_after)
    try:
        trainer.generator.train()
        saved_at, started, first = time.monotonic(), time.monotonic(), trainer.step
        running: dict[str, float] = {}
        bar = tqdm(total=last, initial=trainer.step, unit="step", disable=not sys.stderr.isatty())
        while trainer.step < last and not stopping:
            items = batch(pairs, config.seed, trainer.step, config.batch_size, config.augmented)
            losses = trainer.train_step(items["photo"], items["sketch"])
            running = {k: 0.9 * running.get(k, v) + 0.1 * v for k, v in losses.items()}
            bar.update()
            if trainer.step % config.log_every == 0 or trainer.step == last:
                speed = (trainer.step - first) / (time.monotonic() - started)
                shown = " ".join(f"{k} {v:.4f}" for k, v in running.items())
                rate = learning_rate(config, trainer.step)
                print(f"step {trainer.step}/{config.steps} {shown} lr {rate:.2e} {speed:.3f} steps/s", flush=True)
            if time.monotonic() - saved_at > config.save_minutes * 60:
                save()
                saved_at = time.monotonic()
        bar.close()
        if stopping:
            print(f"{stopping[0]}: saving and stopping at step {trainer.step}", flush=True)
        save()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return config.out


# --- drawing ------------------------------------------------------------------------------------------------------


def load_generator(path: Path) -> tuple[PencilNet, dict]:
    state = load_checkpoint(path)
    metadata = state["metadata"]
    if metadata.get("kind") != KIND:
        raise SystemExit(f"{path} is not a pencil model")
    generator = PencilNet(metadata["width"])
    generator.load_state_dict(state["generator"])
    return generator.eval(), metadata


def resized(images: np.ndarray, size: int) -> np.ndarray:
    if images.shape[1] == size:
        return images
    resample = Image.Resampling.LANCZOS
    return np.stack([np.asarray(Image.fromarray(image).resize((size, size), resample)) for image in images])


def draw_array(generator: PencilNet, photos: np.ndarray, batch_size: int = 16, progress: bool = False) -> np.ndarray:
    """Pencil sketches (uint8, (N, H, W)) of aligned photos (uint8 RGB, (N, H, W, 3))."""
    generator.eval()
    drawn = []
    with torch.inference_mode():
        for start in tqdm(range(0, len(photos), batch_size), disable=not progress, unit="batch"):
            photo, _ = as_tensors(photos[start : start + batch_size])
            sketch = generator(photo)[:, 0].clamp(-1, 1).add(1).mul(127.5).round().byte()
            drawn.append(sketch.numpy())
    return np.concatenate(drawn)


def read_aligned_photos(source: str, size: int) -> tuple[np.ndarray, list[str]]:
    """Aligned photos and their paths from a pack, an ``.npz`` of aligned photos
    (``.cache/aligned/``), a folder of aligned images, or a photo folder or
    archive written ``archive:subfolder`` (``--align``-ed at ``size``)."""
    path = Path(source.partition(":")[0])
    if is_pack(path):
        photos = read_photos(path)
        return photos.photos, photos.paths
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as stored:
            return stored["photos"], [str(p) for p in stored["paths"]]
    if path.is_dir() and ":" not in source:
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise SystemExit(f"no images in {path}")
        images = [np.asarray(load_rgb(f.read_bytes())) for f in files]
        if len({image.shape for image in images}) != 1:
            raise SystemExit(f"the images in {path} differ in size: are they aligned crops?")
        return np.stack(images), [str(f.relative_to(path)) for f in files]
    photos = load_aligned(source, size=size)
    return photos.photos, photos.paths


@dataclass
class DrawConfig:
    model: Path
    photos: str
    out: Path
    size: int | None = None
    batch_size: int = 16
    threads: int | None = None


def draw(config: DrawConfig) -> Path:
    """Draw every photo of ``config.photos``; write an ``.npz`` or a folder of PNGs."""
    if config.threads:
        torch.set_num_threads(config.threads)
    generator, metadata = load_generator(config.model)
    resolution = metadata["resolution"]
    photos, paths = read_aligned_photos(config.photos, resolution)
    if photos.shape[1] != resolution:
        print(f"note: the photos are {photos.shape[1]} px, resized to the model's {resolution} px", file=sys.stderr)
    drawn = draw_array(generator, resized(photos, resolution), config.batch_size, progress=True)
    sketches = resized(drawn, config.size or photos.shape[1])
    out = config.out
    if out.suffix == ".npz":
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_suffix(".part.npz")
        np.savez(partial, sketches=sketches, paths=np.array(paths), model_step=metadata["step"])
        partial.replace(out)
    else:
        for sketch, name in zip(sketches, paths, strict=True):
            target = (out / name).with_suffix(".png")
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(sketch).save(target)
    print(f"{out}: {len(sketches)} pencil sketches, {sketches.shape[1]} px, model step {metadata['step']}")
    return out


@dataclass
class GridConfig:
    model: Path
    out: Path = ROOT / "docs" / "images" / "pencil-cufs-val.png"
    pairs: Path = CUFS
    names: Path = SPLITS / "cufs_val.txt"
    count: int = 8
    tile: int = 160
    groups: int = 2
    threads: int | None = None


def grid_image(photos: np.ndarray, hand_drawn: np.ndarray, drawn: np.ndarray, tile: int, groups: int) -> Image.Image:
    """Rows of photo | hand-drawn | drawn, ``groups`` blocks of rows side by side, labelled on top."""
    rows = []
    for photo, real, ours in zip(photos, hand_drawn, drawn, strict=True):
        cells = [Image.fromarray(photo), Image.fromarray(real).convert("RGB"), Image.fromarray(ours).convert("RGB")]
        row = np.concatenate([np.asarray(c.resize((tile, tile), Image.Resampling.LANCZOS)) for c in cells], axis=1)
        rows.append(row)
    per_group = math.ceil(len(rows) / groups)
    rows += [np.full_like(rows[0], 255)] * (per_group * groups - len(rows))
    blocks = [np.concatenate(rows[g * per_group : (g + 1) * per_group], axis=0) for g in range(groups)]
    gap = np.full((blocks[0].shape[0], tile // 8, 3), 255, np.uint8)
    body = np.concatenate([part for block in blocks for part in (block, gap)][:-1], axis=1)
    header = 24
    image = Image.new("RGB", (body.shape[1], body.shape[0] + header), "white")
    image.paste(Image.fromarray(body), (0, header))
    pen = ImageDraw.Draw(image)
    for g in range(groups):
        left = g * (3 * tile + gap.shape[1])
        for k, label in enumerate(("photo", "hand-drawn", "drawn by the model")):
            pen.text((left + k * tile + 6, 6), label, fill="black")
    return image


def grid(config: GridConfig) -> Path:
    if config.threads:
        torch.set_num_threads(config.threads)
    generator, metadata = load_generator(config.model)
    pairs = load_pairs(config.pairs, metadata["resolution"], read_names(config.names))
    chosen = np.linspace(0, len(pairs) - 1, min(config.count, len(pairs))).round().astype(int)
    shown = Pairs([pairs.stems[i] for i in chosen], pairs.photos[chosen], pairs.sketches[chosen])
    drawn = draw_array(generator, shown.photos)
    config.out.parent.mkdir(parents=True, exist_ok=True)
    grid_image(shown.photos, shown.sketches, drawn, config.tile, config.groups).save(config.out, optimize=True)
    print(f"{config.out}: {', '.join(shown.stems)}; model step {metadata['step']}")
    print(f"val L1 over all {len(pairs)} pairs of {config.names.name}: {validate(generator, pairs)['val_l1']:.4f}")
    return config.out


@dataclass
class ExportConfig:
    model: Path
    out: Path = SHIPPED
    hardware: str = ""


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def export(config: ExportConfig) -> Path:
    """Write the generator of ``config.model`` in float16 to ``config.out`` and its card beside it."""
    generator, metadata = load_generator(config.model)
    training = metadata.get("config", {})
    config.out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(
        config.out, {"generator": half_precision(generator.state_dict())}, metadata | {"precision": "float16"}
    )
    card = {
        "model": "pencil",
        "purpose": (
            "Draws pencil-style sketches of aligned face photos (photo to sketch), to give the sketch-inversion "
            "models' training photos a sketch in an artist's hand. It is a training tool: the app never runs it."
        ),
        "weights": config.out.name,
        "weights_sha256": sha256_of(config.out),
        "architecture": f"U-Net (PencilNet), width {metadata['width']}, "
        f"{sum(p.numel() for p in generator.parameters()):,} parameters",
        "resolution": metadata["resolution"],
        "data": {
            "training_pairs": metadata["pairs"],
            "training_pairs_listed_in": "inversion/splits/cufs_train.txt",
            "stems_sha256": metadata["stems_sha256"],
            "held_out_pairs_listed_in": "inversion/splits/cufs_val.txt",
            "source": "CUHK Face Sketch database (CUFS), training part: hand-drawn sketches of photos",
        },
        "training": {
            "steps": metadata["step"],
            "batch_size": training.get("batch_size"),
            "learning_rate": training.get("learning_rate"),
            "losses": training.get("weights"),
            "hardware": config.hardware or f"{cpu_model()}, CPU, {training.get('threads') or 'all'} thread(s)",
        },
        "metrics": {
            **{key: round(value, 4) for key, value in metadata.get("metrics", {}).items()},
            "metrics_note": "val_l1: mean absolute difference to the artist's sketch over the held-out pairs, "
            "on the [-1, 1] scale (0 = identical)",
        },
        "limitations": [
            "Draws smooth pencil shading more than separate hatched strokes.",
            "Learned from 201 sketches by the CUFS artists: one school of drawing, mostly young Asian and "
            "European adults photographed in studio light.",
        ],
    }
    card_path = config.out.with_suffix(".json")
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(f"{config.out}: step {metadata['step']}, {config.out.stat().st_size / 1e6:.1f} MB; card {card_path}")
    return config.out


# --- command line -------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> TrainConfig | DrawConfig | GridConfig | ExportConfig:
    parser = argparse.ArgumentParser(prog="python -m inversion.pencil", description=__doc__.split("\n\n")[1])
    commands = parser.add_subparsers(dest="command", required=True)
    defaults, weights = TrainConfig(), LossWeights()

    run = commands.add_parser("train", help="train or resume the photo-to-pencil model")
    run.add_argument("--out", type=Path, default=defaults.out, help="checkpoint; resumed from when it exists")
    run.add_argument("--pairs", type=Path, default=defaults.pairs, help="CUFS folder or .tar.gz, or a .pack.npz")
    run.add_argument("--names", type=Path, default=defaults.names, help="stems of the pairs to train on")
    run.add_argument("--val-names", type=Path, default=defaults.val_names, help="stems of pairs to measure on")
    run.add_argument("--no-val", action="store_true", help="measure on no pairs")
    run.add_argument("--steps", type=int, default=defaults.steps, help="total steps, across resumptions")
    run.add_argument("--stop-after", type=int, help="stop (and save) after this many steps in this run")
    run.add_argument("--batch-size", type=int, default=defaults.batch_size)
    run.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    run.add_argument("--decay-fraction", type=float, default=defaults.decay_fraction)
    run.add_argument("--width", type=int, default=defaults.width, help="channels of the first U-Net level")
    run.add_argument("--resolution", type=int, default=defaults.resolution)
    run.add_argument("--pixel-weight", type=float, default=weights.pixel)
    run.add_argument("--gradient-weight", type=float, default=weights.gradient)
    run.add_argument("--adversarial-weight", type=float, default=weights.adversarial, help="0: no critic")
    run.add_argument("--no-augment", action="store_true")
    run.add_argument("--seed", type=int, default=defaults.seed)
    run.add_argument("--threads", type=int, help="PyTorch CPU threads (1 leaves the other core free)")
    run.add_argument("--save-minutes", type=float, default=defaults.save_minutes)
    run.add_argument("--log-every", type=int, default=defaults.log_every)

    paint = commands.add_parser("draw", help="draw pencil sketches of aligned photos")
    paint.add_argument("photos", help="a .pack.npz, an aligned .npz, a folder of aligned photos, or ARCHIVE[:SUB]")
    paint.add_argument("--model", type=Path, default=SHIPPED, help="default: the exported weights")
    paint.add_argument("--out", type=Path, required=True, help="an .npz, or a folder for PNGs (under .cache/)")
    paint.add_argument("--size", type=int, help="size of the sketches written (default: the photos' size)")
    paint.add_argument("--batch-size", type=int, default=16)
    paint.add_argument("--threads", type=int)

    show = commands.add_parser("grid", help="photo | hand-drawn | drawn for held-out pairs")
    show.add_argument("--model", type=Path, default=SHIPPED, help="default: the exported weights")
    show.add_argument("--out", type=Path, default=GridConfig.out)
    show.add_argument("--pairs", type=Path, default=GridConfig.pairs)
    show.add_argument("--names", type=Path, default=GridConfig.names)
    show.add_argument("--count", type=int, default=GridConfig.count)
    show.add_argument("--tile", type=int, default=GridConfig.tile, help="pixels per image in the grid")
    show.add_argument("--groups", type=int, default=GridConfig.groups, help="blocks of rows side by side")
    show.add_argument("--threads", type=int)

    ship = commands.add_parser("export", help="the generator in float16 with its model card, for inversion/weights/")
    ship.add_argument("--model", type=Path, default=defaults.out, help="a training checkpoint")
    ship.add_argument("--out", type=Path, default=SHIPPED)
    ship.add_argument("--hardware", default="", help="where it was trained (default: this machine's CPU)")

    args = vars(parser.parse_args(argv))
    command = args.pop("command")
    if command == "export":
        return ExportConfig(**args)
    if command == "draw":
        return DrawConfig(**args)
    if command == "grid":
        return GridConfig(**args)
    loss = LossWeights(args.pop("pixel_weight"), args.pop("gradient_weight"), args.pop("adversarial_weight"))
    if args.pop("no_val"):
        args["val_names"] = None
    args["augmented"] = not args.pop("no_augment")
    return TrainConfig(weights=loss, **args)


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    if isinstance(config, TrainConfig):
        train(config)
    elif isinstance(config, DrawConfig):
        draw(config)
    elif isinstance(config, ExportConfig):
        export(config)
    else:
        grid(config)


if __name__ == "__main__":
    main()
