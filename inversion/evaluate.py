"""Measure a model on paired sketches and photos:
``python -m inversion.evaluate --style grayscale --photos DIR --sketches DIR``.

For every pair (matching relative paths without suffix, e.g. CUFS's
``train_photos/AR_100.jpg`` ↔ ``train_sketches/AR_100.jpg``) the sketch is
aligned and inverted and the composite compared with the aligned true photo,
with the paper's measures and the field's:

- SSIM, FSIM (``piq``), PSNR and the Pearson correlation of pixel values;
- identity: the 128-d descriptor of dlib's face-recognition ResNet (shipped
  by ``face_recognition_models``; independent of training, which never sees
  it), the distance to the true photo's descriptor, and rank-1 / rank-10
  identification: is the true person among the 1 / 10 gallery photos nearest
  to the probe? The gallery is every photo of the folder; identities are the
  sub-folders where photos are in sub-folders, else each file is a person.

The same figures for the raw sketch against the photo are the baseline.
``--groups`` adds rank-1 per group of files, the group being the part of a
file name before its first ``_`` (CUFS: ``AR``, ``CUHK``, ``XM2VTS``, three
collections with different people, photographers and artists), so a model
that fails one group of faces cannot hide behind the average.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import dlib
import numpy as np
import piq
import torch
from PIL import Image

from inversion import STYLES, align
from inversion.data import load_rgb, pair_files
from inversion.inference import invert_faces, load_model

METRICS = ("ssim", "fsim", "psnr", "pearson", "identity_distance", "rank1", "rank10")


@dataclass
class Pair:
    key: str  # relative path without suffix
    identity: str
    photo: np.ndarray  # aligned RGB crop
    sketch: np.ndarray  # raw sketch as uploaded (RGB)


class Recognizer:
    """dlib's face-recognition ResNet on aligned crops.

    dlib's descriptor expects a 150x150 chip cut with ``padding=0.25``; the
    aligner's crops use ``align.PADDING`` around the same landmark square, so
    the centre part is cut out and resized.
    """

    def __init__(self):
        self.net = dlib.face_recognition_model_v1(str(align.model_file("dlib_face_recognition_resnet_model_v1.dat")))

    def describe(self, crops: list[np.ndarray]) -> np.ndarray:
        chips = []
        for crop in crops:
            rgb = crop if crop.ndim == 3 else np.stack([crop] * 3, -1)
            size = rgb.shape[0]
            inner = round(size * 1.5 / (1 + 2 * align.PADDING))
            start = (size - inner) // 2
            chip = Image.fromarray(rgb[start : start + inner, start : start + inner])
            chips.append(np.ascontiguousarray(np.asarray(chip.resize((150, 150), Image.Resampling.BICUBIC))))
        return np.array([np.array(d) for d in self.net.compute_face_descriptor(chips)])


def to_unit(images: list[np.ndarray]) -> torch.Tensor:
    arrays = [im if im.ndim == 3 else np.stack([im] * 3, -1) for im in images]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255.0


def image_scores(probes: list[np.ndarray], photos: list[np.ndarray]) -> dict[str, float]:
    x, y = to_unit(probes), to_unit(photos)
    xf, yf = x.flatten(1), y.flatten(1)
    xc, yc = xf - xf.mean(1, keepdim=True), yf - yf.mean(1, keepdim=True)
    pearson = (xc * yc).sum(1) / (xc.norm(dim=1) * yc.norm(dim=1) + 1e-8)
    return {
        "ssim": float(piq.ssim(x, y, data_range=1.0)),
        "fsim": float(piq.fsim(x, y, data_range=1.0, chromatic=True)),
        "psnr": float(piq.psnr(x, y, data_range=1.0)),
        "pearson": float(pearson.mean()),
    }


def identification_ranks(distances: np.ndarray, identities: list[str]) -> np.ndarray:
    """For each probe (row), the rank of the first gallery photo of its own
    person among the gallery sorted by distance (1 = nearest)."""
    people = np.array(identities)
    ranks = []
    for i, row in enumerate(distances):
        order = people[np.argsort(row, kind="stable")]
        ranks.append(int(np.argmax(order == people[i])) + 1)
    return np.array(ranks)


def identity_scores(
    probe_descriptors: np.ndarray, gallery: np.ndarray, identities: list[str]
) -> tuple[dict[str, float], np.ndarray]:
    """Identity distance to the true photo, rank-1 and rank-10; and each probe's rank."""
    distances = np.linalg.norm(probe_descriptors[:, None, :] - gallery[None, :, :], axis=2)
    ranks = identification_ranks(distances, identities)
    scores = {
        "identity_distance": float(distances[np.arange(len(ranks)), np.arange(len(ranks))].mean()),
        "rank1": float(np.mean(ranks <= 1)),
        "rank10": float(np.mean(ranks <= 10)),
    }
    return scores, ranks


def group_of(key: str) -> str:
    return Path(key).name.split("_", 1)[0]


def rank1_by_group(keys: list[str], ranks: dict[str, np.ndarray]) -> dict[str, dict]:
    """Rank-1 of each kind of probe (composite, sketch), given each probe's
    rank, per group of files."""
    groups = np.array([group_of(key) for key in keys])
    return {
        group: {"pairs": int((groups == group).sum())}
        | {name: round(float(np.mean(r[groups == group] <= 1)), 4) for name, r in ranks.items()}
        for group in sorted(set(groups))
    }


def evaluate(
    style: str,
    photos: Path,
    sketches: Path,
    weights: Path | None = None,
    names: list[str] | None = None,
    aligned: bool = False,
    grid: Path | None = None,
    batch_size: int = 32,
    groups: bool = False,
) -> dict:
    model = load_model(style, weights)
    size = model.resolution
    try:
        files = pair_files(photos, sketches, names)
    except ValueError as error:
        raise SystemExit(str(error)) from error
    photo_crops, sketch_images, identities, no_face = [], [], [], 0
    for key, photo_file, sketch_file in files:
        photo = np.asarray(load_rgb(photo_file.read_bytes()))
        if aligned:
            crop = np.asarray(Image.fromarray(photo).resize((size, size), Image.Resampling.BICUBIC))
        else:
            face = align.align(photo, size=size)
            crop, no_face = face.image, no_face + (not face.found)
        photo_crops.append(crop)
        sketch_images.append(np.asarray(load_rgb(sketch_file.read_bytes())))
        identities.append(Path(key).parent.name if Path(key).parent.name else key)

    composites, aligned_sketches, sketch_no_face = [], [], 0
    for start in range(0, len(files), batch_size):
        batch = sketch_images[start : start + batch_size]
        for result in invert_faces(batch, style, weights, aligned=aligned):
            composites.append(np.asarray(result.composite))
            aligned_sketches.append(np.asarray(result.sketch))
            sketch_no_face += not result.face.found

    recognizer = Recognizer()
    gallery = recognizer.describe(photo_crops)
    report = {
        "pairs": len(files),
        "style": style,
        "weights": str(model.weights_path),
        "weights_sha256": model.weights_sha256,
        "resolution": size,
        "aligned_input": aligned,
        "photos_without_face": no_face,
        "sketches_without_face": sketch_no_face,
    }
    ranks = {}
    for name, probes in (("composite", composites), ("sketch", aligned_sketches)):
        scores = image_scores(probes, photo_crops)
        identity, ranks[name] = identity_scores(recognizer.describe(probes), gallery, identities)
        scores.update(identity)
        report[name] = {k: round(scores[k], 4) for k in METRICS}
    if groups:
        report["rank1_by_group"] = rank1_by_group([key for key, _, _ in files], ranks)
    if grid:
        save_grid(grid, aligned_sketches, composites, photo_crops)
    return report


def save_grid(path: Path, sketches: list, composites: list, photos: list, columns: int = 8) -> None:
    """Rows of sketch / composite / photo for the first ``columns`` pairs."""
    count = min(columns, len(photos))
    blocks = []
    for i in range(count):
        sketch = sketches[i] if sketches[i].ndim == 3 else np.stack([sketches[i]] * 3, -1)
        blocks.append(np.concatenate([sketch, composites[i], photos[i]], axis=0))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(blocks, axis=1)).save(path, optimize=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m inversion.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--style", required=True, choices=STYLES)
    parser.add_argument("--weights", type=Path, help="checkpoint (default: the shipped model of the style)")
    parser.add_argument("--photos", required=True, type=Path)
    parser.add_argument("--sketches", required=True, type=Path)
    parser.add_argument("--names", type=Path, help="file listing the pairs (file stems) to use, one a line")
    parser.add_argument("--aligned", action="store_true", help="inputs are already aligned crops")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--grid", type=Path, help="write a sketch / composite / photo grid PNG here")
    parser.add_argument("--groups", action="store_true", help="rank-1 per group of file names (prefix before '_')")
    args = parser.parse_args(argv)
    names = args.names.read_text().split() if args.names else None
    report = evaluate(
        args.style, args.photos, args.sketches, args.weights, names, args.aligned, args.grid, groups=args.groups
    )
    text = json.dumps(report, indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
