"""Colour hints: an artist paints the colours a witness described (hair, skin,
eyes, lips, clothing) over a copy of a sketch in the browser (``static/js/app.js``,
``setUpHints``); the painted copy arrives here as a PNG.

It is stored as a revision of the sketch in the colour style
(``services.add_sketch``: the same upload checks and audit as any upload; the
original is never changed), its interview notes say which hints it holds, and a
colour composite of it is requested with the original's face box when the
aligner found one (the drawing underneath is the same). The page is answered in
JSON, as the painting is sent by ``fetch``: the URL of the revision's page, or a
message saying what is wrong.
"""

import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_POST

from .. import services
from ..access import Ability, get_case_for
from ..custody import UNAVAILABLE_MESSAGE, StorageUnavailable
from ..models import Composite, Style, WitnessSketch
from ..upload_requests import unreadable_upload

#: The brushes the page offers, in the order the notes list them.
BRUSHES = ("hair", "skin", "eyes", "lips", "clothing")
#: A colour as ``<input type="color">`` gives it.
COLOUR = re.compile(r"#[0-9a-f]{6}")
#: More (brush, colour) pairs than any painting needs: one colour per stroke at most.
MAX_HINTS = 50
#: The artist's own words about colour, added to the notes.
MAX_NOTE = 500


def parse_hints(values: list[str]) -> list[tuple[str, str]]:
    """``["hair:#8b4513", ...]`` as (brush, colour) pairs, in ``BRUSHES`` order, each once.

    Raises ``ValidationError`` saying what is wrong.
    """
    if not values:
        raise ValidationError("Paint at least one colour hint over the sketch before saving.")
    if len(values) > MAX_HINTS:
        raise ValidationError(f"At most {MAX_HINTS} colour hints can be saved at once.")
    hints = set()
    for value in values:
        brush, _, colour = value.partition(":")
        colour = colour.lower()
        if brush not in BRUSHES:
            raise ValidationError(f"Unknown brush. Colour hints are for {', '.join(BRUSHES)}.")
        if not COLOUR.fullmatch(colour):
            raise ValidationError("A colour hint's colour must be written #rrggbb.")
        hints.add((brush, colour))
    return sorted(hints, key=lambda hint: (BRUSHES.index(hint[0]), hint[1]))


def hints_note(sketch: WitnessSketch, hints: list[tuple[str, str]], note: str) -> str:
    """The revision's interview notes: which hints it holds, and what the artist added."""
    listed = ", ".join(f"{brush} {colour}" for brush, colour in hints)
    text = f"Colour hints added to sketch {sketch.pk}: {listed}."
    return f"{text}\n{note}" if note else text


def refuse(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"message": message}, status=status)


@login_required
@require_POST
def sketch_hints(request: HttpRequest, pk: int, sketch_pk: int) -> JsonResponse:
    """Store the painted copy of a sketch as its colour revision and request a colour composite of it."""
    case = get_case_for(request.user, pk, request, ability=Ability.UPLOAD_SKETCH)
    sketch = get_object_or_404(WitnessSketch, case=case, pk=sketch_pk)
    problem = unreadable_upload(request, user=request.user, case=case, object_type="witnesssketch")
    if problem:
        return refuse(problem)
    upload = request.FILES.get("image")
    if upload is None:
        return refuse("The painted sketch did not arrive. Paint the hints again and save.")
    note = request.POST.get("note", "").strip()
    if len(note) > MAX_NOTE:
        return refuse(f"The note is too long: at most {MAX_NOTE} characters.")
    if "\x00" in note:
        return refuse("The note contains characters that cannot be stored.")
    try:
        hints = parse_hints(request.POST.getlist("hint"))
    except ValidationError as error:
        return refuse(" ".join(error.messages))
    try:
        revision = services.add_sketch(
            case,
            upload,
            user=request.user,
            style=Style.COLOR,
            filename=f"sketch-{sketch.pk}-colour-hints.png",
            interview_notes=hints_note(sketch, hints, note),
            revises=sketch,
            request=request,
        )
    except ValidationError as error:
        return refuse(" ".join(error.messages))
    except StorageUnavailable:
        return refuse(UNAVAILABLE_MESSAGE, status=503)
    url = reverse("sketch_detail", args=[case.pk, revision.pk])
    try:
        composite, _ = services.request_composite(
            revision, Style.COLOR, user=request.user, parameters=composite_parameters(sketch, revision), request=request
        )
    except ValidationError as error:
        messages.warning(
            request,
            f"Sketch {revision.pk} holds your colour hints. No colour composite was requested yet: "
            + " ".join(error.messages),
        )
        return JsonResponse({"url": url, "sketch": revision.pk, "composite": None}, status=201)
    composite.refresh_from_db(fields=["status"])  # without a broker the job ran as the request committed
    state = {
        Composite.Status.DONE: "is below",
        Composite.Status.FAILED: "could not be made; its card below says why",
    }.get(composite.status, "is on its way; this page shows its progress")
    kept = f"Sketch {revision.pk} holds your colour hints (sketch {sketch.pk} is unchanged)."
    messages.success(request, f"{kept} Its colour composite {state}.")
    return JsonResponse({"url": url + "#composites", "sketch": revision.pk, "composite": composite.pk}, status=201)


def composite_parameters(original: WitnessSketch, revision: WitnessSketch) -> dict:
    """The original's face box, where the aligner found one and the painted copy has the original's size;
    otherwise nothing, and the worker finds the face in the revision."""
    same_size = (revision.width, revision.height) == (original.width, original.height)
    if original.face_found and original.face_box and same_size:
        return {"box": list(original.face_box)}
    return {}
