"""The case list, opening a case, a case's page with its timeline, and its members."""

import functools
import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, prefetch_related_objects
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from audit.trail import record_denial

from .. import case_pages, services
from ..access import Ability, abilities, can_create_case, get_case_for
from ..evidence import record_page_items, shown_item
from ..forms import CaseForm, CaseStatusForm, MembershipForm
from ..models import CandidatePhoto, Case, CaseMembership, Composite, Style, WitnessSketch

#: Cases on one page of the case list.
CASES_PER_PAGE = 50
#: Originals (each with its revisions) on one page of a case.
SKETCH_GROUPS_PER_PAGE = 10
#: The latest timeline entries a case page shows; ``?timeline=all`` shows every one.
TIMELINE_SHOWN = 15
#: How long a rendered sketch card is kept (``sketch_cards``); a card that changed gets a new key.
CARD_SECONDS = 3600
#: Read by workers and the compare page, never by the case page.
HEAVY_FIELDS = ("face_descriptor",)


@login_required
def case_list(request: HttpRequest) -> HttpResponse:
    cases = (
        Case.objects.visible_to(request.user)
        .annotate(sketch_count=Count("sketches", distinct=True))
        .select_related("created_by")
    )
    status = request.GET.get("status", "")
    if status in Case.Status.values:
        cases = cases.filter(status=status)
    query = request.GET.get("q", "").strip()
    cases = cases.search(query).order_by("-created_at", "-pk")
    page = Paginator(cases, CASES_PER_PAGE).get_page(request.GET.get("page"))
    kept = QueryDict(mutable=True)  # the filters, kept from page to page
    kept.update({name: value for name, value in (("q", query), ("status", status)) if value})
    return render(
        request,
        "cases/case_list.html",
        {
            "cases": page.object_list,
            "page": page,
            "filters": kept.urlencode(),
            "status": status,
            "query": query,
            "statuses": Case.Status.choices,
            "can_create_case": can_create_case(request.user),
        },
    )


@login_required
def case_create(request: HttpRequest) -> HttpResponse:
    if not can_create_case(request.user):
        record_denial(request.user, request, case=None, object_id="", ability="create_case", reason="role")
        raise PermissionDenied("Your role does not allow opening cases.")
    form = CaseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        case = services.create_case(user=request.user, request=request, **form.cleaned_data)
        messages.success(request, f"Case {case.reference} is open. You are its case lead.")
        return redirect("case_detail", case.pk)
    return render(request, "cases/case_form.html", {"form": form}, status=400 if form.errors else 200)


@dataclass(frozen=True)
class TimelineEntry:
    when: datetime
    kind: str
    text: str
    who: str
    sketch_id: int | None = None  # the sketch page the entry links to
    url: str = ""


def timeline(case: Case, sketches, candidates, latest: int | None = None) -> tuple[list[TimelineEntry], int]:
    """The latest ``latest`` (or all) of what happened to the case's evidence, oldest first and without
    links (``with_links`` adds them), and how many entries there are in all.

    The composites are read as plain values, not model instances, and only the entries shown are
    written out: a case with hundreds of composites needs little more than their dates here (#13).
    """
    composites = Composite.objects.filter(sketch__case=case).values_list(
        "pk", "sketch_id", "style", "status", "created_at", "finished_at", "released_at",
        "requested_by__username", "released_by__username",
    )  # fmt: skip
    events = [(sketch.created_at, "sketch", sketch) for sketch in sketches]
    for row in composites:
        events.append((row[4], "request", row))
        if row[5]:
            events.append((row[5], "finished", row))
        if row[6]:
            events.append((row[6], "release", row))
    events += [(photo.created_at, "candidate", photo) for photo in candidates]
    events.sort(key=lambda event: event[0])
    shown = events if latest is None else events[max(0, len(events) - latest) :]
    return [timeline_entry(*event) for event in shown], len(events)


def timeline_entry(when: datetime, event: str, item) -> TimelineEntry:
    """One entry of ``timeline``: a sketch, a candidate photo, or a composite's values row."""
    if event == "sketch":
        text = f"Sketch {item.pk} uploaded ({item.get_style_display().lower()})"
        if item.revises_id:
            text += f", revising sketch {item.revises_id}"
        return TimelineEntry(when, "sketch", text, item.uploaded_by.get_username(), item.pk)
    if event == "candidate":
        return TimelineEntry(when, "candidate", f"Candidate photo added: {item.label}", item.uploaded_by.get_username())
    pk, sketch_id, style, status, _, _, _, requester, releaser = item
    name = f"{Style(style).label} composite {pk} of sketch {sketch_id}"
    if event == "request":
        return TimelineEntry(when, "request", f"{name} requested", requester, sketch_id)
    if event == "release":
        return TimelineEntry(when, "release", f"{name} released", releaser or "", sketch_id)
    outcome = "finished" if status == Composite.Status.DONE else "failed"
    return TimelineEntry(when, status, f"{name} {outcome}", "", sketch_id)


def with_links(case: Case, entries: list[TimelineEntry]) -> list[TimelineEntry]:
    """``entries`` with the address of their sketch's page: made for the entries shown only."""
    urls = {pk: reverse("sketch_detail", args=[case.pk, pk]) for pk in {e.sketch_id for e in entries} - {None}}
    return [replace(entry, url=urls.get(entry.sketch_id, "")) for entry in entries]


def as_tree(sketches) -> list[WitnessSketch]:
    """``sketches`` with each original followed by its revisions (and theirs), each with a ``depth``."""
    sketches = list(sketches)
    children: dict[int | None, list[WitnessSketch]] = {}
    for sketch in sketches:
        children.setdefault(sketch.revises_id, []).append(sketch)
    known = {sketch.pk for sketch in sketches}
    ordered = []

    def visit(sketch: WitnessSketch, depth: int) -> None:
        sketch.depth = depth
        ordered.append(sketch)
        for revision in sorted(children.get(sketch.pk, []), key=lambda item: item.created_at):
            visit(revision, depth + 1)

    for root in sketches:
        if root.revises_id is None or root.revises_id not in known:
            visit(root, 0)
    return ordered


def in_groups(tree: list[WitnessSketch]) -> list[list[WitnessSketch]]:
    """``as_tree``'s list cut into groups: each original with its revisions, so a page never splits one."""
    groups: list[list[WitnessSketch]] = []
    for sketch in tree:
        if sketch.depth == 0 or not groups:
            groups.append([])
        groups[-1].append(sketch)
    return groups


@functools.cache
def templates_version() -> str:
    """A digest of every project template: an edited template (or one it includes) makes new fragment
    keys, so a release never serves HTML cached by the one before."""
    digest = hashlib.sha256()
    for folder in settings.TEMPLATES[0]["DIRS"]:
        for path in sorted(Path(folder).rglob("*.html")):
            digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def cached_fragments(fragments: list[tuple[str, tuple, dict]]) -> list[str]:
    """Each ``(template, state, context)`` rendered once per state: ``state`` names everything the
    fragment shows, and the fragment is cached under a key made of exactly that (and of the templates'
    version), so the same key is the same HTML for any user and a change makes a new key (#13).

    Fragments take no request: nothing per user (a CSRF token, a name in the menu) may go inside."""
    version = templates_version()
    keys = [
        f"fragment:{version}:{name}:" + hashlib.sha256(repr(state).encode()).hexdigest() for name, state, _ in fragments
    ]
    cached, rendered = cache.get_many(keys), {}
    for key, (template, _, context) in zip(keys, fragments, strict=True):
        if key not in cached and key not in rendered:
            rendered[key] = render_to_string(template, context)
    cache.set_many(rendered, CARD_SECONDS)
    return [mark_safe(cached[key] if key in cached else rendered[key]) for key in keys]  # our templates' output


def sketch_cards(case: Case, sketches: list[WitnessSketch]) -> list[str]:
    """Each of ``sketches``' cards as the case page shows it, rendered once per state.

    A card shows only what the sketch and its composites are (evidence does not change; a composite
    changes its status and release). Rendering forty cards was most of the page's time (#13).
    """
    return cached_fragments(
        [
            (
                "cases/_sketch.html",
                (case.pk, sketch.pk, sketch.depth, sketch.created_at, sketch.uploaded_by.get_username(),
                 sketch.witness_reference, [(c.pk, c.status, c.released) for c in sketch.composites.all()]),
                {"case": case, "sketch": sketch},
            )
            for sketch in sketches
        ],
    )  # fmt: skip


def form_state(form) -> tuple:
    """What an unbound form's fields show: their names, labels, help and choices."""
    fields = form.fields.items()
    return (type(form).__name__, *((n, f.label, f.help_text, getattr(f, "choices", None)) for n, f in fields))


def case_sections(case: Case, candidates, timeline_shown: list[TimelineEntry], can_manage_members: bool) -> dict:
    """The case page's candidate photos, timeline, members and the fields of its two forms as cached
    fragments (``cached_fragments``).

    The members' Remove buttons submit the page's one ``members-form``, and the forms' CSRF tokens are
    in the page around the fields, outside the fragments."""
    photos = [(photo.pk, photo.label) for photo in candidates]
    members = list(
        CaseMembership.objects.filter(case=case).order_by("pk").values_list("user_id", "user__username", "role")
    )
    members = [(user_id, name, CaseMembership.Role(role).label) for user_id, name, role in members]
    timeline_state = [(e.when, e.kind, e.text, e.who, e.url) for e in timeline_shown]
    status_form, membership_form = CaseStatusForm(case=case), MembershipForm()
    candidates_html, timeline_html, members_html, status_fields, membership_fields = cached_fragments(
        [
            ("cases/_candidates.html", (case.pk, photos), {"case": case, "candidates": photos}),
            ("cases/_timeline.html", tuple(timeline_state), {"timeline": timeline_shown}),
            (
                "cases/_members.html",
                (case.pk, members, can_manage_members),
                {"case": case, "members": members, "can_manage": can_manage_members},
            ),
            ("_form_fields.html", form_state(status_form), {"form": status_form}),
            ("_form_fields.html", form_state(membership_form), {"form": membership_form}),
        ]
    )
    return {
        "candidates_html": candidates_html,
        "timeline_html": timeline_html,
        "members_html": members_html,
        "status_fields": status_fields,
        "membership_fields": membership_fields,
    }


@login_required
def case_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The case's sketches a page of originals at a time, its candidates, the latest of its timeline.

    A case grows to dozens of sketches and hundreds of composites; the page shows
    ``SKETCH_GROUPS_PER_PAGE`` originals (each with its revisions and their composites) and the
    last ``TIMELINE_SHOWN`` timeline entries (``?timeline=all`` for every one), so that it stays
    small and quick however large the case is. What it shows is read once per change of the case
    (``case_pages.kept``); the reader's access, their rights and the audit event are every view's (#13).
    """
    case = get_case_for(request.user, pk, request)
    allowed = abilities(request.user, case)
    can_manage_members = Ability.MANAGE_MEMBERS in allowed
    number, whole_timeline = page_number(request.GET.get("page")), request.GET.get("timeline") == "all"
    shown = case_pages.kept(
        case.pk,
        "case-page",
        templates_version(),
        number,
        str(int(whole_timeline)),
        str(int(can_manage_members)),
        read=lambda: read_case_page(case, number, whole_timeline=whole_timeline, can_manage_members=can_manage_members),
    )
    if shown["items"]:
        record_page_items(request, case, case, page="case", items=shown["items"])
    return render(
        request,
        "cases/case_detail.html",
        {
            **shown,
            "case": case,
            "abilities": allowed,
            "can_change_status": bool(Case.TRANSITIONS[Case.Status(case.status)]),
        },
    )


def page_number(requested: str | None) -> str:
    """The page of originals asked for, as the cache keys it: a number in ASCII digits, else the first page
    (``str.isdigit`` also takes "²")."""
    return requested if requested and requested.isascii() and requested.isdigit() and len(requested) <= 6 else "1"


def read_case_page(case: Case, number: str, *, whole_timeline: bool, can_manage_members: bool) -> dict:
    """What the case page shows of the case, rendered: its sketch cards, morphs, candidate photos,
    timeline, members and form fields, the pager, and the evidence items its audit event lists."""
    sketches = WitnessSketch.objects.filter(case=case).select_related("uploaded_by").defer(*HEAVY_FIELDS)
    candidates = CandidatePhoto.objects.filter(case=case).select_related("uploaded_by").defer(*HEAVY_FIELDS)
    page = Paginator(in_groups(as_tree(sketches)), SKETCH_GROUPS_PER_PAGE).get_page(number)
    shown_sketches = [sketch for group in page.object_list for sketch in group]
    prefetch_related_objects(
        shown_sketches,
        Prefetch(
            "composites",
            queryset=Composite.objects.defer(*HEAVY_FIELDS).order_by("created_at"),
        ),
    )
    shown = [
        *shown_sketches,
        *(c for sketch in shown_sketches for c in sketch.composites.all() if c.status == Composite.Status.DONE),
        *(photo for photo in candidates if photo.face_crop),
    ]
    entries, entry_count = timeline(case, sketches, candidates, None if whole_timeline else TIMELINE_SHOWN)
    shown_entries = with_links(case, entries)
    morphs = [
        {
            "pk": morph.pk,
            "style": morph.get_style_display(),
            "status": morph.get_status_display(),
            "released": morph.released,
            "created_at": morph.created_at,
        }
        for morph in case.morphs.all()
    ]
    return {
        "sketch_cards": sketch_cards(case, shown_sketches),
        "pager": {
            "number": page.number,
            "num_pages": page.paginator.num_pages,
            "count": page.paginator.count,
            "start": page.start_index(),
            "end": page.end_index(),
            "previous": page.previous_page_number() if page.has_previous() else None,
            "next": page.next_page_number() if page.has_next() else None,
        },
        "morphs": morphs,
        "has_candidates": bool(candidates),
        "timeline_count": len(shown_entries),
        "timeline_hidden": entry_count - len(shown_entries),
        "items": [shown_item(item) for item in shown],
        **case_sections(case, candidates, shown_entries, can_manage_members),
    }


@login_required
@require_POST
def case_status(request: HttpRequest, pk: int) -> HttpResponse:
    """Close, reopen or archive the case (case leads and admins)."""
    case = get_case_for(request.user, pk, request, ability=Ability.EDIT_CASE)
    form = CaseStatusForm(request.POST, case=case)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
        return redirect("case_detail", case.pk)
    status = form.cleaned_data["status"]
    try:
        services.set_case_status(case, status, user=request.user, reason=form.cleaned_data["reason"], request=request)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"The case is now {Case.Status(status).label.lower()}.")
    return redirect("case_detail", case.pk)


@login_required
@require_POST
def membership_grant(request: HttpRequest, pk: int) -> HttpResponse:
    case = get_case_for(request.user, pk, request, ability=Ability.MANAGE_MEMBERS)
    form = MembershipForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(reverse("case_detail", args=[case.pk]) + "#members")
    member, role = form.cleaned_data["username"], form.cleaned_data["role"]
    try:
        services.grant_membership(case, member, role, user=request.user, request=request)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        label = CaseMembership.Role(role).label.lower()
        messages.success(request, f"{member.get_username()} is now {label} on this case.")
    return redirect(reverse("case_detail", args=[case.pk]) + "#members")


@login_required
@require_POST
def membership_revoke(request: HttpRequest, pk: int, user_id: int) -> HttpResponse:
    case = get_case_for(request.user, pk, request, ability=Ability.MANAGE_MEMBERS)
    member = get_object_or_404(get_user_model(), pk=user_id)
    try:
        services.revoke_membership(case, member, user=request.user, request=request)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"{member.get_username()} no longer has access to this case.")
    return redirect(reverse("case_detail", args=[case.pk]) + "#members")
