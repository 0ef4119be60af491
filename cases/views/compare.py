"""The comparison view: a sketch, its composites and a candidate photo side
by side at one scale, with an overlay slider and zoom; and candidate photos."""

import hashlib

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import date
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.timezone import localtime
from django.views.decorators.http import require_GET

import audit
from inversion.cards import card_of_weights

from .. import case_pages, services, tasks
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


def family(sketch: WitnessSketch, tree: list[tuple[int, int | None]]) -> list[int]:
    """The original ``sketch`` descends from, then every revision of it, oldest first, by id;
    ``tree`` is every sketch of the case as ``(id, id of the sketch it revises)``."""
    revises = dict(tree)
    root = sketch.pk
    while revises.get(root) in revises:
        root = revises[root]
    members, frontier = [], [root]
    while frontier:
        current = frontier.pop(0)
        members.append(current)
        frontier += sorted(pk for pk, parent in tree if parent == current)
    return members


#: Each chooser row's HTML, cut where " selected" or " checked" goes: (before, after).
ROWS = {
    "sketch": ('<option value="{}"', ">Sketch {} ({}{}, {})</option>"),
    "composite": (
        '<label class="check"><input type="checkbox" name="composite" value="{}"',
        "> {} composite {} of sketch {}{}</label>",
    ),
    "morph": ('<label class="check"><input type="checkbox" name="morph" value="{}"', "> {} morph {}{}</label>"),
    "candidate": ('<option value="{}"', ">{}</option>"),
}
#: In the chooser's cache key: rows kept under an older layout are not served.
ROWS_LAYOUT = hashlib.sha256(repr(ROWS).encode()).hexdigest()[:12]


def row(kind: str, pk: int, *names) -> tuple[int, str, str]:
    before, after = ROWS[kind]
    return pk, format_html(before, pk), format_html(after, *names)


def chooser(case) -> dict[str, list]:
    """The chooser's rows: every sketch, finished composite, finished morph and candidate photo of the
    case by name, and the sketches' tree for ``family``. A case has hundreds; they are read and
    escaped once per change of the case (``cases.case_pages``), and each view only marks its choice."""
    return case_pages.kept(case.pk, "compare-chooser", ROWS_LAYOUT, read=lambda: read_chooser(case))


def read_chooser(case) -> dict[str, list]:
    sketches = WitnessSketch.objects.filter(case=case).only("case_id", "style", "revises_id", "created_at")
    done = (
        Composite.objects.filter(sketch__case=case, status=Composite.Status.DONE)
        .only("sketch_id", "style", "released")
        .order_by("pk")
    )
    morphs = Morph.objects.filter(case=case, status=Morph.Status.DONE).only("case_id", "style", "released")
    return {
        "tree": [(s.pk, s.revises_id) for s in sketches],
        "sketch": [
            row("sketch", s.pk, s.pk, s.get_style_display(), f", revision of {s.revises_id}" if s.revises_id else "",
                date(localtime(s.created_at), "j M H:i"))
            for s in sketches
        ],
        "composite": [
            row("composite", c.pk, c.get_style_display(), c.pk, c.sketch_id, " (released)" if c.released else "")
            for c in done
        ],
        "morph": [row("morph", m.pk, m.get_style_display(), m.pk, " (released)" if m.released else "") for m in morphs],
        "candidate": [row("candidate", c.pk, c.label) for c in CandidatePhoto.objects.filter(case=case).only("label")],
    }  # fmt: skip


def marked(rows: list[tuple[int, str, str]], chosen: set[int], mark: str) -> str:
    """``rows`` joined, ``mark`` (" checked", " selected") in those chosen."""
    joined = "\n".join(f"{before}{mark if pk in chosen else ''}{after}" for pk, before, after in rows)
    return mark_safe(joined)  # each part escaped by ``row``


@login_required
@require_GET
def compare(request: HttpRequest, pk: int) -> HttpResponse:
    case = get_case_for(request.user, pk, request, ability=Ability.COMPARE)
    # The chooser lists every sketch, finished composite, morph and candidate of the case by name
    # (``chooser``). What is shown is read in full (descriptors included) for the chosen few (#13).
    rows = chooser(case)
    sketch = (
        WitnessSketch.objects.filter(case=case, pk__in=ids(request.GET.getlist("sketch"))).first()
        or WitnessSketch.objects.filter(case=case).first()
    )
    with_revisions = request.GET.get("revisions") == "1" and sketch is not None
    if with_revisions:
        members = family(sketch, rows["tree"])
        relatives = WitnessSketch.objects.filter(case=case).defer("face_descriptor").in_bulk(members)
        shown_sketches = [relatives[pk] for pk in members if pk in relatives]
    else:
        shown_sketches = [sketch] if sketch else []
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
            "sketch_options": marked(rows["sketch"], {sketch.pk} if sketch else set(), " selected"),
            "composite_checkboxes": marked(rows["composite"], {c.pk for c in composites}, " checked"),
            "morph_checkboxes": marked(rows["morph"], {m.pk for m in chosen_morphs}, " checked"),
            "candidate_options": marked(rows["candidate"], {candidate.pk} if candidate else set(), " selected"),
            "sketch": sketch,
            "shown_sketches": shown_sketches,
            "with_revisions": with_revisions,
            "sketch_box": ",".join(str(v) for v in box) if box and not with_revisions else "",
            "composites": composites,
            "shown_pks": {c.pk for c in composites},
            "candidate": candidate,
            "similarities": similarities,
            "similarity_waiting": waiting,
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
