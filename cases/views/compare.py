"""The comparison view: a sketch, its composites and a candidate photo side
by side at one scale, with an overlay slider and zoom; and candidate photos."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import date
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.timezone import localtime
from django.views.decorators.http import require_GET

import audit
from inversion.cards import card_of_weights

from .. import services, tasks
from ..access import Ability, abilities, get_case_for
from ..candidates import similarity
from ..evidence import inline_image, shown_item
from ..forms import CandidatePhotoForm, ReleaseForm
from ..models import CandidatePhoto, Composite, Morph, WitnessSketch
from ..morphs import morph_choices
from ..upload_requests import unreadable_upload


def ids(values: list[str]) -> list[int]:
    """The ids among ``values``: ASCII digits only (``str.isdigit`` also takes "²", which ``int`` refuses)."""
    return [int(value) for value in values if value.isascii() and value.isdigit() and len(value) < 19]


def model_limitations(composites: list[Composite]) -> list[tuple[str, str]]:
    """(model, limitation) from the model card of the exact weights that made
    each of ``composites``: the shipped card, or the one kept when newer
    weights replaced them."""
    cards, found = {}, {}
    for composite in composites:
        key = (composite.style, composite.weights_sha256)
        if key not in cards:
            cards[key] = card_of_weights(*key)
        if cards[key] is None:
            continue
        model = f"{composite.get_style_display()} model"
        if cards[key].get("superseded"):
            model += f" (earlier weights {composite.weights_sha256[:12]})"
        for text in cards[key].get("limitations", []):
            found[(model, text)] = None
    return list(found)


def family(sketch: WitnessSketch, sketches) -> list[WitnessSketch]:
    """The original ``sketch`` descends from, then every revision of it, oldest first."""
    by_pk = {item.pk: item for item in sketches}
    root = sketch
    while root.revises_id in by_pk:
        root = by_pk[root.revises_id]
    members, frontier = [], [root]
    while frontier:
        current = frontier.pop(0)
        members.append(current)
        frontier += sorted((item for item in by_pk.values() if item.revises_id == current.pk), key=lambda i: i.pk)
    return members


def composite_checkboxes(done, ticked: set[int]) -> str:
    """The chooser's checkbox for each finished composite of the case, ticked if shown. Built here, not
    in the template: a case has hundreds, and the template engine took a quarter of the page's time (#13)."""
    return format_html_join(
        "\n",
        '<label class="check"><input type="checkbox" name="composite" value="{}"{}> '
        "{} composite {} of sketch {}{}</label>",
        (
            (c.pk, " checked" if c.pk in ticked else "", c.get_style_display(), c.pk, c.sketch_id,
             " (released)" if c.released else "")
            for c in done
        ),
    )  # fmt: skip


def sketch_options(sketches, chosen) -> str:
    """The chooser's option for each sketch of the case, the shown one selected (as ``composite_checkboxes``)."""
    return format_html_join(
        "",
        '<option value="{}"{}>Sketch {} ({}{}, {})</option>',
        (
            (s.pk, " selected" if s == chosen else "", s.pk, s.get_style_display(),
             f", revision of {s.revises_id}" if s.revises_id else "", date(localtime(s.created_at), "j M H:i"))
            for s in sketches
        ),
    )  # fmt: skip


@login_required
@require_GET
def compare(request: HttpRequest, pk: int) -> HttpResponse:
    case = get_case_for(request.user, pk, request, ability=Ability.COMPARE)
    # The chooser lists every sketch, finished composite, morph and candidate of the case by name: it reads
    # only those names. What is shown is read in full (descriptors included) for the chosen few (#13).
    sketches = WitnessSketch.objects.filter(case=case).only("case_id", "style", "revises_id", "created_at")
    done = (
        Composite.objects.filter(sketch__case=case, status=Composite.Status.DONE)
        .only("sketch_id", "style", "released")
        .order_by("pk")
    )
    candidates = CandidatePhoto.objects.filter(case=case).only("case_id", "label")
    morphs = list(Morph.objects.filter(case=case, status=Morph.Status.DONE).only("case_id", "style", "released"))

    sketch = (
        WitnessSketch.objects.filter(case=case, pk__in=ids(request.GET.getlist("sketch"))).first()
        or WitnessSketch.objects.filter(case=case).first()
    )
    with_revisions = request.GET.get("revisions") == "1" and sketch is not None
    shown_sketches = family(sketch, sketches) if with_revisions else [sketch] if sketch else []
    shown = (
        Composite.objects.filter(sketch__case=case, status=Composite.Status.DONE)
        .select_related("sketch", "released_by")
        .defer("sketch__face_descriptor")
        .order_by("pk")
    )
    chosen = ids(request.GET.getlist("composite"))
    if chosen:
        composites = list(shown.filter(pk__in=chosen))
    else:
        composites = list(shown.filter(sketch__in=[s.pk for s in shown_sketches]))
    candidate = CandidatePhoto.objects.filter(case=case, pk__in=ids(request.GET.getlist("candidate"))).first()
    chosen_morphs = list(
        Morph.objects.filter(case=case, status=Morph.Status.DONE, pk__in=ids(request.GET.getlist("morph")))
    )

    similarities, waiting = [], False
    if candidate is not None and composites:
        if candidate.face_found is None:
            tasks.enqueue_derive(candidate)
        undescribed = [c for c in composites if c.face_descriptor is None]
        tasks.enqueue_describe(undescribed)  # once per composite; without a broker it runs now
        if undescribed or candidate.face_found is None:
            candidate.refresh_from_db()
            composites = list(Composite.objects.filter(pk__in=[c.pk for c in composites]).select_related("sketch"))
        for composite in composites:
            if composite.face_descriptor is None or candidate.face_found is None:
                waiting = True
                continue
            similarities.append((composite, similarity(composite.face_descriptor, candidate.face_descriptor)))
    morph_similarities = [
        (morph, similarity(morph.face_descriptor, candidate.face_descriptor))
        for morph in chosen_morphs
        if candidate is not None and candidate.face_found is not None and morph.face_descriptor is not None
    ]

    audit.record(
        audit.Action.COMPARISON_VIEWED,
        request=request,
        case=case,
        object_type="case",
        object_id=case.pk,
        details={
            "sketch": sketch.pk if sketch else None,
            "composites": [c.pk for c in composites],
            "candidate": candidate.pk if candidate else None,
            **({"morphs": [m.pk for m in chosen_morphs]} if chosen_morphs else {}),
            "items": [
                shown_item(item)
                for item in (*shown_sketches, *composites, *chosen_morphs, candidate)
                if item is not None
            ],
        },
    )
    # The same box the composites were made from, so the sketch crop lines up with them.
    box = next((c.parameters.get("box") for c in composites if c.parameters.get("box")), None)
    return render(
        request,
        "cases/compare.html",
        {
            "case": case,
            "sketch_options": sketch_options(sketches, sketch),
            "composite_checkboxes": composite_checkboxes(done, {c.pk for c in composites}),
            "candidates": candidates,
            "sketch": sketch,
            "shown_sketches": shown_sketches,
            "with_revisions": with_revisions,
            "sketch_box": ",".join(str(v) for v in box) if box and not with_revisions else "",
            "composites": composites,
            "shown_pks": {c.pk for c in composites},
            "shown_pks_morphs": {m.pk for m in chosen_morphs},
            "candidate": candidate,
            "similarities": similarities,
            "similarity_waiting": waiting,
            "morphs": morphs,
            "chosen_morphs": chosen_morphs,
            "morph_similarities": morph_similarities,
            "morph_choices": morph_choices(composites),
            "limitations": model_limitations(composites),
            "abilities": abilities(request.user, case),
            "release_form": ReleaseForm(),
        },
    )


@login_required
def candidate_add(request: HttpRequest, pk: int) -> HttpResponse:
    case = get_case_for(request.user, pk, request, ability=Ability.ADD_CANDIDATE_PHOTO)
    if request.method == "POST":
        problem = unreadable_upload(request, user=request.user, case=case, object_type="candidatephoto")
        if problem:
            messages.error(request, problem)
            return render(
                request, "cases/candidate_form.html", {"case": case, "form": CandidatePhotoForm()}, status=400
            )
    form = CandidatePhotoForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["image"]
        try:
            photo = services.add_candidate_photo(
                case, upload, user=request.user, label=form.cleaned_data["label"], filename=upload.name, request=request
            )
        except ValidationError as error:
            form.add_error("image", " ".join(error.messages))
        else:
            messages.success(request, "The candidate photo is stored. Choose composites to compare it with.")
            return redirect(reverse("compare", args=[case.pk]) + f"?candidate={photo.pk}")
    return render(
        request, "cases/candidate_form.html", {"case": case, "form": form}, status=400 if form.errors else 200
    )


@login_required
@require_GET
def candidate_image(request: HttpRequest, pk: int, candidate_pk: int) -> HttpResponse:
    """The candidate photo as stored, for the page; ``?crop=1`` the aligned face crop a worker made."""
    case = get_case_for(request.user, pk, request)
    photo = get_object_or_404(CandidatePhoto, case=case, pk=candidate_pk)
    if request.GET.get("crop") != "1":
        return inline_image(photo.image, photo.sha256, request=request, case=case, obj=photo)
    if not photo.face_crop:
        raise Http404("No face has been found in this photo.")
    return inline_image(photo.face_crop, photo.face_crop_sha256, request=request, case=case, obj=photo)
