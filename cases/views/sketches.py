"""Witness sketches: upload with a style suggestion, the face crop the
aligner found (adjustable), composite requests and their live status."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from .. import derived, services, tasks
from ..access import Ability, abilities, get_case_for
from ..boxes import check_box
from ..custody import UNAVAILABLE_MESSAGE, CustodyError, StorageUnavailable
from ..evidence import altered_response, image_response, inline_image, read_verified, record_page_view, record_view
from ..forms import CompositeRequestForm, SketchForm
from ..models import Composite, Style, WitnessSketch
from ..styles import style_warning, suggested_style
from ..upload_requests import unreadable_upload
from ..uploads import UploadRejected, validate_upload

#: Side of the face crop preview, in pixels.
CROP_PREVIEW_SIZE = 192
#: How far a composite has got, for the progress bar: (step, of).
PROGRESS = {
    Composite.Status.REQUESTED: 1,
    Composite.Status.RUNNING: 2,
    Composite.Status.DONE: 3,
    Composite.Status.FAILED: 3,
}


@login_required
def sketch_upload(request: HttpRequest, pk: int) -> HttpResponse:
    case = get_case_for(request.user, pk, request, ability=Ability.UPLOAD_SKETCH)
    if request.method == "POST":
        problem = unreadable_upload(request, user=request.user, case=case, object_type="witnesssketch")
        if problem:
            messages.error(request, problem)
            return render(request, "cases/sketch_form.html", {"case": case, "form": SketchForm(case=case)}, status=400)
    initial = {"revises": request.GET.get("revises")} if request.GET.get("revises") else {}
    form = SketchForm(request.POST or None, request.FILES or None, case=case, initial=initial)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["image"]
        try:
            sketch = services.add_sketch(
                case,
                upload,
                user=request.user,
                style=form.cleaned_data["style"] or None,
                filename=upload.name,
                witness_reference=form.cleaned_data["witness_reference"],
                interview_notes=form.cleaned_data["interview_notes"],
                revises=form.cleaned_data["revises"],
                request=request,
            )
        except ValidationError as error:
            form.add_error("image", " ".join(error.messages))
        except StorageUnavailable:
            messages.error(request, UNAVAILABLE_MESSAGE)
            return render(request, "cases/sketch_form.html", {"case": case, "form": form}, status=503)
        else:
            messages.success(request, f"Sketch {sketch.pk} is stored. Check the face crop, then request composites.")
            return redirect("sketch_detail", case.pk, sketch.pk)
    status = 400 if form.errors else 200
    return render(request, "cases/sketch_form.html", {"case": case, "form": form}, status=status)


@login_required
@require_POST
def sketch_suggest_style(request: HttpRequest, pk: int) -> JsonResponse:
    """The style suggestion for an image the artist has chosen but not yet uploaded."""
    get_case_for(request.user, pk, request, ability=Ability.UPLOAD_SKETCH)
    upload = request.FILES.get("image")
    if upload is None:
        return JsonResponse({"message": "Choose an image first."}, status=400)
    try:
        style = suggested_style(validate_upload(upload))
    except UploadRejected as rejection:
        return JsonResponse({"message": rejection.message}, status=400)
    warnings = {other: style_warning(other, style) for other in Style.values if other != style}
    return JsonResponse({"style": style, "label": Style(style).label, "warnings": warnings})


def face_box(sketch: WitnessSketch) -> list[int]:
    """The face box the aligner found, or a centred square when it found none (or has not looked yet)."""
    return list(sketch.face_box) if sketch.face_box else derived.centred_box(sketch)


def composite_card(request: HttpRequest, composite: Composite, can_release: bool) -> str:
    return render_to_string(
        "cases/_composite.html",
        {
            "composite": composite,
            "case": composite.sketch.case,
            "step": PROGRESS[composite.status],
            "can_release": can_release,
            "next_url": reverse("sketch_detail", args=[composite.sketch.case_id, composite.sketch_id]) + "#composites",
        },
        request=request,
    )


@login_required
def sketch_detail(
    request: HttpRequest, pk: int, sketch_pk: int, form: CompositeRequestForm | None = None
) -> HttpResponse:
    case = get_case_for(request.user, pk, request)
    sketch = get_object_or_404(
        WitnessSketch.objects.select_related("uploaded_by", "revises").prefetch_related(
            Prefetch(
                "composites",
                queryset=Composite.objects.select_related("requested_by", "released_by").defer("face_descriptor"),
            ),
            "revisions",
        ),
        case=case,
        pk=sketch_pk,
    )
    if sketch.face_found is None:
        tasks.enqueue_derive(sketch)  # a job is on its way, or the sketch predates them; a second is harmless
        sketch.refresh_from_db()  # without a broker the job has just run
    box = face_box(sketch)
    granted = abilities(request.user, case)
    if form is None:
        initial = dict(zip(("box_left", "box_top", "box_right", "box_bottom"), box, strict=True))
        form = CompositeRequestForm(initial={"styles": [sketch.style], **initial}, sketch=sketch)
    composites = sketch.composites.all()
    shown = [sketch, *(c for c in composites if c.status == Composite.Status.DONE)]
    record_page_view(request, case, sketch, page="sketch", shown=shown)
    return render(
        request,
        "cases/sketch_detail.html",
        {
            "case": case,
            "sketch": sketch,
            "box": box,
            "box_found": sketch.face_found,
            "looking": sketch.face_found is None,
            "box_percent": [
                100 * box[0] / sketch.width,
                100 * box[1] / sketch.height,
                100 * (box[2] - box[0]) / sketch.width,
                100 * (box[3] - box[1]) / sketch.height,
            ],
            "form": form,
            "abilities": granted,
            "composites": composites,
            "outstanding": any(c.status in (Composite.Status.REQUESTED, Composite.Status.RUNNING) for c in composites),
            "cards": [composite_card(request, c, Ability.RELEASE_COMPOSITE in granted) for c in composites],
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_GET
def sketch_image(request: HttpRequest, pk: int, sketch_pk: int) -> HttpResponse:
    """The sketch as stored, for the page; ``?thumb=1`` its thumbnail; ``?download=1`` the
    original checked against its SHA-256 and audited as a download."""
    case = get_case_for(request.user, pk, request)
    sketch = get_object_or_404(WitnessSketch, case=case, pk=sketch_pk)
    if request.GET.get("download") == "1":
        try:
            data = read_verified(sketch.original, sketch.sha256, request=request, case=case, obj=sketch)
        except CustodyError as error:
            return altered_response(request, error)
        record_view(request, sketch, case, sha256=sketch.sha256, download=True)
        name = sketch.original.name.rsplit("/", 1)[-1]
        return image_response(data, name, download_as=f"sketch-{sketch.pk}-{name}")
    if request.GET.get("thumb") == "1" and sketch.thumbnail:
        return inline_image(sketch.thumbnail, sketch.thumbnail_sha256, request=request, case=case, obj=sketch)
    return inline_image(sketch.original, sketch.sha256, request=request, case=case, obj=sketch)


def parse_box(value: str, sketch: WitnessSketch) -> list[int] | None:
    """``"l,t,r,b"`` as a face box of the sketch (``boxes.check_box``), or None when it is not one."""
    parts = value.split(",")
    if not all(part.isascii() and part.strip().lstrip("-").isdigit() for part in parts):
        return None
    try:
        return check_box([int(part) for part in parts], sketch.width, sketch.height)
    except ValidationError:
        return None


@login_required
@require_GET
def sketch_crop(request: HttpRequest, pk: int, sketch_pk: int) -> HttpResponse:
    """The face crop for the box in ``?box=l,t,r,b`` (approximate, from the working copy), or
    the aligned crop the worker made of the face it found.

    Neither decodes the original nor runs a network: the cost does not grow with the sketch's size.
    """
    case = get_case_for(request.user, pk, request)
    sketch = get_object_or_404(WitnessSketch, case=case, pk=sketch_pk)
    box = parse_box(request.GET.get("box", ""), sketch)
    try:
        if box is None and sketch.face_crop:
            return image_response(derived.read_face_crop(sketch, case=case, request=request), "crop.png")
        working = derived.read_working_copy(sketch, case=case, request=request)
    except CustodyError as error:
        return altered_response(request, error)
    preview = derived.box_preview(working, box or face_box(sketch), sketch)
    return image_response(preview, "crop.png")


@login_required
@require_POST
def composites_request(request: HttpRequest, pk: int, sketch_pk: int) -> HttpResponse:
    case = get_case_for(request.user, pk, request, ability=Ability.REQUEST_COMPOSITE)
    sketch = get_object_or_404(WitnessSketch, case=case, pk=sketch_pk)
    form = CompositeRequestForm(request.POST, sketch=sketch)
    if not form.is_valid():
        return sketch_detail(request, pk, sketch_pk, form=form)
    box = form.cleaned_data["box"]
    parameters = {"box": box} if box else {}
    added, existing = [], []
    try:
        for style in form.cleaned_data["styles"]:
            composite, created = services.request_composite(
                sketch, style, user=request.user, parameters=parameters, request=request
            )
            (added if created else existing).append(composite)
    except ValidationError as error:
        form.add_error(None, " ".join(error.messages))
        return sketch_detail(request, pk, sketch_pk, form=form)
    if added:
        labels = ", ".join(composite.get_style_display().lower() for composite in added)
        if Composite.objects.filter(pk__in=[c.pk for c in added]).outstanding().exists():
            messages.success(request, f"Composites requested ({labels}). This page shows their progress.")
        else:  # without a broker the jobs ran as the request committed
            messages.success(request, f"Composites made ({labels}); they are below.")
    for composite in existing:
        state = "is already finished" if composite.status == Composite.Status.DONE else "is already on its way"
        messages.info(
            request,
            f"An identical {composite.get_style_display().lower()} composite ({composite.pk}) {state}; "
            "no new one was added.",
        )
    return redirect(reverse("sketch_detail", args=[case.pk, sketch.pk]) + "#composites")


@login_required
@require_GET
def composites_status(request: HttpRequest, pk: int, sketch_pk: int) -> JsonResponse:
    """The sketch's composites as the page shows them, for the progress poll."""
    case = get_case_for(request.user, pk, request)
    sketch = get_object_or_404(WitnessSketch, case=case, pk=sketch_pk)
    granted = abilities(request.user, case)
    can_release = Ability.RELEASE_COMPOSITE in granted
    composites = Composite.objects.filter(sketch=sketch).select_related("sketch__case", "requested_by", "released_by")
    looking = sketch.face_found is None
    face = {"looking": looking, "found": bool(sketch.face_found)}
    if not looking:  # what the page shows once the worker has looked, drawn in place (#13)
        face["box"] = face_box(sketch)
        face["help"] = render_to_string(
            "cases/_face_help.html", {"looking": False, "box_found": sketch.face_found, "abilities": granted}
        )
    return JsonResponse(
        {
            "composites": [
                {
                    "id": composite.pk,
                    "style": composite.style,
                    "status": composite.status,
                    "html": composite_card(request, composite, can_release),
                }
                for composite in composites
            ],
            "outstanding": composites.outstanding().count(),
            "face": face,
        },
        headers={"Cache-Control": "no-store"},
    )
