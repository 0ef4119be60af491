"""Multi-witness morphs: the average of two to six finished composites of one
style of one case (docs/MORPHS.md).

When several witnesses describe the same person, the average of their
composites is rated a better likeness, and named more often, than most of
the composites alone (Bruce et al. 2002). A worker aligns the faces on dlib's
five landmarks and averages them, shape and texture::

    request_morph ──on commit──► make_morph(pk) (Celery task ``cases.morph``)
    make_morph: claim ──► read every source, checked against its SHA-256 (custody)
                ──► landmarks ──► warp each face to the mean landmarks ──► average
                ──► label band + provenance (composite_png) ──► store morphs/<sha256>.png
                ──► dlib descriptor ──► done / failed

The web process imports this module (the rules, the request and the
release); dlib and PyTorch are imported inside the job only.
"""

import hashlib
import io
import json
import logging
import threading
import time

import numpy as np
from celery import shared_task
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from PIL import Image

import audit

from . import case_pages, composite_png, custody, notifications
from .access import Ability, require
from .models import Case, Composite, Morph, Style
from .sending import send_after_commit

log = logging.getLogger(__name__)

Action = audit.Action
Status = Morph.Status

#: The research behind morphs, named in every morph's provenance.
REFERENCE = (
    "Bruce, V., Ness, H., Hancock, P. J. B., Newman, C., & Rarity, J. (2002). Four heads are better than one: "
    "Combining face composites yields improvements in face likeness. Journal of Applied Psychology, 87(5), 894-902."
)

#: How a morph is made, as its provenance records it.
METHOD = {
    "name": "landmark-aligned average (shape and texture)",
    "landmarks": "dlib shape_predictor_5_face_landmarks (eye corners, base of the nose) on each composite's face",
    "shape": "the mean of the sources' landmarks",
    "warp": "each face by the least-squares affine transform that maps its landmarks onto the mean, bicubic",
    "texture": "the per-pixel mean of the warped faces (pixels a warp left empty are not counted)",
    "reference": REFERENCE,
}

#: Where dlib's five landmarks sit in a face aligned by ``inversion.align`` (the network's input and
#: so its output), as fractions of the side: measured on 30 aligned CUFS photos, standard deviation
#: under 0.01. A composite in which dlib finds no face is taken to have its landmarks here.
ALIGNED_LANDMARKS = np.array([[0.6915, 0.3514], [0.5782, 0.3556], [0.2949, 0.3510], [0.4086, 0.3556], [0.4945, 0.5567]])
#: Landmarks further than this (mean distance, as a fraction of the side) from ``ALIGNED_LANDMARKS``
#: are a face found in the wrong place, not the aligned one: the aligned positions are used instead.
IMPLAUSIBLE_LANDMARKS = 0.12

#: Times a job interrupted by a store that does not answer is tried again.
MAX_RETRIES = 8


class MorphError(Exception):
    """The morph cannot be made; the message says why, to the user."""


# ---------------------------------------------------------------------------
# Requesting and releasing (web process)


def request_morph(case: Case, composite_ids: list[int], *, user, request: HttpRequest | None = None):
    """Ask for the morph of the composites ``composite_ids`` of ``case``; (the morph, whether it is new).

    The composites must be two to six, all finished, of ``case``, of one
    style, and each made from a face the aligner found or a person
    confirmed (``Composite.face_located``); otherwise ``ValidationError``
    says which rule failed and nothing is created. A morph of the same
    composites that is waiting, running or done is returned instead of a
    new one. The job runs once the transaction commits (in-process at once
    without a broker).
    """
    require(user, Ability.MAKE_MORPH, case, request)
    sources = morph_sources(case, composite_ids)
    with transaction.atomic():
        Case.objects.select_for_update().filter(pk=case.pk).first()  # one request at a time per case
        existing = identical_morph(case, sources)
        if existing is not None:
            return existing, False
        morph = Morph.objects.create(case=case, style=sources[0].style, requested_by=user)
        morph.sources.set(sources)
        audit.record(
            Action.MORPH_REQUESTED,
            user=user,
            request=request,
            obj=morph,
            details={"style": morph.style, "sources": [source_summary(c) for c in sources]},
        )
    enqueue(morph)
    morph.refresh_from_db()  # without a broker the job has just run
    return morph, True


def morph_sources(case: Case, composite_ids: list[int]) -> list[Composite]:
    """The composites a morph of ``composite_ids`` would average, oldest first, after checking every rule."""
    wanted = sorted(set(composite_ids))
    if not Morph.MIN_SOURCES <= len(wanted) <= Morph.MAX_SOURCES:
        raise ValidationError(
            f"A morph averages {Morph.MIN_SOURCES} to {Morph.MAX_SOURCES} composites; {len(wanted)} chosen."
        )
    found = {c.pk: c for c in Composite.objects.filter(pk__in=wanted, sketch__case=case).select_related("sketch")}
    missing = [pk for pk in wanted if pk not in found]
    if missing:
        raise ValidationError(f"Not composites of case {case.reference}: {', '.join(map(str, missing))}.")
    sources = [found[pk] for pk in wanted]
    unfinished = [c for c in sources if c.status != Composite.Status.DONE]
    if unfinished:
        names = ", ".join(f"{c.pk} ({c.get_status_display().lower()})" for c in unfinished)
        raise ValidationError(f"Only finished composites can be morphed; these are not: {names}.")
    styles = sorted({c.style for c in sources})
    if len(styles) > 1:
        raise ValidationError(
            "A morph averages composites of one style; these are "
            + " and ".join(Style(style).label.lower() for style in styles)
            + "."
        )
    unlocated = [str(c.pk) for c in sources if not c.face_located]
    if unlocated:
        raise ValidationError(
            "Composites made without a face the aligner found or a person confirmed cannot be morphed: "
            f"{', '.join(unlocated)}. Confirm the face box on their sketches and request them again."
        )
    return sources


def identical_morph(case: Case, sources: list[Composite]) -> Morph | None:
    """A morph of exactly ``sources`` that is waiting, running or done."""
    wanted = {c.pk for c in sources}
    candidates = (
        Morph.objects.filter(case=case, sources__in=wanted)
        .exclude(status=Status.FAILED)
        .distinct()
        .prefetch_related("sources")
    )
    return next((m for m in candidates.order_by("pk") if {c.pk for c in m.sources.all()} == wanted), None)


def release_morph(morph: Morph, *, user, reason: str, request: HttpRequest | None = None) -> Morph:
    """Mark a finished morph as released for dissemination: the rules of composites
    (``services.release_composite``), audited as ``morph_released``."""
    require(user, Ability.RELEASE_COMPOSITE, morph.case, request)
    if not reason.strip():
        raise ValidationError("Give a reason for releasing this morph.")
    with transaction.atomic():
        locked = Morph.objects.select_for_update().get(pk=morph.pk)
        if locked.status != Status.DONE:
            raise ValidationError("Only a finished morph can be released.")
        if locked.released:
            return locked
        locked.released, locked.released_by, locked.released_at = True, user, timezone.now()
        locked.release_reason = reason
        locked.save(update_fields=["released", "released_by", "released_at", "release_reason"])
        audit.record(
            Action.MORPH_RELEASED,
            user=user,
            request=request,
            obj=locked,
            details={"reason": reason, "output_sha256": locked.output_sha256},
        )
    return locked


def morph_choices(composites: list[Composite]) -> list[tuple[str, list[Composite]]]:
    """(style label, composites) for each style of which at least two of ``composites`` may be morphed
    together: finished and made from a located face."""
    groups: dict[str, list[Composite]] = {}
    for composite in composites:
        if composite.status == Composite.Status.DONE and composite.face_located:
            groups.setdefault(composite.style, []).append(composite)
    return [(Style(style).label, group) for style, group in groups.items() if len(group) >= Morph.MIN_SOURCES]


def source_summary(composite: Composite) -> dict:
    """A source as the audit trail and the provenance name it: the composite and its sketch, with their hashes."""
    return {
        "composite": composite.pk,
        "sha256": composite.output_sha256,
        "sketch": composite.sketch_id,
        "sketch_sha256": composite.sketch.sha256,
    }


def enqueue(morph: Morph) -> None:
    """Send ``morph`` to a worker once the current transaction commits; without a broker, make it now."""
    send_after_commit(make_morph, morph.pk)


# ---------------------------------------------------------------------------
# The job (workers)


@shared_task(name="cases.morph", bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES)
def make_morph(self, morph_id: int) -> None:
    """Make morph ``morph_id``. Idempotent: a morph already done or failed is left alone, and one
    delivered twice is made twice into the same content-addressed file and finished once."""
    morph = claim(morph_id)
    if morph is None:
        return
    try:
        finish(morph, build(morph))
    except custody.StorageUnavailable as error:
        if self.request.is_eager:  # no worker to try again later
            fail(morph, "Evidence storage did not answer, so the morph was not made. Request it again.")
            return
        requeue(morph)
        raise self.retry(exc=error, countdown=min(600, 5 * 2**self.request.retries)) from error
    except MorphError as error:
        fail(morph, str(error))
    except Exception as error:
        log.exception("morph %s failed", morph_id)
        fail(morph, f"The morph could not be made ({type(error).__name__}: {error}).")


def claim(morph_id: int) -> Morph | None:
    """Mark the morph running (a redelivered job takes over one left running); None when there is nothing to do."""
    with transaction.atomic():
        morph = Morph.objects.select_for_update().select_related("case").filter(pk=morph_id).first()
        if morph is None or morph.status in (Status.DONE, Status.FAILED):
            return None
        if morph.status == Status.REQUESTED:
            morph.move_to(Status.RUNNING)
        morph.attempts += 1
        morph.started_at = timezone.now()
        morph.save(update_fields=["status", "attempts", "started_at"])
    return morph


def requeue(morph: Morph) -> None:
    with transaction.atomic():
        Morph.objects.filter(pk=morph.pk, status=Status.RUNNING).update(status=Status.REQUESTED)
        case_pages.forget(morph.case_id)  # the case page lists its morphs' status


def build(morph: Morph) -> dict:
    """The morph's PNG, its SHA-256 and provenance, and its descriptor (not yet stored)."""
    began = time.perf_counter()
    sources = list(morph.sources.select_related("sketch").order_by("pk"))
    size = settings.COMPOSITE_SIZE
    faces = [face_of(read_source(morph, composite), size) for composite in sources]
    found = [landmarks(face) for face in faces]
    image, mean = average_faces(faces, [points for points, _ in found])
    label = f"{settings.COMPOSITE_LABEL} - MORPH OF {len(sources)}"
    provenance = {
        "kind": "morph",
        "morph": morph.pk,
        "style": morph.style,
        "label": label,
        "size": size,
        "sources": [
            {**source_summary(c), "file": c.image.name, "model_name": c.model_name, "weights_sha256": c.weights_sha256}
            | {"landmarks": {"method": method, "points": rounded(points)}}
            for c, (points, method) in zip(sources, found, strict=True)
        ],
        "mean_landmarks": rounded(mean),
        "method": METHOD,
        "code_version": code_version(),
        "created": timezone.now().isoformat(),
    }
    text = {
        key: json.dumps(value) if isinstance(value, dict | list) else value
        for key, value in provenance.items()
        if key != "label"  # the band's label is the "Label" chunk
    }
    data = composite_png.render(image, label=label, size=size, text=text)
    from .candidates import composite_descriptor  # dlib: workers only

    return {
        "data": data,
        "sha256": hashlib.sha256(data).hexdigest(),
        "provenance": provenance | {"duration_ms": round((time.perf_counter() - began) * 1000)},
        "descriptor": composite_descriptor(data),
    }


def read_source(morph: Morph, composite: Composite) -> bytes:
    """A source composite's stored file, checked against its SHA-256 (a mismatch is audited by custody)."""
    try:
        return custody.open_verified(composite.image, composite.output_sha256, case=morph.case, obj=composite)
    except custody.CustodyError as error:
        problem = "is missing from storage" if error.missing else "no longer matches its recorded SHA-256"
        raise MorphError(
            f"Composite {composite.pk}'s stored file {problem}, so the morph was not made. "
            "This is recorded in the audit trail."
        ) from None


def finish(morph: Morph, made: dict) -> None:
    name = f"morphs/{made['sha256']}.png"
    try:
        custody.store(name, made["data"], case=morph.case)
    except custody.CustodyError as error:
        raise MorphError(f"The morph could not be stored: {error}") from None
    with transaction.atomic():
        row = Morph.objects.select_for_update().get(pk=morph.pk)
        if row.status != Status.RUNNING:
            return  # finished by another delivery of the same job
        row.move_to(Status.DONE)
        row.image.name, row.output_sha256 = name, made["sha256"]
        row.provenance, row.face_descriptor = made["provenance"], made["descriptor"]
        row.error_message, row.finished_at = "", timezone.now()
        fields = ["status", "image", "output_sha256", "provenance", "face_descriptor", "error_message", "finished_at"]
        row.save(update_fields=fields)
        audit.record(
            Action.MORPH_DONE,
            obj=row,
            details={"output_sha256": row.output_sha256, "sources": made["provenance"]["sources"]},
        )
        notifications.morph_finished(row)


def fail(morph: Morph, message: str) -> None:
    log.warning("morph %s failed: %s", morph.pk, message)
    with transaction.atomic():
        row = Morph.objects.select_for_update().get(pk=morph.pk)
        if row.status in (Status.DONE, Status.FAILED):
            return
        row.move_to(Status.FAILED)
        row.error_message, row.finished_at = message, timezone.now()
        row.save(update_fields=["status", "error_message", "finished_at"])
        audit.record(
            Action.MORPH_FAILED,
            obj=row,
            outcome=audit.Outcome.FAILED,
            details={"attempt": row.attempts, "error": message},
        )
        notifications.morph_finished(row)


def code_version() -> str:
    from .pipeline import code_version as version  # the same version the composites record

    return version()


# ---------------------------------------------------------------------------
# The image work: pure NumPy and Pillow, dlib for the landmarks


def face_of(data: bytes, size: int) -> np.ndarray:
    """The face of a stored composite PNG (the square above its label band), ``size`` pixels a side, uint8 RGB."""
    with Image.open(io.BytesIO(data)) as stored:
        image = stored.convert("RGB")
    face = image.crop((0, 0, image.width, image.width))
    if face.width != size:
        face = face.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(face)


_lock = threading.Lock()
_predictor = None


def predictor():
    """dlib's five-landmark model, loaded once per process."""
    global _predictor
    with _lock:
        if _predictor is None:
            import dlib

            from inversion import align

            _predictor = dlib.shape_predictor(str(align.model_file("shape_predictor_5_face_landmarks.dat")))
        return _predictor


def landmarks(face: np.ndarray) -> tuple[np.ndarray, str]:
    """dlib's five landmarks of ``face`` in pixels, and how they were found.

    ``"dlib"``: detected. ``"aligned-position"``: no face was detected, or
    its landmarks lay far from where aligned faces have them; the composite
    was drawn from an aligned face, so ``ALIGNED_LANDMARKS`` stand in.
    """
    import dlib

    from inversion import align

    side = face.shape[0]
    box = align.detect(face)
    if box is not None:
        shape = predictor()(np.ascontiguousarray(face), dlib.rectangle(*box))
        points = np.array([(shape.part(i).x, shape.part(i).y) for i in range(5)], dtype=np.float64)
        if np.linalg.norm(points / side - ALIGNED_LANDMARKS, axis=1).mean() <= IMPLAUSIBLE_LANDMARKS:
            return points, "dlib"
    return ALIGNED_LANDMARKS * side, "aligned-position"


def affine_to(points: np.ndarray, target: np.ndarray) -> tuple[float, ...]:
    """The least-squares affine map from ``target`` to ``points`` (output pixel -> source pixel),
    as Pillow's ``Image.transform`` takes it: (a, b, c, d, e, f)."""
    design = np.hstack([target, np.ones((len(target), 1))])
    solution, *_ = np.linalg.lstsq(design, points, rcond=None)  # (3, 2)
    return tuple(float(value) for value in solution.T.reshape(-1))


def average_faces(faces: list[np.ndarray], points: list[np.ndarray]) -> tuple[Image.Image, np.ndarray]:
    """The morph of ``faces`` (equal-sized uint8 RGB squares) given each one's landmarks:
    every face warped onto the mean landmarks, then averaged where each warp has pixels.
    Returns the image and the mean landmarks."""
    side = faces[0].shape[0]
    mean = np.mean(points, axis=0)
    total = np.zeros((side, side, 3), np.float64)
    weight = np.zeros((side, side, 1), np.float64)
    full = Image.new("L", (side, side), 255)
    for face, found in zip(faces, points, strict=True):
        transform = affine_to(found, mean)
        warped = Image.fromarray(face).transform(
            (side, side), Image.Transform.AFFINE, transform, resample=Image.Resampling.BICUBIC
        )
        cover = full.transform((side, side), Image.Transform.AFFINE, transform, resample=Image.Resampling.BILINEAR)
        mask = np.asarray(cover, np.float64)[..., None] / 255.0
        total += np.asarray(warped, np.float64) * mask
        weight += mask
    plain = np.mean(np.stack(faces).astype(np.float64), axis=0)  # where no warp reached
    morph = np.where(weight > 1e-6, total / np.maximum(weight, 1e-6), plain)
    return Image.fromarray(np.clip(np.rint(morph), 0, 255).astype(np.uint8)), mean


def rounded(points: np.ndarray) -> list[list[float]]:
    return [[round(float(x), 1), round(float(y), 1)] for x, y in points]
