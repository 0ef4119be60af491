"""The grid in docs/MODEL_REPORT.md that shows composites at the size users see them (#16):
for held-out CUFS pairs (inversion/splits/cufs_val.txt, never trained on), the artist's
sketch, the composite of each model given, and the true photo.

    cp inversion/weights/grayscale.pt runs/grayscale-96.pt   # before exporting the new weights
    DEBUG=1 PYTHONPATH=. .venv/bin/python docs/resolution_grid.py \\
        --model "96 px (before)" runs/grayscale-96.pt \\
        --model "128 px (shipped)" shipped --out docs/images/grayscale-cufs-val-user-size.jpg

Every composite goes the app's way: ``composite_png.render`` at ``COMPOSITE_SIZE`` (the
network's output upscaled with Lanczos, the label band below), then shown at ``--cell``
pixels, the size of the compare page's images; the sketch and the photo are cut to the
same face square so the three line up.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import django
import numpy as np
from PIL import Image, ImageDraw, ImageFont

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "forensics.settings")
django.setup()

from django.conf import settings  # noqa: E402

from cases import composite_png, morphs  # noqa: E402
from inversion import STYLES, align  # noqa: E402
from inversion.data import load_rgb, pair_files  # noqa: E402
from inversion.inference import invert_faces  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CUFS = ROOT / ".cache" / "cufs"
#: Two people of each CUFS collection, all held out.
SHOWN = ["AR_118", "AR_18", "CUHK_student_03", "CUHK_student_05", "XM2VTS_19", "XM2VTS_100"]
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def as_users_see(composite: Image.Image, cell: int) -> Image.Image:
    """The stored composite's face square (the app's PNG, label band cut off) at ``cell`` px."""
    data = composite_png.render(composite, label=settings.COMPOSITE_LABEL, size=settings.COMPOSITE_SIZE, text={})
    return Image.fromarray(morphs.face_of(data, cell))


def label(image: Image.Image, text: str, height: int) -> Image.Image:
    canvas = Image.new("RGB", (image.width, image.height + height), "white")
    canvas.paste(image, (0, height))
    font = ImageFont.truetype(FONT, int(height * 0.55)) if Path(FONT).is_file() else ImageFont.load_default()
    ImageDraw.Draw(canvas).text((image.width / 2, height / 2), text, fill="black", font=font, anchor="mm")
    return canvas


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", nargs=2, action="append", required=True, metavar=("TITLE", "WEIGHTS"), help="'shipped' or a file"
    )
    parser.add_argument("--style", choices=STYLES, default="grayscale")
    parser.add_argument("--cufs", type=Path, default=CUFS, help="the CUFS archive extracted (train_photos/, ...)")
    parser.add_argument("--cell", type=int, default=256, help="pixels a face in the grid")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    pairs = {
        key: (photo, sketch)
        for key, photo, sketch in pair_files(args.cufs / "train_photos", args.cufs / "train_sketches", SHOWN)
    }
    photos = [load_rgb(pairs[name][0].read_bytes()) for name in SHOWN]
    sketches = [load_rgb(pairs[name][1].read_bytes()) for name in SHOWN]
    size = args.cell
    columns = [("artist's sketch", [Image.fromarray(align.align(np.asarray(s), size=size).image) for s in sketches])]
    for title, weights in args.model:
        results = invert_faces(sketches, args.style, None if weights == "shipped" else weights)
        columns.append((title, [as_users_see(result.composite, size) for result in results]))
    columns.append(("photo", [Image.fromarray(align.align(np.asarray(p), size=size).image) for p in photos]))

    band = max(24, size // 8)
    grid = Image.new("RGB", (size * len(columns), band + size * len(SHOWN)), "white")
    for x, (title, images) in enumerate(columns):
        column = label(Image.fromarray(np.concatenate([np.asarray(i.convert("RGB")) for i in images])), title, band)
        grid.paste(column, (x * size, 0))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    grid.save(args.out, optimize=True, **({"quality": 90} if args.out.suffix.lower() in (".jpg", ".jpeg") else {}))
    print(f"wrote {args.out} ({grid.width}x{grid.height})")


if __name__ == "__main__":
    main()
