"""Tiny generated faces and random-weight models for the inversion tests
(no real data, no trained weights needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from inversion.checkpoints import save_checkpoint, sha256_of
from inversion.model import SketchInversionNet


def generated_face(seed: int, size: int = 64) -> np.ndarray:
    """A face-like drawing: skin-coloured oval, dark eyes and mouth, on a
    coloured background. uint8 RGB."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    image = np.empty((size, size, 3), np.float32)
    image[:] = rng.uniform(0.2, 0.9, 3)
    face = ((x - 0.5) / 0.3) ** 2 + ((y - 0.52) / 0.4) ** 2 < 1
    image[face] = rng.uniform(0.5, 0.9) * np.array([1.0, 0.8, 0.7])
    for cx in (0.38, 0.62):
        image[((x - cx) / 0.06) ** 2 + ((y - 0.42) / 0.03) ** 2 < 1] = 0.1
    image[(np.abs(x - 0.5) < 0.1) & (np.abs(y - 0.7) < 0.02)] = (0.5, 0.15, 0.15)
    return (image * 255).astype(np.uint8)


def write_random_weights(folder: Path, style: str, seed: int = 0) -> Path:
    """A random-weight model of ``style`` with a matching model card, laid
    out like inversion/weights/."""
    torch.manual_seed(seed)
    net = SketchInversionNet.for_style(style)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{style}.pt"
    save_checkpoint(path, {"model": net.state_dict(), "step": 0}, metadata={"style": style, "resolution": 32})
    card = {"file": path.name, "weights_sha256": sha256_of(path), "note": "random weights for tests"}
    (folder / f"{style}.json").write_text(json.dumps(card))
    return path


def write_pairs(root: Path, count: int = 4) -> None:
    """``count`` people under ``root``, each an aligned face photo (``photos/p<i>/a.png``) and its
    gray "sketch" (``sketches/p<i>/a.jpg``), the folders ``inversion.evaluate`` reads."""
    for i in range(count):
        face = generated_face(i, size=48)
        (root / "photos" / f"p{i}").mkdir(parents=True)
        (root / "sketches" / f"p{i}").mkdir(parents=True)
        Image.fromarray(face).save(root / "photos" / f"p{i}" / "a.png")
        Image.fromarray(face).convert("L").save(root / "sketches" / f"p{i}" / "a.jpg")
