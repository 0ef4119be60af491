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
``--distractors PATH`` adds the photos of a folder or archive (people who are
not among the pairs, e.g. LFW) to the gallery, so rank-1 and rank-10 of every
block are taken over the pairs' photos plus the distractors (``gallery`` says
how many). The ``fused`` block ranks the gallery by the sketch's and the
composite's distances fused by ``inversion.leads.fuse``, the app's leads
search (``--extra-styles`` adds other styles' composites as probes;
``--fusion-study`` every fusion tried, on two halves of the pairs).
``--groups`` adds rank-1 per group of files, the group being the part of a
file name before its first ``_`` (CUFS: ``AR``, ``CUHK``, ``XM2VTS``, three
collections with different people, photographers and artists), so a model
that fails one group of faces cannot hide behind the average.
``--measure-size N`` compares at N px instead of the model's resolution: the
photos are aligned at N and the composites resized to N with Lanczos, as the
app upscales them, so a 96 px and a 128 px model are measured alike.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import dlib
import numpy as np
import piq
import torch
from PIL import Image
from tqdm import tqdm

from inversion import STYLES, align, leads
from inversion.data import identity_of, iter_images, load_rgb, pair_files, split_source
from inversion.inference import invert_faces, load_model

METRICS = ("ssim", "fsim", "psnr", "pearson", "sharpness", "identity_distance", "rank1", "rank10")


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


@dataclass
class Distractors:
    """Gallery photos of people who are not among the probes, described."""

    paths: list[str]
    identities: list[str]
    descriptors: np.ndarray  # (n, 128)
    without_face: int  # centre crops used, as for the pairs' photos


def describe_distractors(
    source: str | Path, size: int, recognizer: Recognizer, cache_dir: Path = Path(".cache"), batch: int = 256
) -> Distractors:
    """Every photo of a folder or archive aligned like the pairs' photos and
    described, cached in ``cache_dir`` (describing 13,000 photos takes a
    quarter of an hour on one core)."""
    path, subfolder = split_source(str(source))
    stamp = path.stat().st_mtime_ns if path.exists() else 0  # a folder's changes when photos come or go
    key = hashlib.sha256(f"{path.resolve()}:{subfolder}:{stamp}:{size}:{align.PADDING}".encode()).hexdigest()[:12]
    cache = Path(cache_dir) / f"distractors-{path.name.split('.')[0]}-{size}-{key}.npz"
    if cache.exists():
        with np.load(cache, allow_pickle=False) as stored:
            return Distractors(
                list(stored["paths"]), list(stored["identities"]), stored["descriptors"], int(stored["without_face"])
            )
    paths, crops, descriptors, without_face = [], [], [], 0
    for name, image in tqdm(iter_images(str(source)), desc=f"describing distractors {path.name}", unit="img"):
        face = align.align(np.asarray(image), size=size)
        without_face += not face.found
        paths.append(name)
        crops.append(face.image)
        if len(crops) == batch:
            descriptors.append(recognizer.describe(crops))
            crops = []
    if crops:
        descriptors.append(recognizer.describe(crops))
    if not paths:
        raise SystemExit(f"no photos in {source}")
    result = Distractors(paths, [identity_of(p) for p in paths], np.concatenate(descriptors), without_face)
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_suffix(".part.npz")
    np.savez(
        partial,
        paths=np.array(result.paths),
        identities=np.array(result.identities),
        descriptors=result.descriptors,
        without_face=without_face,
    )
    partial.replace(cache)
    return result


def to_unit(images: list[np.ndarray]) -> torch.Tensor:
    arrays = [im if im.ndim == 3 else np.stack([im] * 3, -1) for im in images]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255.0


def gradient_magnitude(images: torch.Tensor) -> torch.Tensor:
    """Each image's mean luminance gradient magnitude (finite differences, values in [0, 1])."""
    luminance = images.mean(1) if images.shape[1] == 3 else images[:, 0]
    dx = luminance[:, :, 1:] - luminance[:, :, :-1]
    dy = luminance[:, 1:, :] - luminance[:, :-1, :]
    return (dx[:, :-1, :] ** 2 + dy[:, :, :-1] ** 2).sqrt().flatten(1).mean(1)


def sharpness(probes: torch.Tensor, photos: torch.Tensor) -> float:
    """How sharp the probes are next to their photos: the mean, over pairs, of the probe's mean
    gradient magnitude divided by its photo's. 1 is as much edge detail as the photo; a soft,
    smeared composite scores well below 1, a line drawing can score above it."""
    return float((gradient_magnitude(probes) / gradient_magnitude(photos).clamp_min(1e-6)).mean())


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
        "sharpness": sharpness(x, y),
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


def probe_distances(probe_descriptors: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Euclidean distances (probes, gallery), as ``leads.DescriptorIndex`` computes them."""
    index = leads.DescriptorIndex(gallery.shape[1])
    index.add(range(len(gallery)), gallery)
    return index.distances(probe_descriptors)[1].astype(np.float64)


def identity_scores(
    probe_descriptors: np.ndarray, gallery: np.ndarray, identities: list[str]
) -> tuple[dict[str, float], np.ndarray]:
    """Identity distance to the true photo, rank-1 and rank-10; and each probe's rank.

    Probe i is of the person of gallery photo i; more gallery photos (distractors) may follow."""
    distances = probe_distances(probe_descriptors, gallery)
    ranks = identification_ranks(distances, identities)
    scores = {
        "identity_distance": float(distances[np.arange(len(ranks)), np.arange(len(ranks))].mean()),
        "rank1": float(np.mean(ranks <= 1)),
        "rank10": float(np.mean(ranks <= 10)),
    }
    return scores, ranks


def fused_ranks(distances: np.ndarray, kinds: list[str], identities: list[str], fusion: leads.Fusion) -> np.ndarray:
    """Each pair's rank of its true photo when its probes' distances
    (pairs, probes, gallery) are fused by ``fusion``."""
    fused = np.stack([fusion(probes, kinds) for probes in distances])
    return identification_ranks(fused, identities)


def study_fusions(distances: np.ndarray, kinds: list[str], identities: list[str], keys: list[str]) -> dict:
    """Rank-1 / rank-10 of every fusion in ``leads.CANDIDATES`` on two halves
    of the pairs (sorted keys, alternately: "choose" and "check") and on all."""
    order = np.argsort(keys, kind="stable")
    halves = {"choose": np.sort(order[0::2]), "check": np.sort(order[1::2]), "all": np.arange(len(keys))}
    study = {"halves": {name: len(rows) for name, rows in halves.items()}, "fusions": {}}
    for name, fusion in leads.CANDIDATES.items():
        ranks = fused_ranks(distances, kinds, identities, fusion)
        study["fusions"][name] = {
            half: {
                "rank1": round(float(np.mean(ranks[rows] <= 1)), 4),
                "rank10": round(float(np.mean(ranks[rows] <= 10)), 4),
                "median_rank": float(np.median(ranks[rows])),
                "mean_reciprocal_rank": round(float(np.mean(1 / ranks[rows])), 4),
            }
            for half, rows in halves.items()
        }
    return study


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
    distractors: str | Path | None = None,
    extra_styles: tuple[str, ...] = (),
    fusion_study: bool = False,
    measure_size: int | None = None,
) -> dict:
    model = load_model(style, weights)
    size = measure_size or model.resolution  # composites are brought to it as the app upscales them
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
            composites.append(np.asarray(at_size(result.composite, size, Image.Resampling.LANCZOS)))
            aligned_sketches.append(np.asarray(at_size(result.sketch, size, Image.Resampling.BICUBIC)))
            sketch_no_face += not result.face.found
    extra_composites = {
        extra: [
            np.asarray(at_size(result.composite, size, Image.Resampling.LANCZOS))
            for start in range(0, len(files), batch_size)
            for result in invert_faces(sketch_images[start : start + batch_size], extra, aligned=aligned)
        ]
        for extra in extra_styles
    }

    recognizer = Recognizer()
    gallery = recognizer.describe(photo_crops)
    distractor_count = 0
    if distractors:
        extra = describe_distractors(distractors, size, recognizer)
        clash = set(extra.identities) & set(identities)
        if clash:
            raise SystemExit(f"distractors show people among the probes: {sorted(clash)[:5]}")
        gallery = np.concatenate([gallery, extra.descriptors])
        identities = identities + extra.identities
        distractor_count = len(extra.paths)
    report = {
        "pairs": len(files),
        "style": style,
        "weights": str(model.weights_path),
        "weights_sha256": model.weights_sha256,
        "resolution": model.resolution,
        "measured_at": size,
        "aligned_input": aligned,
        "photos_without_face": no_face,
        "sketches_without_face": sketch_no_face,
        "gallery": len(gallery),
        "distractors": distractor_count,
    }
    ranks, descriptors = {}, {}
    for name, probes in (("composite", composites), ("sketch", aligned_sketches)):
        scores = image_scores(probes, photo_crops)
        descriptors[name] = recognizer.describe(probes)
        identity, ranks[name] = identity_scores(descriptors[name], gallery, identities)
        scores.update(identity)
        report[name] = {k: round(scores[k], 4) for k in METRICS}
    kinds = ["sketch", "composite"] + ["composite"] * len(extra_styles)
    distances = np.stack(
        [
            probe_distances(descriptors["sketch"], gallery),
            probe_distances(descriptors["composite"], gallery),
            *(probe_distances(recognizer.describe(extra_composites[extra]), gallery) for extra in extra_styles),
        ],
        axis=1,
    )  # (pairs, probes per pair, gallery)
    ranks["fused"] = fused_ranks(distances, kinds, identities, leads.fuse)
    report["fused"] = {
        "rank1": round(float(np.mean(ranks["fused"] <= 1)), 4),
        "rank10": round(float(np.mean(ranks["fused"] <= 10)), 4),
        "fusion": leads.FUSION,
        "probes": ["sketch", style, *extra_styles],
    }
    if fusion_study:
        report["fusion_study"] = study_fusions(distances, kinds, identities, [key for key, _, _ in files])
    if groups:
        report["rank1_by_group"] = rank1_by_group([key for key, _, _ in files], ranks)
    if grid:
        save_grid(grid, aligned_sketches, composites, photo_crops)
    return report


def at_size(image: Image.Image, size: int, resample: Image.Resampling) -> Image.Image:
    """``image`` resized to ``size`` x ``size`` (unchanged when it is that size)."""
    return image if image.size == (size, size) else image.resize((size, size), resample)


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
    parser.add_argument(
        "--distractors",
        help="folder or archive of more gallery photos, of people who are not among the pairs "
        "(aligned and described once, cached in .cache/)",
    )
    parser.add_argument(
        "--extra-styles",
        nargs="*",
        default=[],
        choices=STYLES,
        help="the shipped models of these styles add their composites as more probes to the fused search",
    )
    parser.add_argument(
        "--fusion-study", action="store_true", help="rank-1 / rank-10 of every fusion candidate on two halves"
    )
    parser.add_argument(
        "--measure-size",
        type=int,
        help="compare at this size (default: the model's resolution); composites are resized with Lanczos "
        "as the app upscales them, so models of different resolutions can be measured alike",
    )
    args = parser.parse_args(argv)
    names = args.names.read_text().split() if args.names else None
    report = evaluate(
        args.style,
        args.photos,
        args.sketches,
        args.weights,
        names,
        args.aligned,
        args.grid,
        groups=args.groups,
        distractors=args.distractors,
        extra_styles=tuple(args.extra_styles),
        fusion_study=args.fusion_study,
        measure_size=args.measure_size,
    )
    text = json.dumps(report, indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
