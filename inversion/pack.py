"""Pack a training set into one file: ``python -m inversion.pack --help``.

Training reads aligned crops (``inversion.data.load_aligned``), and aligning
needs dlib, its landmark models and the photo archives: hundreds of
megabytes that a rented GPU machine does not have. A pack holds what
training actually reads, already aligned: the photos as JPEG (at 96 px,
quality 90 with 4:2:0 chroma is ~3.5 KB a face, on average 2 grey levels
of 255 off) with their paths and identities, and the hand-drawn pairs
exactly, with the channels the style takes (they are few and precious).
``inversion.train --data PACK --hand-drawn PACK`` trains from it as from
the sources.

``--per-identity N`` keeps at most N photos of each person (LFW holds 530 of
one man): more people per megabyte when the pack must stay small.
"""

from __future__ import annotations

import argparse
import io
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from inversion import STYLES, align
from inversion.data import AlignedPhotos, PairedSketches, listed, load_aligned


def encode_jpeg(photos: np.ndarray, quality: int) -> tuple[np.ndarray, np.ndarray]:
    """All photos as JPEG bytes in one uint8 array, and each one's end offset."""
    blobs = []
    for photo in photos:
        buffer = io.BytesIO()
        Image.fromarray(photo).save(buffer, format="JPEG", quality=quality, subsampling=2)
        blobs.append(np.frombuffer(buffer.getvalue(), np.uint8))
    return np.concatenate(blobs), np.cumsum([len(b) for b in blobs])


def decode_jpeg(data: np.ndarray, ends: np.ndarray) -> np.ndarray:
    starts = np.concatenate([[0], ends[:-1]])
    return np.stack(
        [
            np.asarray(Image.open(io.BytesIO(data[s:e].tobytes())).convert("RGB"))
            for s, e in zip(starts, ends, strict=True)
        ]
    )


def at_most_per_identity(photos: AlignedPhotos, limit: int) -> AlignedPhotos:
    seen: dict[str, int] = defaultdict(int)
    keep = []
    for index, identity in enumerate(photos.identities):
        if seen[identity] < limit:
            seen[identity] += 1
            keep.append(index)
    return photos.select(keep)


def is_pack(path: str | Path) -> bool:
    return str(path).endswith(".pack.npz")


def read_photos(path: str | Path) -> AlignedPhotos:
    with np.load(path, allow_pickle=False) as stored:
        photos = decode_jpeg(stored["photos_jpeg"], stored["photos_ends"])
        return AlignedPhotos(photos, list(stored["paths"]), list(stored["identities"]))


def read_pairs(path: str | Path, style: str, names: list[str] | None = None) -> PairedSketches:
    with np.load(path, allow_pickle=False) as stored:
        if "hand_stems" not in stored:
            raise ValueError(f"{path} holds no hand-drawn pairs (pack it with --hand-drawn)")
        stems = [str(stem) for stem in stored["hand_stems"]]
        chosen = set(stems if names is None else listed(stems, names))
        keep = [i for i, stem in enumerate(stems) if stem in chosen]
        if not keep:
            raise ValueError(f"{path}: none of its hand-drawn pairs is listed")
        return PairedSketches(
            [stems[i] for i in keep],
            list(stored["hand_photos"][keep]),
            list(stored["hand_sketches"][keep]),
            list(stored["hand_found"][keep]),
            style,
        )


@dataclass
class PackConfig:
    out: Path
    data: list[str]
    style: str = "grayscale"
    hand_drawn: Path | None = None
    hand_drawn_names: Path | None = None
    resolution: int = align.RESOLUTION
    quality: int = 90
    per_identity: int | None = None


def pack(config: PackConfig) -> Path:
    if not is_pack(config.out):
        raise SystemExit(f"{config.out}: a pack's name ends in .pack.npz")
    photos = AlignedPhotos.concatenate([load_aligned(s, size=config.resolution) for s in config.data])
    if config.per_identity:
        photos = at_most_per_identity(photos, config.per_identity)
    data, ends = encode_jpeg(photos.photos, config.quality)
    arrays = {
        "photos_jpeg": data,
        "photos_ends": ends,
        "paths": np.array(photos.paths),
        "identities": np.array(photos.identities),
    }
    if config.hand_drawn:
        names = config.hand_drawn_names.read_text().split() if config.hand_drawn_names else None
        pairs = PairedSketches.from_folder(config.hand_drawn, config.style, config.resolution, names)
        arrays |= {
            "hand_stems": np.array(pairs.stems),
            "hand_photos": np.stack(pairs.photos),
            "hand_sketches": np.stack(pairs.sketches),
            "hand_found": np.array(pairs.found),
        }
    config.out.parent.mkdir(parents=True, exist_ok=True)
    partial = config.out.with_name(config.out.name + ".part")
    with partial.open("wb") as file:
        np.savez_compressed(file, **arrays)
    partial.replace(config.out)
    size = config.out.stat().st_size / 2**20
    hand = f", {len(arrays['hand_stems'])} hand-drawn pairs" if config.hand_drawn else ""
    print(f"{config.out}: {len(photos)} photos of {len(set(photos.identities))} people{hand}, {size:.1f} MiB")
    return config.out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m inversion.pack", description=__doc__.split("\n\n")[1])
    parser.add_argument("out", type=Path, help="the pack to write, NAME.pack.npz")
    parser.add_argument("--data", required=True, nargs="+", help="photo folders or .tar.gz archives, PATH[:SUBFOLDER]")
    parser.add_argument("--style", choices=STYLES, default="grayscale", help="channels of the hand-drawn sketches kept")
    parser.add_argument("--hand-drawn", type=Path, help="folder with photos/ and sketches/ (CUFS layout)")
    parser.add_argument("--hand-drawn-names", type=Path, help="file listing the stems of the pairs to pack")
    parser.add_argument("--resolution", type=int, default=align.RESOLUTION)
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality of the photos")
    parser.add_argument("--per-identity", type=int, help="keep at most this many photos of each person")
    args = parser.parse_args(argv)
    pack(PackConfig(**vars(args)))


if __name__ == "__main__":
    main()
