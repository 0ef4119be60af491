"""The grid in docs/COLOUR_HINTS.md: one hand-drawn CUFS sketch with different colour
hints, each rendered by the shipped colour model.

    PYTHONPATH=. .venv/bin/python docs/colour_hints_grid.py --data ../shared/data/cufs-train.tar.gz

The hints are painted as the sketch page paints them (``setUpHints`` in
static/js/app.js): each colour multiplied into the drawing at 55 % strength
through a soft mask, so the lines stay and the paper takes the colour. The
regions (hair, skin, lips, clothing) were picked by hand for this one sketch,
XM2VTS_19 of the held-out CUFS pairs (inversion/splits/cufs_val.txt), whose
photo shows blond hair and fair skin while the pencil drew the hair dark.

Every version is aligned with the face box found in the unhinted sketch, as the
app reuses the original's box for a hinted revision. The script writes
docs/images/colour-hints.png and prints, for each version, the composite's mean
colour in the hair and skin regions (through the same alignment), its distance
to the photo's, SSIM, FSIM and dlib identity distance against the aligned photo,
and the SSIM of its grey levels against the unhinted composite's (what the
hints change beyond colour).
"""

from __future__ import annotations

import argparse
import tarfile
from dataclasses import dataclass
from pathlib import Path

import dlib
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from inversion import align
from inversion.data import load_rgb
from inversion.evaluate import Recognizer, image_scores
from inversion.inference import invert_faces, load_model

SKETCH = "train_sketches/XM2VTS_19.jpg"
PHOTO = "train_photos/XM2VTS_19.jpg"
OUT = Path(__file__).parent / "images" / "colour-hints.png"
#: How strongly a hint is multiplied in: the page's default.
STRENGTH = 0.55
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

# Regions of XM2VTS_19 (200 x 250 pixels), picked by hand.
HAIR = [
    (42, 70), (50, 35), (70, 14), (100, 5), (130, 10), (155, 30), (168, 60), (172, 100), (176, 140), (178, 180),
    (172, 198), (160, 190), (156, 160), (153, 125), (148, 112), (125, 101), (100, 98), (78, 101), (60, 112),
    (56, 140), (58, 175), (52, 195), (46, 185), (44, 140), (43, 100),
]  # fmt: skip
FACE = (54, 100, 152, 228)  # ellipse
NECK = [(78, 205), (132, 205), (138, 250), (72, 250)]
LIPS = (80, 178, 128, 194)  # ellipse
CLOTHING = [
    [(0, 208), (45, 198), (70, 232), (72, 250), (0, 250)],
    [(200, 208), (170, 200), (140, 232), (138, 250), (200, 250)],
]


@dataclass(frozen=True)
class Hints:
    name: str
    colours: dict[str, str]  # region -> #rrggbb, from the page's palette


VERSIONS = [
    Hints("no hints", {}),
    Hints("blond hair, pale skin", {"hair": "#d0a85c", "skin": "#f3d9c8", "lips": "#b5525c"}),
    Hints("dark brown hair, medium skin", {"hair": "#4a3020", "skin": "#c08a64", "lips": "#b5525c"}),
    Hints("auburn hair, pale skin, navy top", {"hair": "#9c3e1c", "skin": "#f3d9c8", "clothing": "#1f2f4f"}),
]


def masks(size: tuple[int, int]) -> dict[str, Image.Image]:
    """Each region as a soft 8-bit mask (the page's brush is soft too); skin leaves out hair and lips."""

    def draw(shapes) -> Image.Image:
        mask = Image.new("L", size, 0)
        pen = ImageDraw.Draw(mask)
        for kind, shape in shapes:
            (pen.ellipse if kind == "ellipse" else pen.polygon)(shape, fill=255)
        return mask

    hair = draw([("polygon", HAIR)])
    lips = draw([("ellipse", LIPS)])
    skin = Image.fromarray(
        np.asarray(draw([("ellipse", FACE), ("polygon", NECK)]))
        & ~np.asarray(hair)
        & ~np.asarray(lips.filter(ImageFilter.MaxFilter(5)))
    )
    clothing = draw([("polygon", shape) for shape in CLOTHING])
    return {
        name: mask.filter(ImageFilter.GaussianBlur(2.5))
        for name, mask in {"hair": hair, "skin": skin, "lips": lips, "clothing": clothing}.items()
    }


def paint(sketch: np.ndarray, hints: Hints, regions: dict[str, Image.Image]) -> np.ndarray:
    """``sketch`` times (1 - s*m + s*m*colour) for each hint: the page's multiply at strength s through mask m."""
    out = sketch.astype(np.float32) / 255
    for region, colour in hints.colours.items():
        rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], np.float32) / 255
        weight = STRENGTH * np.asarray(regions[region], np.float32)[..., None] / 255
        out *= 1 - weight + weight * rgb
    return np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8)


def aligned_masks(sketch: np.ndarray, box: align.Box, regions: dict[str, Image.Image], size: int) -> dict:
    """The hair and skin regions cut out as the aligner cuts the face (same landmarks), as boolean masks."""
    predictor = dlib.shape_predictor(str(align.model_file("shape_predictor_5_face_landmarks.dat")))
    shape = predictor(np.ascontiguousarray(sketch), dlib.rectangle(*box))
    cut = {}
    for name in ("hair", "skin"):
        rgb = np.ascontiguousarray(np.stack([np.asarray(regions[name])] * 3, -1))
        cut[name] = np.asarray(dlib.get_face_chip(rgb, shape, size=size, padding=align.PADDING))[..., 0] > 192
    return cut


def mean_colour(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return image[mask].reshape(-1, 3).mean(axis=0)


def luminance(image: np.ndarray) -> np.ndarray:
    """The image's grey levels only: how much of it is shape and shading rather than colour."""
    return np.asarray(Image.fromarray(image).convert("L"))


def hex_of(colour: np.ndarray) -> str:
    return "#" + "".join(f"{round(float(v)):02x}" for v in colour)


def grid(sketches, composites, photo, swatches, titles) -> Image.Image:
    """Columns: each version's hinted sketch over its composite and the composite's hair and skin
    colours; last, the aligned photo with its colours, for reference."""
    tile, pad, head = 200, 8, 44
    height = 250
    font = ImageFont.truetype(FONT, 13)
    columns = len(sketches) + 1
    sheet = Image.new("RGB", (columns * (tile + pad) + pad, head + height + tile + 60 + 3 * pad), "white")
    pen = ImageDraw.Draw(sheet)
    for index in range(columns):
        x = pad + index * (tile + pad)
        title = titles[index]
        pen.multiline_text((x, 6), title, fill=(31, 41, 51), font=font, spacing=2)
        if index < len(sketches):
            sheet.paste(Image.fromarray(sketches[index]), (x, head))
            face = composites[index]
        else:
            pen.multiline_text(
                (x, head + 8), "the photo, for reference:\nthe model never sees it", fill=(82, 96, 109), font=font
            )
            face = photo
        top = head + height + pad
        sheet.paste(Image.fromarray(face).resize((tile, tile), Image.Resampling.BICUBIC), (x, top))
        for row, (label, colour) in enumerate(zip(("hair", "skin"), swatches[index], strict=True)):
            y = top + tile + pad + row * 26
            pen.rectangle((x, y, x + 40, y + 20), fill=tuple(round(float(v)) for v in colour), outline=(123, 135, 148))
            pen.text((x + 48, y + 3), f"{label} {hex_of(colour)}", fill=(31, 41, 51), font=font)
    return sheet


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/cufs-train.tar.gz"))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    with tarfile.open(args.data) as archive:
        sketch = np.asarray(load_rgb(archive.extractfile(SKETCH).read()))
        photo = np.asarray(load_rgb(archive.extractfile(PHOTO).read()))
    size = load_model("color").resolution
    box = align.detect(sketch)
    assert box is not None, "no face found in the unhinted sketch"
    regions = masks((sketch.shape[1], sketch.shape[0]))
    painted = [paint(sketch, hints, regions) for hints in VERSIONS]
    results = invert_faces(painted, "color", boxes=[box] * len(painted))
    composites = [np.asarray(result.composite) for result in results]
    cut = aligned_masks(sketch, box, regions, size)
    photo_face = align.align(photo, size=size).image
    truth = [mean_colour(photo_face, cut[name]) for name in ("hair", "skin")]

    recognizer = Recognizer()
    photo_descriptor = recognizer.describe([photo_face])[0]
    rows = []
    swatches = []
    for hints, composite in zip(VERSIONS, composites, strict=True):
        colours = [mean_colour(composite, cut[name]) for name in ("hair", "skin")]
        swatches.append(colours)
        scores = image_scores([composite], [photo_face])
        identity = float(np.linalg.norm(recognizer.describe([composite])[0] - photo_descriptor))
        unhinted = image_scores([luminance(composite)], [luminance(composites[0])])["ssim"]
        rows.append(
            f"| {hints.name} | {hex_of(colours[0])} ({np.linalg.norm(colours[0] - truth[0]):.0f}) "
            f"| {hex_of(colours[1])} ({np.linalg.norm(colours[1] - truth[1]):.0f}) "
            f"| {scores['ssim']:.3f} | {scores['fsim']:.3f} | {identity:.3f} | {unhinted:.3f} |"
        )
    swatches.append(truth)
    titles = [hints.name.replace(", ", ",\n", 1) for hints in VERSIONS] + ["photo (XM2VTS_19)"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    grid(painted, composites, photo_face, swatches, titles).save(args.out, optimize=True)

    print(f"box {box}; photo: hair {hex_of(truth[0])}, skin {hex_of(truth[1])}")
    print("| hints | hair (to photo's) | skin (to photo's) | SSIM | FSIM | identity distance | grey SSIM to unhinted |")
    print("|---|---|---|---:|---:|---:|---:|")
    print("\n".join(rows))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
