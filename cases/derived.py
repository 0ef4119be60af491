"""What a worker derives from an evidence image, once, after it is stored: a
working copy no larger than ``WORKING_SIDE`` pixels on its longer side, the
face box the aligner finds in it, the aligned face crop, and dlib's face
descriptor of that crop.

Upload answers as soon as the original is stored; the ``derive`` job
(``cases.tasks``) does the rest, and pages show "finding the face…" until it
has. Pages then show, crop and compare from these files and numbers, so no
request decodes an original or runs a network, and the web process never
imports PyTorch or dlib. The original stays untouched as evidence; every
derived file is stored through custody under its own SHA-256 and read back
checked like any other.
"""

import hashlib
import io
from dataclasses import dataclass

import numpy as np
from django.http import Http404, HttpRequest
from PIL import Image

from inversion.align import PADDING

from . import case_pages, custody
from .models import CandidatePhoto, Case, WitnessSketch, WorkingCopy
from .uploads import processing_image

#: Longer side of the working copy, in pixels: ample for the aligner and the
#: crop preview, small enough to decode in milliseconds.
WORKING_SIDE = 1024
#: Side of the stored face crop and of the crop previews, in pixels.
CROP_SIZE = 192
#: Longer side of the thumbnail pages list evidence with, in pixels.
THUMBNAIL_SIDE = 256
#: What decoding a damaged image raises.
UNREADABLE = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)
#: The evidence models that have derived data, by the name jobs carry.
MODELS = {"witnesssketch": WitnessSketch, "candidatephoto": CandidatePhoto}


@dataclass(frozen=True)
class Derived:
    working_copy: bytes  # PNG
    thumbnail: bytes  # WebP
    face_box: list[int] | None  # in the original's pixels; None when the aligner found no face
    face_crop: bytes  # PNG, CROP_SIZE square; b"" without a face
    face_descriptor: list[float] | None


def derive(data: bytes) -> Derived:
    """Look at a validated image: the working copy, face box, face crop and descriptor (a worker's job)."""
    from inversion import align  # dlib: workers only

    from .candidates import recognizer

    image = processing_image(data)
    width, height = image.size
    scale = min(1.0, WORKING_SIDE / max(width, height))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    working = np.asarray(image)
    thumbnail = image.copy()
    thumbnail.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    thumbnail.save(buffer, format="WEBP", quality=82)
    box = align.detect(working)
    if box is None:
        return Derived(png(image), buffer.getvalue(), None, b"", None)
    crop = align.align(working, size=CROP_SIZE, box=box).image
    descriptor = [float(value) for value in recognizer().describe([crop])[0]]
    sx, sy = width / image.width, height / image.height
    left, top, right, bottom = box
    face_box = [
        max(0, round(left * sx)),
        max(0, round(top * sy)),
        min(width, round(right * sx)),
        min(height, round(bottom * sy)),
    ]
    return Derived(png(image), buffer.getvalue(), face_box, png(Image.fromarray(crop)), descriptor)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def save(evidence: WorkingCopy, derived: Derived) -> None:
    """Store ``derived``'s files through custody and write its fields on the row."""
    fields = {"face_box": derived.face_box, "face_found": derived.face_box is not None, "derive_error": ""}
    files = (
        ("working_copy", derived.working_copy, "png"),
        ("thumbnail", derived.thumbnail, "webp"),
        ("face_crop", derived.face_crop, "png"),
    )
    for field, data, extension in files:
        if not data:
            fields |= {field: "", f"{field}_sha256": ""}
            continue
        digest = hashlib.sha256(data).hexdigest()
        name = f"derived/{digest}.{extension}"
        custody.store(name, data, case=evidence.case)
        fields |= {field: name, f"{field}_sha256": digest}
    fields["face_descriptor"] = derived.face_descriptor
    type(evidence).objects.filter(pk=evidence.pk).update(**fields)
    case_pages.forget(getattr(evidence, "case_id", None))  # the page shows the face crop
    for field, value in fields.items():
        setattr(evidence, field, value)


def could_not_derive(evidence: WorkingCopy, reason: str) -> None:
    """Record why the image could not be looked at: no face, and the page says why."""
    fields = {"face_found": False, "face_box": None, "derive_error": reason}
    type(evidence).objects.filter(pk=evidence.pk).update(**fields)
    case_pages.forget(getattr(evidence, "case_id", None))
    for field, value in fields.items():
        setattr(evidence, field, value)


def read_working_copy(evidence: WorkingCopy, *, case: Case, request: HttpRequest) -> Image.Image:
    """The verified working copy, RGB (``CustodyError`` if it was altered; 404 while there is none)."""
    if not evidence.working_copy:
        raise Http404("This image has no working copy yet.")
    data = custody.open_verified(
        evidence.working_copy, evidence.working_copy_sha256, user=request.user, request=request, case=case, obj=evidence
    )
    with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
        return image.convert("RGB")


def read_face_crop(evidence: WorkingCopy, *, case: Case, request: HttpRequest) -> bytes:
    """The verified aligned face crop, PNG (404 when no face was found)."""
    if not evidence.face_crop:
        raise Http404("No face was found in this image.")
    return custody.open_verified(
        evidence.face_crop, evidence.face_crop_sha256, user=request.user, request=request, case=case, obj=evidence
    )


def box_preview(working: Image.Image, box, evidence: WorkingCopy) -> bytes:
    """An approximate crop for a face box a person drew (in the original's pixels): the
    square the aligner would frame around it, without its landmark rotation. PNG."""
    scale = working.width / evidence.width
    left, top, right, bottom = (value * scale for value in box)
    side = max(right - left, bottom - top) * (1 + 2 * PADDING)
    centre_x, centre_y = (left + right) / 2, (top + bottom) / 2
    square = (centre_x - side / 2, centre_y - side / 2, centre_x + side / 2, centre_y + side / 2)
    crop = working.crop(tuple(round(value) for value in square))
    return png(crop.resize((CROP_SIZE, CROP_SIZE), Image.Resampling.BICUBIC))


def centred_box(evidence: WorkingCopy) -> list[int]:
    """A centred square, in the original's pixels: where a person starts when no face was found."""
    side = min(evidence.width, evidence.height)
    left, top = (evidence.width - side) // 2, (evidence.height - side) // 2
    return [left, top, left + side, top + side]
