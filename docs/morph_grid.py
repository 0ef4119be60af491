"""The grids and figures in docs/MORPHS.md: morphs of composites from two drawings of one
person, on the held-out CUFS pairs (inversion/splits/cufs_val.txt, never trained on).

    DEBUG=1 PYTHONPATH=. .venv/bin/python docs/morph_grid.py --data ../shared/data/cufs-train.tar.gz

CUFS has one hand-drawn sketch per person, so the second drawing is formed from it:

- ``mirror-<style>``: the sketch and its mirror image, each rendered by the shipped model of
  the style (a second drawing with every feature on the other side; both are aligned
  afresh, as uploads are), and the morph of the two composites;
- ``styles``: the sketch rendered by each of the three shipped models (line, grayscale,
  colour) and the morph of the three (the app morphs one style only; this set is here to
  show what averaging three different renderings does).

Every composite goes the app's way: ``composite_png.render`` at ``COMPOSITE_SIZE`` with the
label band, then the morph job's own functions (``cases.morphs.face_of``, ``landmarks``,
``average_faces``). For the measures each face is brought back to the networks' 96 pixels
and compared with the aligned true photo as ``inversion.evaluate`` does: SSIM and FSIM
(piq), dlib's identity distance, and rank-1 / rank-10 identification among the 67 held-out
photos. ``plain mean`` is the pixel average without landmark alignment, for comparison.
Writes docs/images/morph-cufs-val-mirror.png, docs/images/morph-cufs-val-styles.png and the
figures as JSON (``--json``), and prints them.
"""

from __future__ import annotations

import argparse
import json
import os
import tarfile
from pathlib import Path

import django
import numpy as np
from PIL import Image, ImageDraw, ImageFont

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "forensics.settings")
django.setup()

from django.conf import settings  # noqa: E402

from cases import composite_png, morphs  # noqa: E402
from inversion import STYLES, align  # noqa: E402
from inversion.data import load_rgb  # noqa: E402
from inversion.evaluate import Recognizer, identity_scores, image_scores  # noqa: E402
from inversion.inference import invert_faces  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NAMES = ROOT / "inversion" / "splits" / "cufs_val.txt"
IMAGES = ROOT / "docs" / "images"
#: People shown in the grids: two of each CUFS collection.
SHOWN = ["AR_118", "AR_18", "CUHK_student_03", "CUHK_student_05", "XM2VTS_19", "XM2VTS_100"]
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
SIZE = 96  # the networks' resolution, at which composites are measured
CELL = 112  # pixels a face in the grids


def read_pairs(archive: Path, names: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (photo, sketch), uint8 RGB, read from the CUFS archive."""
    wanted = set(names)
    found: dict[str, dict[str, np.ndarray]] = {}
    with tarfile.open(archive) as tar:
        for member in tar:
            path = Path(member.name)
            if (
                not member.isfile()
                or path.stem not in wanted
                or path.parent.name not in ("train_photos", "train_sketches")
            ):
                continue
            image = np.asarray(load_rgb(tar.extractfile(member).read()))
            found.setdefault(path.stem, {})[path.parent.name] = image
    return {name: (found[name]["train_photos"], found[name]["train_sketches"]) for name in names if name in found}


def stored_face(composite: Image.Image) -> np.ndarray:
    """The composite as the app stores it (labelled PNG) and reads it back for a morph."""
    data = composite_png.render(composite, label=settings.COMPOSITE_LABEL, size=settings.COMPOSITE_SIZE, text={})
    return morphs.face_of(data, settings.COMPOSITE_SIZE)


def morph_of(faces: list[np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """The morph job's image of ``faces`` (``COMPOSITE_SIZE`` squares), and how each one's landmarks were found."""
    found = [morphs.landmarks(face) for face in faces]
    image, _ = morphs.average_faces(faces, [points for points, _ in found])
    return np.asarray(image), [method for _, method in found]


def small(face: np.ndarray, size: int = SIZE) -> np.ndarray:
    return np.asarray(Image.fromarray(face).resize((size, size), Image.Resampling.LANCZOS))


def measure(probes: list[np.ndarray], photos: list[np.ndarray], gallery: np.ndarray, recognizer, names) -> dict:
    scores = image_scores(probes, photos)
    identity, _ = identity_scores(recognizer.describe(probes), gallery, names)
    return {key: round(value, 4) for key, value in (scores | identity).items() if key not in ("psnr", "pearson")}


def mean_scores(rows: list[dict]) -> dict:
    return {key: round(float(np.mean([row[key] for row in rows])), 4) for key in rows[0]}


def ssim_to_sources(morphed: list[np.ndarray], sources: list[list[np.ndarray]]) -> float:
    """Mean SSIM between each morph and each of its sources: how much of every source it keeps."""
    return round(
        float(np.mean([image_scores(morphed, [s[i] for s in sources])["ssim"] for i in range(len(sources[0]))])), 4
    )


def grid(path: Path, rows: list[tuple[str, list[np.ndarray]]]) -> None:
    """Rows of faces, each row named on its left."""
    font = ImageFont.truetype(FONT, 15) if Path(FONT).is_file() else ImageFont.load_default()
    margin = 150
    columns = len(rows[0][1])
    canvas = Image.new("RGB", (margin + columns * CELL, len(rows) * CELL), "white")
    draw = ImageDraw.Draw(canvas)
    for r, (name, faces) in enumerate(rows):
        draw.multiline_text((6, r * CELL + CELL // 2), name, fill="black", font=font, anchor="lm")
        for c, face in enumerate(faces):
            rgb = face if face.ndim == 3 else np.stack([face] * 3, -1)
            canvas.paste(
                Image.fromarray(rgb).resize((CELL, CELL), Image.Resampling.LANCZOS), (margin + c * CELL, r * CELL)
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, optimize=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="docs/morph_grid.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="cufs-train.tar.gz")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)

    names = NAMES.read_text().split()
    pairs = read_pairs(args.data, names)
    names = [name for name in names if name in pairs]
    photos = [align.align(photo, size=SIZE).image for photo, _ in pairs.values()]
    sketches = [sketch for _, sketch in pairs.values()]
    mirrored = [np.ascontiguousarray(sketch[:, ::-1]) for sketch in sketches]
    recognizer = Recognizer()
    gallery = recognizer.describe(photos)

    stored: dict[str, list[np.ndarray]] = {}  # "<style>" and "<style>-mirror" -> stored faces
    crops: dict[str, list[np.ndarray]] = {}
    for style in STYLES:
        for kind, images in (("", sketches), ("-mirror", mirrored)):
            results = invert_faces(images, style)
            stored[style + kind] = [stored_face(result.composite) for result in results]
            crops[style + kind] = [np.asarray(result.sketch) for result in results]

    report: dict = {"pairs": len(names), "composite_size": settings.COMPOSITE_SIZE, "measured_at": SIZE, "sets": {}}
    morphed_faces: dict[str, list[np.ndarray]] = {}
    for label, keys in [*((f"mirror-{s}", [s, f"{s}-mirror"]) for s in STYLES), ("styles", list(STYLES))]:
        morphed, methods = zip(*(morph_of([stored[k][i] for k in keys]) for i in range(len(names))), strict=True)
        morphed_faces[label] = list(morphed)
        sources = [[small(stored[k][i]) for k in keys] for i in range(len(names))]
        probes = {f"source {j + 1} ({key})": [s[j] for s in sources] for j, key in enumerate(keys)}
        probes["plain mean"] = [np.rint(np.mean(np.stack(s).astype(float), axis=0)).astype(np.uint8) for s in sources]
        probes["morph"] = [small(face) for face in morphed]
        figures = {name: measure(faces, photos, gallery, recognizer, names) for name, faces in probes.items()}
        source_rows = [figures[name] for name in figures if name.startswith("source")]
        figures["mean of the sources"] = mean_scores(source_rows)
        report["sets"][label] = {
            "figures": figures,
            "morph_ssim_to_its_sources": ssim_to_sources(probes["morph"], sources),
            "landmarks_found_by_dlib": {
                key: f"{sum(row[j] == 'dlib' for row in methods)} of {len(methods)}" for j, key in enumerate(keys)
            },
        }

    index = [names.index(name) for name in SHOWN if name in names]
    grayscale_crop = [crops["grayscale"][i] for i in index]
    grid(
        IMAGES / "morph-cufs-val-mirror.png",
        [
            ("sketch", grayscale_crop),
            ("mirrored\nsketch", [crops["grayscale-mirror"][i] for i in index]),
            ("grayscale\ncomposite", [stored["grayscale"][i] for i in index]),
            ("composite of\nthe mirror", [stored["grayscale-mirror"][i] for i in index]),
            ("morph of 2", [morphed_faces["mirror-grayscale"][i] for i in index]),
            ("photo", [photos[i] for i in index]),
        ],
    )
    grid(
        IMAGES / "morph-cufs-val-styles.png",
        [
            ("sketch", grayscale_crop),
            *((f"{style}\ncomposite", [stored[style][i] for i in index]) for style in STYLES),
            ("morph of 3", [morphed_faces["styles"][i] for i in index]),
            ("photo", [photos[i] for i in index]),
        ],
    )
    text = json.dumps(report, indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
