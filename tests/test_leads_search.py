"""Searching a gallery with a sketch: ranked, fused, reproducible, audited with its reason, and
seen only by case members granted the gallery. Descriptors are written as workers would leave them."""

import io

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.http import Http404
from django.urls import reverse

from audit.models import AuditEvent
from cases import services as case_services
from cases.models import CandidatePhoto, WitnessSketch
from inversion.leads import FUSION
from leads import imports, searching, services
from leads.models import GalleryPhoto, LeadResult, LeadSearch

from .factories import png_bytes

Action = AuditEvent.Action
COLOURS = ["red", "green", "blue", "yellow", "purple", "orange"]


def descriptor(seed: int) -> list[float]:
    return np.random.default_rng(seed).normal(0, 0.1, 128).round(6).tolist()


@pytest.fixture(autouse=True)
def fresh_indexes():
    searching.reset_indexes()
    yield
    searching.reset_indexes()


@pytest.fixture
def gallery(admin, investigator):
    gallery = services.create_gallery(user=admin, name="Known offenders", source="PNC", legal_basis="Policy 12")
    files = [imports.Incoming(f"K-{n}.png", lambda c=colour: png_bytes(color=c)) for n, colour in enumerate(COLOURS)]
    imports.import_photos(gallery, files, user=admin, source="browser")
    for n, photo in enumerate(GalleryPhoto.objects.order_by("pk")):
        GalleryPhoto.objects.filter(pk=photo.pk).update(face_found=True, face_descriptor=descriptor(n))
    services.grant_search(gallery, investigator.username, user=admin)
    return gallery


@pytest.fixture
def sketch(case, lead):
    sketch = case_services.add_sketch(case, io.BytesIO(png_bytes()), user=lead, style="line", filename="s.png")
    near_k3 = (np.asarray(descriptor(3)) + 0.01).tolist()  # the sketch is of the person in photo K-3
    WitnessSketch.objects.filter(pk=sketch.pk).update(face_found=True, face_descriptor=near_k3)
    sketch.refresh_from_db()
    return sketch


def search_with(sketch, gallery, user, **options) -> LeadSearch:
    search = services.request_search(sketch, gallery.pk, user=user, reason="Robbery series, 3 similar MOs", **options)
    search.refresh_from_db()  # jobs run in-process in tests
    return search


def test_a_search_ranks_the_nearest_photo_first_and_records_how_it_was_made(sketch, gallery, investigator):
    search = search_with(sketch, gallery, investigator, shortlist_size=4)

    assert search.status == LeadSearch.Status.DONE, search.error_message
    results = list(search.results.select_related("photo"))
    assert [r.rank for r in results] == [1, 2, 3, 4]
    assert results[0].photo.reference == "K-3"
    assert results[0].fused_distance <= results[1].fused_distance
    assert len(results[0].distances) == 1 and results[0].distances[0] < 0.2
    assert results[0].photo_sha256 == results[0].photo.sha256
    assert search.probes == [{"kind": "sketch", "type": "witnesssketch", "id": sketch.pk, "sha256": sketch.sha256}]
    assert search.gallery_size == len(COLOURS)
    assert search.recognizer["name"] == "dlib_face_recognition_resnet_model_v1"
    assert len(search.recognizer["weights_sha256"]) == 64
    assert search.fusion["name"] == FUSION["name"] and search.fusion["version"] == FUSION["version"]


def test_the_sketch_and_its_own_styles_finished_composites_are_the_probes(sketch, gallery, investigator, lead):
    """docs/LEADS.md: other styles' composites, added to the sketch's own, put the right person first less often."""
    from cases.models import Composite

    from .web import finish

    near_k3 = (np.asarray(descriptor(3)) + 0.02).tolist()
    made = {}
    for style in ("line", "color"):  # the sketch is a line drawing
        composite = finish(case_services.request_composite(sketch, style, user=lead)[0])
        Composite.objects.filter(pk=composite.pk).update(face_descriptor=near_k3)
        made[style] = composite
    waiting = case_services.request_composite(sketch, "grayscale", user=lead)[0]

    search = search_with(sketch, gallery, investigator)

    assert [(p["kind"], p["id"]) for p in search.probes] == [("sketch", sketch.pk), ("composite", made["line"].pk)]
    skipped = {p["id"]: p["why"] for p in search.skipped_probes}
    assert skipped[made["color"].pk] == searching.OTHER_STYLE and waiting.pk in skipped
    assert len(search.results.first().distances) == 2


def test_every_search_is_audited_with_its_reason(sketch, gallery, investigator, audit_log):
    search = search_with(sketch, gallery, investigator, shortlist_size=3)

    events = {event.action: event for event in audit_log.new()}
    requested = events[Action.LEAD_SEARCH_REQUESTED]
    assert requested.username == "investigator" and requested.case_id == sketch.case_id
    assert requested.details["reason"] == "Robbery series, 3 similar MOs"
    assert requested.details["gallery"] == gallery.pk and requested.details["shortlist_size"] == 3
    assert events[Action.LEAD_SEARCH_DONE].details["results"] == 3
    assert (requested.object_type, requested.object_id) == ("leadsearch", str(search.pk))


def test_a_search_needs_a_reason_on_one_line_and_a_shortlist_of_at_most_100(sketch, gallery, investigator):
    for reason, size in (("", 20), ("two\nlines", 20), ("ok", 101), ("ok", 0)):
        with pytest.raises(ValidationError):
            services.request_search(sketch, gallery.pk, user=investigator, reason=reason, shortlist_size=size)
    assert not LeadSearch.objects.exists()


def test_a_member_not_granted_the_gallery_cannot_search_it_nor_learn_it_exists(
    client, sketch, gallery, artist, audit_log
):
    with pytest.raises(Http404):
        services.request_search(sketch, gallery.pk, user=artist, reason="Curious")
    client.force_login(artist)
    audit_log.mark()

    answer = client.post(
        reverse("search_request", args=[sketch.case_id, sketch.pk]),
        {"gallery": gallery.pk, "reason": "x", "shortlist_size": 5},
    )

    assert answer.status_code == 404
    assert not LeadSearch.objects.exists()
    denied = [e for e in audit_log.new() if e.action == Action.ACCESS_DENIED]
    assert [(e.object_type, e.object_id) for e in denied] == [("gallery", str(gallery.pk))]
    page = client.get(reverse("sketch_detail", args=[sketch.case_id, sketch.pk])).content.decode()
    assert gallery.name not in page


def test_the_shortlist_page_shows_the_caveat_and_thumbnails_only_to_those_granted(
    client, sketch, gallery, investigator, artist, audit_log
):
    search = search_with(sketch, gallery, investigator, shortlist_size=2)
    client.force_login(investigator)
    audit_log.mark()

    page = client.get(reverse("search_detail", args=[sketch.case_id, search.pk]))

    assert page.status_code == 200
    assert "not identifications" in page.content.decode()
    [viewed] = [e for e in audit_log.new() if e.action == Action.EVIDENCE_VIEWED]
    # the page shows what was searched with (the sketch's face) and the shortlist: one event lists both
    assert [item["type"] for item in viewed.details["items"]] == ["witnesssketch", "galleryphoto", "galleryphoto"]
    assert f"Face crop of witness sketch {sketch.pk}" in page.content.decode()
    assert client.get(reverse("lead_thumbnail", args=[sketch.case_id, search.pk, 1])).status_code == 200
    client.force_login(artist)  # a member of the case, not granted the gallery
    assert client.get(reverse("search_detail", args=[sketch.case_id, search.pk])).status_code == 404
    assert client.get(reverse("lead_thumbnail", args=[sketch.case_id, search.pk, 1])).status_code == 404


def test_a_lead_goes_onto_the_case_as_a_candidate_photo_or_is_dismissed_with_a_note(
    sketch, gallery, investigator, audit_log
):
    search = search_with(sketch, gallery, investigator, shortlist_size=2)
    first, second = search.results.order_by("rank")

    candidate = services.add_lead(first, user=investigator)
    services.dismiss_lead(second, user=investigator, note="Was in custody on the day")

    assert candidate.case == sketch.case and candidate.sha256 == first.photo.sha256
    assert "Known offenders" in candidate.label and f"search {search.pk}" in candidate.label
    assert CandidatePhoto.objects.get(pk=candidate.pk).face_found is not None  # derived like any candidate
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.decision, first.candidate) == (LeadResult.Decision.ADDED, candidate)
    assert (second.decision, second.note) == (LeadResult.Decision.DISMISSED, "Was in custody on the day")
    actions = [e.action for e in audit_log.new()]
    assert Action.CANDIDATE_ADDED in actions and Action.LEAD_ADDED in actions and Action.LEAD_DISMISSED in actions
    with pytest.raises(ValidationError):
        services.dismiss_lead(first, user=investigator, note="Changed my mind")


def test_a_removed_photo_is_left_out_of_new_searches_but_old_results_keep_it(sketch, gallery, investigator, admin):
    before = search_with(sketch, gallery, investigator, shortlist_size=1)
    top = before.results.get().photo

    services.remove_photo(top, user=admin, reason="Conviction quashed")
    after = search_with(sketch, gallery, investigator, shortlist_size=10)

    assert top.pk not in after.results.values_list("photo", flat=True)
    assert after.gallery_size == len(COLOURS) - 1
    assert before.results.get().photo == top


def test_a_photo_added_later_is_found_by_the_next_search(sketch, gallery, investigator, admin):
    search_with(sketch, gallery, investigator)  # loads the index
    imports.import_photos(
        gallery, [imports.Incoming("K-new.png", lambda: png_bytes(color="black"))], user=admin, source="browser"
    )
    new = GalleryPhoto.objects.get(reference="K-new")
    GalleryPhoto.objects.filter(pk=new.pk).update(face_found=True, face_descriptor=descriptor(3))

    again = search_with(sketch, gallery, investigator, shortlist_size=1)

    assert again.results.get().photo == new or again.results.get().photo.reference == "K-3"
    assert again.gallery_size == len(COLOURS) + 1


def test_the_api_starts_a_search_and_reads_its_shortlist(client, sketch, gallery, investigator):
    client.force_login(investigator)

    started = client.post(
        f"/api/v1/cases/{sketch.case_id}/sketches/{sketch.pk}/searches/",
        {"gallery": gallery.pk, "reason": "API check", "shortlist_size": 2},
        content_type="application/json",
    )

    assert started.status_code == 202, started.content
    read = client.get(f"/api/v1/cases/{sketch.case_id}/searches/{started.json()['id']}/").json()
    assert read["status"] == "done" and len(read["results"]) == 2 and "not identifications" in read["caveat"]
    assert client.get(f"/api/v1/galleries/{gallery.pk}/").json() == {
        "id": gallery.pk,
        "name": gallery.name,
        "description": "",
        "size": len(COLOURS),
    }
    assert client.get(f"/api/v1/galleries/{gallery.pk}/photos/").status_code == 403
    assert "/api/v1/galleries/" in client.get("/api/schema/").content.decode()


HOSTILE = ["\x00", "a\x00b", "-1", "9" * 40, "1e309", "NaN", "x" * 5000, "\r\nSet-Cookie: a=b", " ", ""]


def test_hostile_values_get_a_clear_answer_never_a_server_error(client, sketch, gallery, investigator, admin):
    search = search_with(sketch, gallery, investigator, shortlist_size=2)
    photo = GalleryPhoto.objects.first()
    posts = {
        admin: [reverse("gallery_list"), reverse("gallery_grant", args=[gallery.pk])],
        investigator: [
            reverse("search_request", args=[sketch.case_id, sketch.pk]),
            reverse("lead_dismiss", args=[sketch.case_id, search.pk, 2]),
        ],
    }
    posts[admin].append(reverse("gallery_photo_remove", args=[gallery.pk, photo.pk]))
    names = ["name", "description", "source", "legal_basis", "username", "reason", "gallery", "shortlist_size", "note"]
    for user, paths in posts.items():
        client.force_login(user)
        for path in paths:
            for value in HOSTILE:
                answer = client.post(path, dict.fromkeys(names, value))
                assert answer.status_code < 500, (path, value)
        for value in HOSTILE:
            api = f"/api/v1/cases/{sketch.case_id}/sketches/{sketch.pk}/searches/"
            fields = dict.fromkeys(names, value)
            assert client.post(api, fields, content_type="application/json").status_code < 500, value
            assert client.get(reverse("gallery_list"), {"page": value}).status_code < 500
    assert LeadSearch.objects.count() == 1
