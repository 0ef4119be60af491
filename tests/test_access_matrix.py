"""Every URL and API endpoint, for every kind of user: the status each gets.

The routes come from the URL resolver, so a new URL without a row in
``MATRIX`` fails ``test_every_url_has_a_row_in_the_matrix``: whoever adds a
URL decides here who may use it. Rows list the status for each column of
``ROLES``:

- anonymous: not logged in;
- artist: forensic artist, member of the case;
- outsider: forensic artist, not a member of the case;
- investigator: investigator, member of the case;
- auditor: global auditor, not a member of the case;
- admin: superuser, not a member of the case.

Every route with an evidence id in it is also requested with the id of the
*other* case's sketch, composite or candidate photo under this case's URL
(id-guessing): 404 for everyone the case lets through, and the same refusal
as for this case's own ids for everyone else.

Every refusal of a logged-in user (403, 404) must also leave exactly one
``access_denied`` audit event naming them, and no other; no refusal, and no
request of the anonymous, may change a row of the domain or a stored file
(``state.py``).

POST/DELETE requests carry no data (except ``PAYLOADS``): they show whether
the request gets past the access check (the empty form again, 400, 415, a
redirect back) or is refused there (403, 404), not what valid data does.
"""

import hashlib
import io
import json
import re
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from django.contrib.admin import site as admin_site
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from PIL import Image

from accounts import tokens
from audit.models import AuditEvent
from cases import custody, tasks
from cases.models import CandidatePhoto, CaseMembership, Composite, Morph, WitnessSketch
from leads import imports
from leads import services as lead_services
from leads.models import GalleryPhoto

from . import state
from .factories import CaseFactory, MembershipFactory

ROLES = ("anonymous", "artist", "outsider", "investigator", "auditor", "admin")

# What a member of the case may see: pages send the anonymous to log in and
# hide the case from non-members; the API refuses the anonymous outright.
# Admins (superusers) may view a case they are not a member of
# (``access.ADMIN_ABILITIES``), so they see its pages and images too.
CASE_PAGE = (302, 200, 404, 200, 404, 200)
CASE_API = (403, 200, 404, 200, 404, 200)
AUDIT_PAGE = (302, 403, 403, 403, 200, 200)

# route -> method -> status per role, in ROLES order:
#        anonymous, artist, outsider, investigator, auditor, admin
MATRIX: dict[str, dict[str, tuple[int, ...]]] = {
    "": {"GET": (302, 302, 302, 302, 302, 302)},
    "healthz": {"GET": (200, 200, 200, 200, 200, 200)},
    "accounts/login/": {"GET": (200, 302, 302, 302, 302, 302), "POST": (200, 302, 302, 302, 302, 302)},
    "accounts/logout/": {"POST": (302, 302, 302, 302, 302, 302)},
    # Without an authenticator the code page sends users on; anyone may set one up.
    "accounts/second-factor/": {"GET": (302, 302, 302, 302, 302, 302)},
    "accounts/second-factor/setup/": {"GET": (302, 200, 200, 200, 200, 200), "POST": (302, 200, 200, 200, 200, 200)},
    # New backup codes need a passed second factor; without one the user is sent to the code page.
    "accounts/second-factor/backup-codes/": {"POST": (302, 302, 302, 302, 302, 302)},
    "accounts/password/": {"GET": (302, 200, 200, 200, 200, 200), "POST": (302, 200, 200, 200, 200, 200)},
    # API tokens: everyone sees and revokes their own (the artist's is asked for); anyone else's is not found.
    "accounts/api-tokens/": {"GET": (302, 200, 200, 200, 200, 200), "POST": (302, 400, 400, 400, 400, 400)},
    "accounts/api-tokens/<int:token_pk>/revoke/": {
        "GET": (302, 200, 404, 404, 404, 404),
        "POST": (302, 302, 404, 404, 404, 404),
    },
    "admin/": {"GET": (302, 302, 302, 302, 302, 200)},
    # Cases: artists and investigators may open one (and lead it); auditors may not.
    "cases/": {"GET": (302, 200, 200, 200, 200, 200)},
    "cases/new/": {"GET": (302, 200, 200, 200, 403, 200), "POST": (302, 302, 302, 302, 403, 302)},
    "cases/<int:pk>/": {"GET": CASE_PAGE},
    # Everyone's own work queue (only their own items, in cases they may see), its poll, their e-mail choice.
    "cases/work/": {"GET": (302, 200, 200, 200, 200, 200)},
    "cases/work/status.json": {"GET": (302, 200, 200, 200, 200, 200)},
    "cases/work/email/": {"POST": (302, 302, 302, 302, 302, 302)},
    # Closing, reopening and archiving: the case lead and admins.
    "cases/<int:pk>/status/": {"POST": (302, 403, 404, 403, 404, 302)},
    # Members are managed by the case lead and admins.
    "cases/<int:pk>/members/": {"POST": (302, 403, 404, 403, 404, 302)},
    "cases/<int:pk>/members/<int:user_id>/revoke/": {"POST": (302, 403, 404, 403, 404, 302)},
    # Sketches are uploaded by the case's forensic artists (and lead).
    "cases/<int:pk>/sketches/new/": {"GET": (302, 200, 404, 403, 404, 403), "POST": (302, 200, 404, 403, 404, 403)},
    "cases/<int:pk>/sketches/suggest-style/": {"POST": (302, 400, 404, 403, 404, 403)},
    "cases/<int:pk>/sketches/<int:sketch_pk>/": {"GET": CASE_PAGE},
    "cases/<int:pk>/sketches/<int:sketch_pk>/image": {"GET": CASE_PAGE},
    "cases/<int:pk>/sketches/<int:sketch_pk>/crop.png": {"GET": CASE_PAGE},
    "cases/<int:pk>/sketches/<int:sketch_pk>/composites/": {"POST": (302, 400, 404, 403, 404, 403)},
    # Colour hints make a revision and request its composite: the case's forensic artists (and lead).
    "cases/<int:pk>/sketches/<int:sketch_pk>/hints/": {"POST": (302, 400, 404, 403, 404, 403)},
    "cases/<int:pk>/sketches/<int:sketch_pk>/status.json": {"GET": CASE_PAGE},
    # Composites: released by investigators (and the lead); a released one may be downloaded.
    "cases/<int:pk>/composites/<int:composite_pk>/image": {"GET": CASE_PAGE},
    "cases/<int:pk>/composites/<int:composite_pk>/release/": {
        "GET": (302, 403, 404, 302, 404, 403),
        "POST": (302, 403, 404, 302, 404, 403),
    },
    "cases/<int:pk>/composites/<int:composite_pk>/download": {"GET": CASE_PAGE},
    # The press sheet of a released composite: those who may release it (investigators, the lead), on an open case.
    "cases/<int:pk>/composites/<int:composite_pk>/press/": {
        "GET": (302, 403, 404, 200, 404, 403),
        "POST": (302, 403, 404, 400, 404, 403),
    },
    # Candidate photos are added by investigators; comparison is for artists and investigators.
    "cases/<int:pk>/candidates/new/": {"GET": (302, 403, 404, 200, 404, 403), "POST": (302, 403, 404, 200, 404, 403)},
    "cases/<int:pk>/candidates/<int:candidate_pk>/image": {"GET": CASE_PAGE},
    "cases/<int:pk>/compare/": {"GET": (302, 200, 404, 200, 404, 403)},
    # Morphs are made by investigators (and the lead); without composites the request goes back to compare.
    "cases/<int:pk>/morphs/new/": {"POST": (302, 403, 404, 302, 404, 403)},
    "cases/<int:pk>/morphs/<int:morph_pk>/": {"GET": CASE_PAGE},
    "cases/<int:pk>/morphs/<int:morph_pk>/status.json": {"GET": CASE_PAGE},
    "cases/<int:pk>/morphs/<int:morph_pk>/image": {"GET": CASE_PAGE},
    # Released as composites are: by investigators and the lead (the world's morph is released already).
    "cases/<int:pk>/morphs/<int:morph_pk>/release/": {
        "GET": (302, 403, 404, 302, 404, 403),
        "POST": (302, 403, 404, 302, 404, 403),
    },
    "cases/<int:pk>/export/": {"GET": (302, 403, 404, 200, 404, 403)},
    # Galleries (leads): an agency resource, not a case's. Admins manage them and grant searching to
    # named users (here the investigator); anyone else is told nothing exists (404). Granted users
    # see a gallery's name and size, never its photos: only a search's shortlist, on the case's pages.
    "galleries/": {"GET": (302, 200, 200, 200, 200, 200), "POST": (302, 403, 403, 403, 403, 200)},
    "galleries/<int:pk>/": {"GET": (302, 404, 404, 200, 404, 200)},
    "galleries/<int:pk>/progress.json": {"GET": (302, 404, 404, 200, 404, 200)},
    "galleries/<int:pk>/import/": {"POST": (302, 404, 404, 403, 404, 302)},
    "galleries/<int:pk>/grants/": {"POST": (302, 404, 404, 403, 404, 302)},
    "galleries/<int:pk>/grants/<int:user_id>/revoke/": {"POST": (302, 404, 404, 403, 404, 302)},
    "galleries/<int:pk>/photos/<int:photo_pk>/thumbnail": {"GET": (302, 404, 404, 403, 404, 200)},
    "galleries/<int:pk>/photos/<int:photo_pk>/remove/": {"POST": (302, 404, 404, 403, 404, 302)},
    # Searches: a case member who may compare, granted the gallery, from a sketch; the search and
    # its shortlist are the case's, seen by its members (and admins).
    "cases/<int:pk>/sketches/<int:sketch_pk>/searches/": {"POST": (302, 302, 404, 302, 404, 403)},
    "cases/<int:pk>/searches/<int:search_pk>/": {"GET": (302, 404, 404, 200, 404, 200)},
    "cases/<int:pk>/searches/<int:search_pk>/status.json": {"GET": (302, 404, 404, 200, 404, 200)},
    "cases/<int:pk>/searches/<int:search_pk>/leads/<int:rank>/thumbnail": {"GET": (302, 404, 404, 200, 404, 200)},
    "cases/<int:pk>/searches/<int:search_pk>/leads/<int:rank>/add/": {"POST": (302, 403, 404, 302, 404, 403)},
    "cases/<int:pk>/searches/<int:search_pk>/leads/<int:rank>/dismiss/": {"POST": (302, 404, 404, 302, 404, 403)},
    # The audit trail is for auditors and admins.
    "audit/": {"GET": AUDIT_PAGE},
    "audit/export.csv": {"GET": AUDIT_PAGE},
    "audit/export.jsonl": {"GET": AUDIT_PAGE},
    "audit/chain/": {"GET": AUDIT_PAGE, "POST": (302, 403, 403, 403, 302, 302)},
    # The API: the same rules.
    "api/schema/": {"GET": (200, 200, 200, 200, 200, 200)},
    "api/v1/cases/": {"GET": (403, 200, 200, 200, 200, 200), "POST": (403, 201, 201, 201, 403, 201)},
    "api/v1/cases/<int:pk>/": {"GET": CASE_API},
    "api/v1/cases/<int:pk>/memberships/": {"GET": CASE_API, "POST": (403, 403, 404, 403, 404, 400)},
    "api/v1/cases/<int:pk>/memberships/<int:user_id>/": {"DELETE": (403, 403, 404, 403, 404, 204)},
    "api/v1/cases/<int:pk>/sketches/": {"GET": CASE_API, "POST": (403, 415, 404, 403, 404, 403)},
    "api/v1/cases/<int:pk>/sketches/<int:sketch_pk>/": {"GET": CASE_API},
    "api/v1/cases/<int:pk>/sketches/<int:sketch_pk>/image": {"GET": CASE_API},
    "api/v1/cases/<int:pk>/sketches/<int:sketch_pk>/composites/": {"POST": (403, 400, 404, 403, 404, 403)},
    "api/v1/cases/<int:pk>/composites/": {"GET": CASE_API},
    "api/v1/cases/<int:pk>/composites/<int:composite_pk>/": {"GET": CASE_API},
    "api/v1/cases/<int:pk>/composites/<int:composite_pk>/image": {"GET": CASE_API},
    "api/v1/cases/<int:pk>/composites/<int:composite_pk>/release/": {"POST": (403, 403, 404, 400, 404, 403)},
    "api/v1/audit-events/": {"GET": (403, 403, 403, 403, 200, 200)},
    "api/v1/galleries/": {"GET": (403, 200, 200, 200, 200, 200)},
    "api/v1/galleries/<int:pk>/": {"GET": (403, 404, 404, 200, 404, 200)},
    "api/v1/galleries/<int:pk>/photos/": {"GET": (403, 404, 404, 403, 404, 200)},
    "api/v1/cases/<int:pk>/sketches/<int:sketch_pk>/searches/": {"POST": (403, 400, 404, 400, 404, 403)},
    "api/v1/cases/<int:pk>/searches/<int:search_pk>/": {"GET": (403, 404, 404, 200, 404, 200)},
}

# Requests that need valid data to get as far as the access check.
PAYLOADS = {
    "cases/new/": {"reference": "2026-CID-0500", "title": "Burglary"},
    "api/v1/cases/": {"reference": "2026-CID-0500", "title": "Burglary"},
}

# Routes whose evidence ids are guessed with the other case's.
EVIDENCE_IDS = {
    "sketch_pk": "sketch",
    "composite_pk": "composite",
    "candidate_pk": "candidate",
    "morph_pk": "morph",
    "search_pk": "search",
}
# In these routes ``pk`` is a gallery's, not a case's.
GALLERY_ROUTES = ("galleries/", "api/v1/galleries/")


def routes() -> list[str]:
    """Every route the project serves, as written in the URLconf; the admin site as one ``admin/``."""

    def walk(patterns, prefix: str):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                if pattern.app_name == "admin":
                    yield route
                else:
                    yield from walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                yield route

    return list(walk(get_resolver().url_patterns, ""))


@dataclass
class World:
    """Two cases with evidence; ``ids`` fills a route's parameters."""

    users: dict
    ids: dict[str, int]
    foreign: dict[str, int]


def png(grey: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (grey, grey, grey)).save(buffer, format="PNG")
    return buffer.getvalue()


def stored(folder: str, data: bytes) -> tuple[str, str]:
    digest = hashlib.sha256(data).hexdigest()
    name = f"{folder}/{digest}.png"
    custody.store(name, data)
    return name, digest


def evidence(case, uploader, grey: int) -> dict[str, int]:
    """A sketch, a released composite of it, a candidate photo and a released morph of the composite
    in ``case``, stored like the real ones."""
    name, digest = stored("sketches", png(grey))
    sketch = WitnessSketch.objects.create(
        case=case, uploaded_by=uploader, original=name, sha256=digest, size=1, width=64, height=64, style="line"
    )
    name, digest = stored("composites", png(grey + 1))
    composite = Composite.objects.create(
        sketch=sketch,
        style="line",
        requested_by=uploader,
        status=Composite.Status.DONE,
        image=name,
        output_sha256=digest,
        released=True,
        released_by=uploader,
        released_at=timezone.now(),
        release_reason="Press appeal",
    )
    name, digest = stored("candidates", png(grey + 2))
    candidate = CandidatePhoto.objects.create(
        case=case, uploaded_by=uploader, image=name, sha256=digest, size=1, width=64, height=64, label="custody 1"
    )
    for item in (sketch, candidate):  # what a worker derives after an upload
        tasks.derive.apply(args=(item._meta.model_name, item.pk))
    name, digest = stored("morphs", png(grey + 3))
    morph = Morph.objects.create(
        case=case,
        style="line",
        requested_by=uploader,
        status=Morph.Status.DONE,
        image=name,
        output_sha256=digest,
        released=True,
        released_by=uploader,
        released_at=timezone.now(),
        release_reason="Press appeal",
    )
    morph.sources.set([composite])
    return {"sketch_pk": sketch.pk, "composite_pk": composite.pk, "candidate_pk": candidate.pk, "morph_pk": morph.pk}


def gallery_and_search(sketch_pk: int, searcher, admin, name: str = "Known offenders") -> dict[str, int]:
    """A gallery of one photo, ``searcher`` granted it, and their finished search of it from the sketch."""
    gallery = lead_services.create_gallery(user=admin, name=name, source="PNC extract", legal_basis="Policy 12")
    imports.import_photos(gallery, [imports.Incoming(f"{name}.png", lambda: png(40))], user=admin, source="browser")
    photo = GalleryPhoto.objects.get(gallery=gallery)
    GalleryPhoto.objects.filter(pk=photo.pk).update(face_found=True, face_descriptor=[0.0] * 128)
    WitnessSketch.objects.filter(pk=sketch_pk).update(face_found=True, face_descriptor=[0.01] * 128)
    lead_services.grant_search(gallery, searcher.username, user=admin)
    sketch = WitnessSketch.objects.get(pk=sketch_pk)
    search = lead_services.request_search(sketch, gallery.pk, user=searcher, reason="Robbery series")
    return {"gallery_pk": gallery.pk, "photo_pk": photo.pk, "search_pk": search.pk, "rank": 1}


@pytest.fixture
def world(lead, case, artist, investigator, outsider, auditor, admin) -> World:
    other_case = CaseFactory(reference="2026-CID-0099", created_by=outsider)
    MembershipFactory(case=other_case, user=outsider, role=CaseMembership.Role.CASE_LEAD)
    token, _ = tokens.issue(artist, "Nightly export", 30)
    ids = {"pk": case.pk, "user_id": artist.pk, "token_pk": token.pk, **evidence(case, artist, 10)}
    foreign = {"pk": case.pk, "user_id": artist.pk, **evidence(other_case, outsider, 20)}
    ids |= gallery_and_search(ids["sketch_pk"], investigator, admin)
    foreign |= {"search_pk": gallery_and_search(foreign["sketch_pk"], outsider, admin, name="Other")["search_pk"]}
    foreign |= {key: ids[key] for key in ("gallery_pk", "photo_pk", "rank")}
    users = {
        "artist": artist,
        "outsider": outsider,
        "investigator": investigator,
        "auditor": auditor,
        "admin": admin,
    }
    return World(users=users, ids=ids, foreign=foreign)


def url(route: str, ids: dict[str, int]) -> str:
    if route.startswith(GALLERY_ROUTES):
        ids = ids | {"pk": ids["gallery_pk"]}
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda match: str(ids[match.group(1)]), route)


def log_in(client, world: World, role: str) -> None:
    if role != "anonymous":
        client.force_login(world.users[role])


def request(client, world: World, role: str, method: str, route: str, ids: dict[str, int]):
    log_in(client, world, role)
    return send(client, method, route, ids)


def send(client, method: str, route: str, ids: dict[str, int]):
    path, data = url(route, ids), PAYLOADS.get(route, {})
    if method == "GET":
        return client.get(path)
    if route.startswith("api/"):
        return client.generic(method, path, json.dumps(data), content_type="application/json")
    return client.generic(method, path, urlencode(data), content_type="application/x-www-form-urlencoded")


def cells() -> list:
    return [
        pytest.param(route, method, role, status, id=f"{method} /{route} {role}")
        for route, methods in MATRIX.items()
        for method, statuses in methods.items()
        for role, status in zip(ROLES, statuses, strict=True)
    ]


def refused(role: str, status: int) -> bool:
    """Refused at the access check, or asked by the anonymous: nothing may change."""
    return role == "anonymous" or status in (403, 404)


def guessed(role: str, status: int) -> int:
    """Refused on the case (anonymous, 403, 404): the same answer as for the
    case's own ids. Let through: the other case's evidence id is not found."""
    return status if role == "anonymous" or status in (403, 404) else 404


def guesses() -> list:
    return [
        pytest.param(route, method, role, guessed(role, status), id=f"{method} /{route} {role} other case's id")
        for route, methods in MATRIX.items()
        if any(f"<int:{name}>" in route for name in EVIDENCE_IDS)
        for method, statuses in methods.items()
        for role, status in zip(ROLES, statuses, strict=True)
    ]


def test_every_url_has_a_row_in_the_matrix():
    served = set(routes())

    assert sorted(served - set(MATRIX)) == [], "new URLs: add their rows to MATRIX"
    assert sorted(set(MATRIX) - served) == [], "rows for URLs that no longer exist"


@pytest.mark.parametrize(("route", "method", "role", "expected"), cells())
def test_access(client, world, audit_log, route, method, role, expected):
    log_in(client, world, role)
    audit_log.mark()
    before = state.snapshot()

    response = send(client, method, route, world.ids)

    assert response.status_code == expected
    if refused(role, expected):
        assert state.changes(before, state.snapshot()) == []
    if role != "anonymous" and expected in (403, 404) and route != "admin/":
        events = [(event.action, event.user, event.outcome) for event in audit_log.new()]
        assert events == [(AuditEvent.Action.ACCESS_DENIED, world.users[role], "denied")]


@pytest.mark.parametrize("role", ROLES)
def test_the_admin_site_is_for_admins_only(client, world, role):
    pages = ["/admin/"] + [
        f"/admin/{model._meta.app_label}/{model._meta.model_name}/" for model in admin_site._registry
    ]

    statuses = {request(client, world, role, "GET", page.lstrip("/"), {}).status_code for page in pages}

    assert statuses == ({200} if role == "admin" else {302})


@pytest.mark.parametrize(("route", "method", "role", "expected"), guesses())
def test_guessing_another_cases_evidence_id_finds_nothing(client, world, route, method, role, expected):
    log_in(client, world, role)
    before = state.snapshot()

    response = send(client, method, route, world.foreign)

    assert response.status_code == expected
    assert state.changes(before, state.snapshot()) == []
