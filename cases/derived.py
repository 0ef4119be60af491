"""What is derived from an evidence image, once, when it is stored: a working
copy no larger than ``WORKING_SIDE`` pixels on its longer side, and the face
box the aligner finds in it.

Pages crop, preview and compare from the working copy, so no request does
work that grows with the original's pixel count (a 40-megapixel PNG is
decoded once, at upload). The original stays untouched as evidence; the
working copy is stored through custody under its own SHA-256, and every
read of it is checked like any other evidence file.
"""

import hashlib
import io
import logging
from dataclasses import dataclass

import numpy as np
from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest
from PIL import Image

from inversion import align

from . import custody
from .models import CandidatePhoto, Case, WitnessSketch, WorkingCopy, working_copy_upload_to
from .uploads import processing_image

log = logging.getLogger(__name__)

#: What decoding a damaged image raises.
UNREADABLE = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)

#: Longer side of the working copy, in pixels: ample for the aligner and the
#: 192 px crop preview, small enough to decode in milliseconds.
WORKING_SIDE = 1024


@dataclass(frozen=True)
class Derived:
    working_copy: bytes  # PNG
    sha256: str
    face_box: list[int] | None  # in the original's pixels; None when the aligner found no face


def derive(data: bytes) -> Derived:
    """The working copy of a validated image and the face box in the original's pixels."""
    image = processing_image(data)
    width, height = image.size
    scale = min(1.0, WORKING_SIDE / max(width, height))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    working_copy = buffer.getvalue()
    box = align.detect(np.asarray(image))
    face_box = None
    if box is not None:
        sx, sy = width / image.width, height / image.height
        left, top, right, bottom = box
        face_box = [
            max(0, round(left * sx)),
            max(0, round(top * sy)),
            min(width, round(right * sx)),
            min(height, round(bottom * sy)),
        ]
    return Derived(working_copy, hashlib.sha256(working_copy).hexdigest(), face_box)


def attach(evidence: WorkingCopy, derived: Derived, *, user=None, request: HttpRequest | None = None, case=None):
    """Store ``derived``'s working copy and set the evidence's fields (not saved); True if this call wrote the file."""
    evidence.working_copy_sha256 = derived.sha256
    evidence.working_copy.name = working_copy_upload_to(evidence, "working.png")
    evidence.face_box = derived.face_box
    evidence.face_found = derived.face_box is not None
    return custody.store(evidence.working_copy.name, derived.working_copy, user=user, request=request, case=case)


def forget_unreferenced(name: str) -> None:
    """Delete working copy ``name`` if no sketch or candidate photo refers to it (a failed upload's)."""
    if not any(model.objects.filter(working_copy=name).exists() for model in (WitnessSketch, CandidatePhoto)):
        default_storage.delete(name)


def ensure(evidence: WorkingCopy, *, case: Case, request: HttpRequest | None = None) -> None:
    """Derive and save what an image stored before working copies existed lacks (once).

    Raises ``CustodyError`` when the original no longer matches its SHA-256.
    """
    if evidence.face_found is not None:
        return
    user = getattr(request, "user", None)
    data = custody.open_verified(evidence.evidence_file, evidence.sha256, user=user, request=request, case=case)
    try:
        looked_at = derive(data)
    except UNREADABLE as error:  # stored by an import or damaged on disk: no working copy, no face
        log.warning("%s cannot be decoded (%s); it gets no working copy", evidence.evidence_file.name, error)
        evidence.face_found = False
        type(evidence).objects.filter(pk=evidence.pk).update(face_found=False)
        return
    attach(evidence, looked_at, request=request, case=case)
    type(evidence).objects.filter(pk=evidence.pk).update(
        working_copy=evidence.working_copy.name,
        working_copy_sha256=evidence.working_copy_sha256,
        face_box=evidence.face_box,
        face_found=evidence.face_found,
    )


def read_working_copy(evidence: WorkingCopy, *, case: Case, request: HttpRequest) -> np.ndarray:
    """The verified working copy as uint8 RGB (``CustodyError`` if it was altered; 404 if there is none)."""
    if not evidence.working_copy:
        raise Http404("This image cannot be decoded, so there is no crop to show.")
    data = custody.open_verified(
        evidence.working_copy, evidence.working_copy_sha256, user=request.user, request=request, case=case, obj=evidence
    )
    with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
        return np.asarray(image.convert("RGB"))


def box_in_working_copy(box, evidence: WorkingCopy, working: np.ndarray) -> tuple[int, int, int, int]:
    """``box`` (in the original's pixels) in the working copy's pixels."""
    scale = working.shape[1] / evidence.width
    return tuple(round(value * scale) for value in box)
