"""The REST API for sketches, composites and the audit trail."""

import hashlib

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEvent
from cases import services
from cases.models import Composite, WitnessSketch

from .factories import png_bytes
from .state import nothing_changes
from .web import add_sketch, done_composite, face_png

Action = AuditEvent.Action


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def sketch(case, artist):
    return add_sketch(case, artist)


def upload(data: bytes | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile("sketch.png", data if data is not None else face_png(), content_type="image/png")


def test_artist_uploads_a_sketch_and_gets_its_id_and_sha256(api, case, artist, audit_log):
    api.force_authenticate(artist)
    response = api.post(
        reverse("api:sketch_list", args=[case.pk]), {"image": upload(), "witness_reference": "W2"}, format="multipart"
    )
    assert response.status_code == 201
    body = response.json()
    sketch = WitnessSketch.objects.get(pk=body["id"])
    assert body["sha256"] == sketch.sha256 == hashlib.sha256(face_png()).hexdigest()
    assert body["style"] == "color" and body["witness_reference"] == "W2"
    assert [e.action for e in audit_log.new()] == [Action.SKETCH_UPLOADED]


def test_a_rejected_upload_gets_its_reason(api, case, artist):
    api.force_authenticate(artist)
    url = reverse("api:sketch_list", args=[case.pk])
    with nothing_changes():
        response = api.post(url, {"image": upload(b"plain text")}, format="multipart")
        assert response.status_code == 400 and response.json()["message"]
        response = api.post(url, {}, format="multipart")
        assert response.status_code == 400 and response.json()["message"].startswith("image")


@pytest.mark.parametrize(("role", "status"), [("investigator", 403), ("outsider", 404), ("auditor", 404)])
def test_only_artists_and_leads_upload(api, case, role, status, request, audit_log):
    user = request.getfixturevalue(role)
    api.force_authenticate(user)
    audit_log.mark()
    with nothing_changes():
        response = api.post(reverse("api:sketch_list", args=[case.pk]), {"image": upload()}, format="multipart")
    assert response.status_code == status
    assert [(e.action, e.user) for e in audit_log.new()] == [(Action.ACCESS_DENIED, user)]


def test_sketches_are_listed_read_and_downloaded_by_members(api, case, sketch, investigator, outsider, audit_log):
    api.force_authenticate(investigator)
    assert [s["id"] for s in api.get(reverse("api:sketch_list", args=[case.pk])).json()] == [sketch.pk]
    detail = api.get(reverse("api:sketch_detail", args=[case.pk, sketch.pk])).json()
    assert detail["image_url"] == reverse("api:sketch_image", args=[case.pk, sketch.pk])
    audit_log.mark()
    image = api.get(detail["image_url"])
    assert image.status_code == 200 and image.content == face_png()
    assert [e.action for e in audit_log.new()] == [Action.EVIDENCE_DOWNLOADED]
    api.force_authenticate(outsider)
    assert api.get(detail["image_url"]).status_code == 404


def test_an_altered_file_is_refused_with_a_message(api, case, sketch, artist):
    with default_storage.open(sketch.original.name, "wb") as stored:
        stored.write(png_bytes())
    api.force_authenticate(artist)
    response = api.get(reverse("api:sketch_image", args=[case.pk, sketch.pk]))
    assert response.status_code == 409 and "no longer matches" in response.json()["message"]


def test_composite_request_is_accepted_with_its_id_and_status(api, case, sketch, artist, audit_log):
    api.force_authenticate(artist)
    url = reverse("api:composite_request", args=[case.pk, sketch.pk])
    response = api.post(url, {"style": "line", "box": [4, 4, 100, 100]}, format="json")
    assert response.status_code == 202
    body = response.json()
    composite = Composite.objects.get(pk=body["id"])
    assert body["status"] == "requested" and body["image_url"] is None
    assert composite.parameters == {"box": [4, 4, 100, 100]}
    assert [e.action for e in audit_log.new()] == [Action.COMPOSITE_REQUESTED]
    response = api.post(url, {"style": "line", "box": [0, 0, 900, 10]}, format="json")
    assert response.status_code == 400 and "inside the sketch" in response.json()["message"]
    assert api.post(url, {"style": "watercolour"}, format="json").status_code == 400


@pytest.mark.parametrize(("role", "status"), [("investigator", 403), ("outsider", 404)])
def test_only_artists_and_leads_request_composites(api, case, sketch, role, status, request, audit_log):
    user = request.getfixturevalue(role)
    api.force_authenticate(user)
    url = reverse("api:composite_request", args=[case.pk, sketch.pk])
    audit_log.mark()
    with nothing_changes():
        assert api.post(url, {"style": "line"}, format="json").status_code == status
    assert [(e.action, e.user) for e in audit_log.new()] == [(Action.ACCESS_DENIED, user)]


def test_composite_status_provenance_and_image(api, case, sketch, artist, investigator, audit_log):
    composite = done_composite(sketch, artist)
    api.force_authenticate(investigator)
    assert [c["id"] for c in api.get(reverse("api:composite_list", args=[case.pk])).json()["results"]] == [composite.pk]
    body = api.get(reverse("api:composite_detail", args=[case.pk, composite.pk])).json()
    assert body["status"] == "done"
    assert body["provenance"]["sha256"] == composite.output_sha256
    assert body["provenance"]["sketch_sha256"] == sketch.sha256
    image = api.get(body["image_url"])
    assert hashlib.sha256(image.content).hexdigest() == composite.output_sha256


def test_a_pending_composite_has_no_image_yet(api, case, sketch, artist):
    pending, _ = services.request_composite(sketch, "line", user=artist)
    api.force_authenticate(artist)
    response = api.get(reverse("api:composite_image", args=[case.pk, pending.pk]))
    assert response.status_code == 409 and "requested" in response.json()["message"]


def test_investigator_releases_through_the_api(api, case, sketch, artist, investigator, audit_log):
    composite = done_composite(sketch, artist)
    url = reverse("api:composite_release", args=[case.pk, composite.pk])
    api.force_authenticate(artist)
    audit_log.mark()
    with nothing_changes():
        assert api.post(url, {"reason": "Appeal"}, format="json").status_code == 403
    assert [(e.action, e.user) for e in audit_log.new()] == [(Action.ACCESS_DENIED, artist)]
    api.force_authenticate(investigator)
    with nothing_changes():
        assert api.post(url, {"reason": ""}, format="json").status_code == 400
    response = api.post(url, {"reason": "Appeal"}, format="json")
    assert response.status_code == 200 and response.json()["released"] is True


def test_the_trail_is_walked_by_cursor_seeing_each_event_once_while_events_are_appended(api, case, auditor):
    import audit

    for index in range(60):
        audit.record(Action.EVIDENCE_VIEWED, user=auditor, case=case, details={"index": index})
    api.force_authenticate(auditor)
    first = api.get(reverse("api:audit_event_list"), {"action": "evidence_viewed"}).json()
    assert "count" not in first and len(first["results"]) == 50 and first["results"][0]["details"] == {"index": 59}
    for index in range(60, 65):  # appended between the two pages
        audit.record(Action.EVIDENCE_VIEWED, user=auditor, case=case, details={"index": index})
    second = api.get(first["next"]).json()
    assert [event["details"]["index"] for event in second["results"]] == list(range(9, -1, -1))
    assert second["next"] is None and api.get(reverse("api:audit_event_list"), {"cursor": "bad"}).status_code == 404


def test_audit_events_for_auditors_only_and_filterable(api, case, sketch, auditor, investigator, audit_log):
    api.force_authenticate(investigator)
    response = api.get(reverse("api:audit_event_list"))
    assert response.status_code == 403 and response.json()["message"]
    api.force_authenticate(auditor)
    body = api.get(reverse("api:audit_event_list"), {"action": "sketch_uploaded", "case": case.reference}).json()
    assert len(body["results"]) == 1 and body["results"][0]["details"]["sha256"] == sketch.sha256
    assert api.get(reverse("api:audit_event_list"), {"since": "not a date"}).status_code == 400
    assert AuditEvent.objects.filter(action=Action.AUDIT_VIEWED, username="auditor").exists()
