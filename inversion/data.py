"""Face data for training and evaluation.

Photos come from folders or ``.tar.gz`` archives (LFW, CelebA) and are
aligned once with :mod:`inversion.align`; the aligned crops are cached on
disk (``.cache/aligned/`` by default, git-ignored) as one ``.npz`` per source
and resolution, so later runs start in seconds. Sketches are synthesised from
the cached crops on the fly, a new drawing hand for every item and epoch.

A source is written ``PATH`` or ``PATH:SUBFOLDER``; the second form keeps only
members under that folder, e.g. ``celeba-6k.tar.gz:train_dataset``.

Items are dicts: ``{"sketch": tensor, "photo": tensor, "path": str}``, both
tensors in [-1, 1], channels first.

``python -m inversion.data --style S --photos SOURCE --out DIR`` writes a
synthetic test set to disk (:func:`write_synthetic_set`).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset
from tqdm import tqdm

from inversion import STYLES, align, sketches

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
DEFAULT_CACHE = Path(os.environ.get("INVERSION_CACHE", Path(__file__).resolve().parent.parent / ".cache" / "aligned"))


@dataclass
class AlignedPhotos:
    """Aligned face crops of one source, with each photo's identity."""

    photos: np.ndarray  # uint8 (N, size, size, 3)
    paths: list[str]
    identities: list[str]

    def __len__(self) -> int:
        return len(self.paths)

    def select(self, keep: np.ndarray | list[int]) -> AlignedPhotos:
        keep = list(keep)
        return AlignedPhotos(self.photos[keep], [self.paths[i] for i in keep], [self.identities[i] for i in keep])

    @staticmethod
    def concatenate(parts: list[AlignedPhotos]) -> AlignedPhotos:
        return AlignedPhotos(
            np.concatenate([p.photos for p in parts]),
            [path for p in parts for path in p.paths],
            [ident for p in parts for ident in p.identities],
        )


def split_source(source: str) -> tuple[Path, str]:
    path, _, subfolder = str(source).partition(":")
    return Path(path), subfolder.strip("/")


def iter_images(source: str) -> Iterator[tuple[str, Image.Image]]:
    """(member path, RGB image) for every image in a folder or archive, sorted."""
    path, subfolder = split_source(source)
    if path.is_dir():
        root = path / subfolder if subfolder else path
        for file in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
            yield str(file.relative_to(path)), load_rgb(file.read_bytes())
        return
    if not path.is_file():
        raise FileNotFoundError(f"no such folder or archive: {path}")
    with tarfile.open(path) as archive:
        for member in archive:  # streaming: .tar.gz has no random access
            name = member.name
            if not member.isfile() or not name.lower().endswith(IMAGE_SUFFIXES):
                continue
            if subfolder and not name.startswith(subfolder + "/") and f"/{subfolder}/" not in name:
                continue
            yield name, load_rgb(archive.extractfile(member).read())


def load_rgb(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    return ImageOps.exif_transpose(image).convert("RGB")


def identity_of(member: str) -> str:
    """The person a photo shows: its folder (LFW ``<Name>/``, CelebA ``celeb_<k>/``)."""
    parent = Path(member).parent.name
    return parent or Path(member).stem


def load_aligned(source: str, size: int = align.RESOLUTION, cache_dir: Path = DEFAULT_CACHE) -> AlignedPhotos:
    """Aligned crops of every photo in ``source`` where a face was found.

    Photos without a detected face are left out: a centred crop would teach
    the network a framing it never sees at inference for real faces.
    """
    path, subfolder = split_source(source)
    key = hashlib.sha256(f"{path.resolve()}:{subfolder}:{size}:{align.PADDING}".encode()).hexdigest()[:12]
    cache = Path(cache_dir) / f"{path.name.split('.')[0]}-{subfolder or 'all'}-{size}-{key}.npz"
    if cache.exists():
        with np.load(cache, allow_pickle=False) as stored:
            return AlignedPhotos(stored["photos"], list(stored["paths"]), list(stored["identities"]))

    crops, paths, identities, skipped = [], [], [], 0
    for name, image in tqdm(iter_images(source), desc=f"aligning {path.name}:{subfolder or '*'}", unit="img"):
        face = align.align(np.asarray(image), size=size)
        if not face.found:
            skipped += 1
            continue
        crops.append(face.image)
        paths.append(name)
        identities.append(identity_of(name))
    if not crops:
        raise ValueError(f"no faces found in {source}")
    result = AlignedPhotos(np.stack(crops), paths, identities)
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_suffix(".part.npz")
    np.savez(partial, photos=result.photos, paths=np.array(paths), identities=np.array(identities))
    partial.replace(cache)
    print(f"{source}: {len(result)} faces aligned, {skipped} without a detected face left out; cached in {cache}")
    return result


def split_by_identity(photos: AlignedPhotos, holdout: float, seed: int = 0) -> tuple[AlignedPhotos, AlignedPhotos]:
    """(train, held out): no person appears in both."""
    people = sorted(set(photos.identities))
    rng = np.random.default_rng(seed)
    held = set(rng.choice(people, size=max(1, round(len(people) * holdout)), replace=False))
    train = [i for i, who in enumerate(photos.identities) if who not in held]
    rest = [i for i, who in enumerate(photos.identities) if who in held]
    return photos.select(train), photos.select(rest)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W) or (H, W, C) → float (C, H, W) in [-1, 1]."""
    array = torch.tensor(np.ascontiguousarray(image), dtype=torch.float32).div_(127.5).sub_(1.0)
    return array.unsqueeze(0) if array.ndim == 2 else array.permute(2, 0, 1)


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """float (C, H, W) in [-1, 1] → uint8 (H, W, C) (or (H, W) for one channel)."""
    array = tensor.detach().float().clamp(-1, 1).add(1).mul(127.5).round().byte().cpu()
    array = array.permute(1, 2, 0).numpy()
    return array[..., 0] if array.shape[2] == 1 else array


def listed(keys: list[str], names: list[str]) -> list[str]:
    """The keys (``AR/AR_100`` or ``AR_100``) that ``names`` lists, whole or by file stem."""
    wanted = set(names)
    return [key for key in keys if key in wanted or Path(key).name in wanted]


def pair_files(photos: Path, sketches: Path, names: list[str] | None = None) -> list[tuple[str, Path, Path]]:
    """(key, photo file, sketch file) for files with the same path, less the
    suffix, under both folders (CUFS's ``AR_100.jpg`` in each), sorted;
    ``names`` keeps the keys, or file stems, it lists."""

    def index(root: Path) -> dict[str, Path]:
        files = (p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        return {str(p.relative_to(root).with_suffix("")): p for p in files}

    photo_files, sketch_files = index(Path(photos)), index(Path(sketches))
    keys = sorted(photo_files.keys() & sketch_files.keys())
    if names is not None:
        keys = listed(keys, names)
    if not keys:
        raise ValueError(f"no pairs: no matching file names in {photos} and {sketches}")
    return [(k, photo_files[k], sketch_files[k]) for k in keys]


class SyntheticSketches(Dataset):
    """Synthetic sketches of aligned photos, a new drawing hand per item and epoch.

    Deterministic: item ``i`` of epoch ``e`` with seed ``s`` is always the
    same sketch. Half the items are mirrored (faces are near symmetric).
    """

    def __init__(self, photos: AlignedPhotos, style: str, seed: int = 0, augment: bool = True):
        self.photos, self.style, self.seed, self.augment = photos, style, seed, augment
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.photos)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict:
        photo = self.photos.photos[index]
        if self.augment:
            item_seed = (self.seed * 1_000_003 + self.epoch) * 10_000_019 + index
            if item_seed % 2:
                photo = photo[:, ::-1]
            sketch = sketches.synthesize(photo, self.style, seed=item_seed)
        else:
            sketch = sketches.synthesize(photo, self.style)
        return {"sketch": to_tensor(sketch), "photo": to_tensor(photo), "path": self.photos.paths[index]}


class PairedSketches(Dataset):
    """Hand-drawn sketches and the photos they were drawn from, matched by
    file stem (``photos/AR_100.jpg`` ↔ ``sketches/AR_100.jpg``, as in CUFS).

    Both are aligned with the same aligner; ``names`` restricts the pairs to
    a list of stems (a split).
    """

    def __init__(
        self, stems: list[str], photos: list[np.ndarray], sketches: list[np.ndarray], found: list[bool], style: str
    ):
        self.style, self.stems, self.found = style, list(stems), [bool(f) for f in found]
        self.photos = list(photos)
        self.sketches = [as_style(sketch, style) for sketch in sketches]

    @classmethod
    def from_files(
        cls,
        photos_dir: str | Path,
        sketches_dir: str | Path,
        style: str = "grayscale",
        size: int = align.RESOLUTION,
        names: list[str] | None = None,
    ) -> PairedSketches:
        stems, photos, drawings, found = [], [], [], []
        for stem, photo_file, sketch_file in pair_files(Path(photos_dir), Path(sketches_dir), names):
            photo = align.align(np.asarray(load_rgb(photo_file.read_bytes())), size=size)
            sketch = align.align(np.asarray(load_rgb(sketch_file.read_bytes())), size=size)
            stems.append(stem)
            photos.append(photo.image)
            drawings.append(sketch.image)
            found.append(photo.found and sketch.found)
        return cls(stems, photos, drawings, found, style)

    @classmethod
    def from_folder(
        cls, folder: Path, style: str = "grayscale", size: int = align.RESOLUTION, names: list[str] | None = None
    ) -> PairedSketches:
        """A folder holding ``photos/`` and ``sketches/`` (or CUFS's ``train_photos/``
        and ``train_sketches/``)."""
        folder = Path(folder)
        for photos, drawings in (("photos", "sketches"), ("train_photos", "train_sketches")):
            if (folder / photos).is_dir() and (folder / drawings).is_dir():
                return cls.from_files(folder / photos, folder / drawings, style, size, names)
        raise FileNotFoundError(f"{folder} has no photos/ and sketches/ folders")

    def __len__(self) -> int:
        return len(self.stems)

    def __getitem__(self, index: int) -> dict:
        return self.pair(index)

    def pair(self, index: int, mirrored: bool = False) -> dict:
        """One pair; ``mirrored`` flips sketch and photo left-right together
        (a face's mirror image is still a face drawn by the same hand)."""
        sketch, photo = self.sketches[index], self.photos[index]
        if mirrored:
            sketch, photo = sketch[:, ::-1], photo[:, ::-1]
        return {"sketch": to_tensor(sketch), "photo": to_tensor(photo), "path": self.stems[index]}


def as_style(image: np.ndarray, style: str) -> np.ndarray:
    """An RGB or gray uint8 image with the channels a ``style`` model takes."""
    if style == "color":
        return image if image.ndim == 3 else np.stack([image] * 3, axis=-1)
    if image.ndim == 2:
        return image
    return np.asarray(Image.fromarray(image[..., :3]).convert("L"))


def write_synthetic_set(source: str, style: str, out: Path, seed: int = 0, size: int = align.RESOLUTION) -> int:
    """Align every photo of ``source`` at ``size`` px and write ``out/photos/<person>/<name>.png``
    and ``out/sketches/<person>/<name>.png``, one seeded drawing hand per
    photo; the number of pairs written."""
    photos = load_aligned(source, size)
    for index, (photo, path, person) in enumerate(zip(photos.photos, photos.paths, photos.identities, strict=True)):
        name = f"{person}/{Path(path).stem}.png"
        sketch = sketches.synthesize(photo, style, seed=seed * 1_000_003 + index)
        for folder, image in (("photos", photo), ("sketches", sketch)):
            target = Path(out) / folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(target)
    return len(photos)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m inversion.data", description="Write a synthetic test set: aligned photos and seeded sketches."
    )
    parser.add_argument("--style", required=True, choices=STYLES)
    parser.add_argument("--photos", required=True, help="folder or .tar.gz archive, PATH[:SUBFOLDER]")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resolution", type=int, default=align.RESOLUTION, help="side of the aligned faces")
    args = parser.parse_args(argv)
    count = write_synthetic_set(args.photos, args.style, args.out, args.seed, args.resolution)
    print(f"wrote {count} {args.style} sketches and photos under {args.out}")


if __name__ == "__main__":
    main()
