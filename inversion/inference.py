"""Sketch in, composite out: the API the web app's workers call.

``load_model(style)`` loads the shipped weights of a style once per process
(lazily, under a lock; on CUDA when present) after checking the file's
SHA-256 against its model card; ``invert(images, style)`` aligns each sketch
with :mod:`inversion.align`, runs the batch in eval mode under
``torch.inference_mode()`` and returns RGB composites at the training
resolution. Results are deterministic for the same input and weights.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from inversion import STYLES, align
from inversion.cards import WeightsError, model_card, weights_path
from inversion.checkpoints import load_checkpoint, sha256_of
from inversion.data import as_style, to_image, to_tensor
from inversion.model import IN_CHANNELS, SketchInversionNet


@dataclass(frozen=True)
class LoadedModel:
    style: str
    net: SketchInversionNet = field(repr=False)
    device: torch.device
    weights_path: Path
    weights_sha256: str
    metadata: dict = field(repr=False)

    @property
    def name(self) -> str:
        return f"csi-{self.style}-{self.weights_sha256[:12]}"

    @property
    def resolution(self) -> int:
        return int(self.metadata.get("resolution", align.RESOLUTION))


@dataclass(frozen=True)
class Inversion:
    composite: Image.Image  # RGB, resolution x resolution
    sketch: Image.Image  # the aligned sketch crop the network saw
    face: align.AlignedFace


def verified_weights(style: str) -> tuple[Path, str]:
    """The shipped weights of ``style`` and their SHA-256, checked against the card."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; expected one of {STYLES}")
    path = weights_path(style)
    if not path.is_file():
        raise WeightsError(f"the {style} model's weights {path} are missing")
    expected = model_card(style).get("weights_sha256")
    actual = sha256_of(path)
    if actual != expected:
        raise WeightsError(
            f"{path} does not match its model card: SHA-256 {actual} but the card names {expected}. "
            "Refusing to load weights whose origin cannot be shown."
        )
    return path, actual


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


_lock = threading.Lock()
_models: dict[tuple[str, str, str], LoadedModel] = {}


def load_model(style: str, weights: str | Path | None = None, device: str | torch.device | None = None) -> LoadedModel:
    """The model of ``style``, loaded once per process and device.

    ``weights`` None means the shipped default (verified against its card);
    otherwise a checkpoint written by ``inversion.train`` or ``inversion.export``.
    """
    device = torch.device(device) if device is not None else default_device()
    key = (style, str(weights or ""), str(device))
    with _lock:
        if key not in _models:
            if weights is None:
                path, sha256 = verified_weights(style)
            else:
                path = Path(weights)
                if not path.is_file():
                    raise WeightsError(f"no weights file {path}")
                sha256 = sha256_of(path)
            try:
                state = load_checkpoint(path)
            except Exception as error:
                raise WeightsError(f"cannot read weights {path}: {error}") from error
            metadata = state.get("metadata", {})
            if metadata.get("style", style) != style:
                raise WeightsError(f"{path} holds a {metadata['style']} model, not {style}")
            net = SketchInversionNet(IN_CHANNELS[style])
            net.load_state_dict({k: v.float() for k, v in state["model"].items()})
            net.to(device).eval().requires_grad_(False)
            _models[key] = LoadedModel(style, net, device, path, sha256, metadata)
        return _models[key]


def reset_models() -> None:
    """Forget loaded models (tests)."""
    with _lock:
        _models.clear()


def open_image(source: str | Path | Image.Image) -> np.ndarray:
    """An image as uint8 RGB, EXIF orientation applied."""
    image = source if isinstance(source, Image.Image) else Image.open(source)
    image = ImageOps.exif_transpose(image)
    if image.mode not in ("RGB", "L"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return np.asarray(image.convert("RGB"))


def invert_faces(
    images: list[Image.Image | np.ndarray],
    style: str,
    weights: str | Path | None = None,
    device: str | torch.device | None = None,
    boxes: list[align.Box | None] | None = None,
    aligned: bool = False,
) -> list[Inversion]:
    """Align and invert a batch of sketches; ``boxes`` overrides the face
    detector per image; ``aligned`` skips alignment (inputs already cropped)."""
    model = load_model(style, weights, device)
    size = model.resolution
    faces = []
    for index, image in enumerate(images):
        array = image if isinstance(image, np.ndarray) else open_image(image)
        if aligned:
            crop = np.asarray(Image.fromarray(array).resize((size, size), Image.Resampling.BICUBIC))
            face = align.AlignedFace(crop, True, (0, 0, array.shape[1], array.shape[0]), "given")
        else:
            face = align.align(array, size=size, box=boxes[index] if boxes else None)
        faces.append(face)
    if not faces:
        return []
    sketches = [as_style(face.image, style) for face in faces]
    batch = torch.stack([to_tensor(s) for s in sketches]).to(model.device)
    with torch.inference_mode():
        composites = model.net(batch)
    return [
        Inversion(Image.fromarray(to_image(c)), Image.fromarray(s), face)
        for c, s, face in zip(composites, sketches, faces, strict=True)
    ]


def invert(
    images: list[Image.Image | np.ndarray],
    style: str,
    weights: str | Path | None = None,
    device: str | torch.device | None = None,
) -> list[Image.Image]:
    """Composites for a batch of sketches (see :func:`invert_faces`)."""
    return [result.composite for result in invert_faces(images, style, weights, device)]
