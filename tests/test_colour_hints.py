"""Colour hints: a painted copy of a sketch is stored as its colour revision, the
original is never changed, and a colour composite of the revision is requested
with the original's face box (cases/views/hints.py)."""

import hashlib
import io
import re

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image, ImageChops, ImageDraw

from audit.models import AuditEvent
from cases import composite_png, services
from cases.models import Case, Composite, WitnessSketch
from cases.uploads import UploadRejected, validate_upload
from cases.views.hints import BRUSHES

from . import state
from .test_page_fuzz import VALUES
from .web import add_sketch, face_png

Action = AuditEvent.Action
#: Where the tests say the aligner found the face in the original, in its pixels.
BOX = [20, 16, 108, 116]


@pytest.fixture
def sketch(case, artist):
    sketch = add_sketch(case, artist, style="line", witness_reference="W-07 (bus driver)")
    WitnessSketch.objects.filter(pk=sketch.pk).update(face_found=True, face_box=BOX)
    sketch.refresh_from_db()
    return sketch


def painted(seed: int = 1, colour=(150, 60, 30)) -> bytes:
    """The sketch with a hint multiplied over its top, as the page paints it: same size, a PNG."""
    image = Image.open(io.BytesIO(face_png(seed))).convert("RGB")
    tint = Image.new("RGB", image.size, "white")
    ImageDraw.Draw(tint).ellipse((24, 0, 104, 40), fill=colour)
    buffer = io.BytesIO()
    ImageChops.multiply(image, tint).save(buffer, format="PNG")
    return buffer.getvalue()


def upload(data: bytes, name: str = "colour-hints.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="image/png")


def post_hints(client, sketch, data: bytes | None = None, hints=("hair:#9c3e1c", "skin:#f3d9c8"), **fields):
    body = {"hint": list(hints), **fields}
    if data is not None or "image" not in fields:
        body["image"] = upload(painted() if data is None else data)
    return client.post(reverse("sketch_hints", args=[sketch.case_id, sketch.pk]), body)


def row(sketch: WitnessSketch) -> dict:
    return WitnessSketch.objects.filter(pk=sketch.pk).values().get()


def stored_bytes(sketch: WitnessSketch) -> bytes:
    with default_storage.open(sketch.original.name) as file:
        return file.read()


def test_hints_are_stored_as_a_colour_revision_and_the_original_is_untouched(client, sketch, artist, audit_log):
    before_row, before_bytes = row(sketch), stored_bytes(sketch)
    client.force_login(artist)
    audit_log.mark()

    response = post_hints(client, sketch, note="Witness: reddish hair, pale skin")

    revision = WitnessSketch.objects.get(revises=sketch)
    assert response.status_code == 201
    assert response.json()["url"] == reverse("sketch_detail", args=[sketch.case_id, revision.pk]) + "#composites"
    assert response.json()["sketch"] == revision.pk
    assert row(sketch) == before_row
    assert stored_bytes(sketch) == before_bytes
    assert hashlib.sha256(stored_bytes(sketch)).hexdigest() == sketch.sha256
    assert stored_bytes(revision) == painted()
    assert revision.sha256 == hashlib.sha256(painted()).hexdigest() != sketch.sha256
    assert revision.style == "color" and revision.revises == sketch
    assert revision.witness_reference == "W-07 (bus driver)"  # carried over
    assert revision.uploaded_by == artist
    assert revision.interview_notes == (
        f"Colour hints added to sketch {sketch.pk}: hair #9c3e1c, skin #f3d9c8.\nWitness: reddish hair, pale skin"
    )
    assert revision.original_filename == f"sketch-{sketch.pk}-colour-hints.png"


def test_a_colour_composite_of_the_revision_is_requested_with_the_originals_face_box(client, sketch, artist, audit_log):
    client.force_login(artist)
    audit_log.mark()

    response = post_hints(client, sketch)

    revision = WitnessSketch.objects.get(revises=sketch)
    composite = Composite.objects.get(sketch=revision)
    assert response.json()["composite"] == composite.pk
    assert composite.style == "color" and composite.requested_by == artist
    assert composite.request_parameters == {"box": BOX}
    assert not sketch.composites.exists()  # the original gets nothing new
    events = [(event.action, event.object_id) for event in audit_log.new()]
    assert events == [
        (Action.SKETCH_UPLOADED, str(revision.pk)),
        (Action.COMPOSITE_REQUESTED, str(composite.pk)),
    ]
    uploaded = audit_log.new()[0]
    assert uploaded.details["revises"] == sketch.pk and uploaded.details["style"] == "color"
    assert uploaded.details["sha256"] == revision.sha256
    assert uploaded.user == artist and uploaded.case_id == sketch.case_id


def test_the_revision_renders_with_the_colour_model(
    client, sketch, artist, random_weights, django_capture_on_commit_callbacks
):
    client.force_login(artist)
    with django_capture_on_commit_callbacks(execute=True):
        post_hints(client, sketch)

    revision = WitnessSketch.objects.get(revises=sketch)
    composite = Composite.objects.get(sketch=revision)
    assert composite.status == Composite.Status.DONE, composite.error_message
    assert composite.model_name.startswith("csi-color-")
    text = composite_png.read_text(default_storage.open(composite.image.name).read())
    assert text["style"] == "color" and text["sketch_sha256"] == revision.sha256
    assert composite.parameters["box"] == BOX


def test_the_artist_lands_on_the_revision_with_a_message(client, sketch, artist):
    client.force_login(artist)
    url = post_hints(client, sketch).json()["url"]

    page = client.get(url)

    revision = WitnessSketch.objects.get(revises=sketch)
    assert page.status_code == 200
    assert f"Sketch {revision.pk} holds your colour hints (sketch {sketch.pk} is unchanged)" in page.content.decode()
    assert f'revises <a href="{reverse("sketch_detail", args=[sketch.case_id, sketch.pk])}"' in page.content.decode()


def test_a_painted_copy_of_another_size_leaves_the_face_to_the_worker(client, sketch, artist):
    image = Image.open(io.BytesIO(painted())).resize((100, 120))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    client.force_login(artist)

    post_hints(client, sketch, data=buffer.getvalue())

    revision = WitnessSketch.objects.get(revises=sketch)
    composite = revision.composites.first()
    # The original's box does not fit this copy: none was sent; the revision's own face is used where found.
    assert revision.size != sketch.size and revision.face_found is not None
    if revision.face_found:
        assert composite.request_parameters == {}
    else:
        assert composite is None


def test_when_no_face_was_found_the_worker_looks_in_the_revision(client, sketch, artist):
    WitnessSketch.objects.filter(pk=sketch.pk).update(face_found=False, face_box=None)
    blank = io.BytesIO()
    Image.new("RGB", (128, 128), (240, 230, 220)).save(blank, format="PNG")
    client.force_login(artist)

    response = post_hints(client, sketch, data=blank.getvalue())

    revision = WitnessSketch.objects.get(revises=sketch)
    assert response.status_code == 201 and response.json()["composite"] is None
    assert revision.face_found is False and not revision.composites.exists()
    page = client.get(response.json()["url"]).content.decode()
    assert f"Sketch {revision.pk} holds your colour hints. No colour composite was requested yet" in page
    assert "The aligner found no face in this sketch" in page


@pytest.mark.parametrize(("role", "status"), [("investigator", 403), ("outsider", 404), ("admin", 403)])
def test_only_the_cases_artists_and_lead_may_add_hints(client, sketch, audit_log, role, status, request):
    user = request.getfixturevalue(role)
    client.force_login(user)
    before = state.snapshot()
    audit_log.mark()

    response = post_hints(client, sketch)

    assert response.status_code == status
    assert state.changes(before, state.snapshot()) == []
    assert [(event.action, event.user) for event in audit_log.new()] == [(Action.ACCESS_DENIED, user)]


def test_the_case_lead_may_add_hints(client, sketch, lead):
    client.force_login(lead)
    assert post_hints(client, sketch).status_code == 201


def test_a_closed_case_takes_no_hints(client, sketch, artist, lead):
    services.set_case_status(sketch.case, Case.Status.CLOSED, user=lead)
    client.force_login(artist)
    before = state.snapshot()

    assert post_hints(client, sketch).status_code == 403
    assert state.changes(before, state.snapshot()) == []


def rejection(data: bytes) -> str:
    with pytest.raises(UploadRejected) as refused:
        validate_upload(io.BytesIO(data))
    return refused.value.message


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"<html><body>not a sketch</body></html>", id="html"),
        pytest.param(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", id="pdf"),
        pytest.param(painted()[:200], id="truncated-png"),
    ],
)
def test_a_non_image_is_refused_with_the_validators_message(client, sketch, artist, audit_log, data):
    client.force_login(artist)
    before = state.snapshot()
    audit_log.mark()

    response = post_hints(client, sketch, data=data)

    assert response.status_code == 400
    assert response.json()["message"] == rejection(data)
    assert state.changes(before, state.snapshot()) == []
    events = audit_log.new()
    assert [(event.action, event.outcome) for event in events] == [(Action.UPLOAD_REJECTED, "failed")]
    assert events[0].details["message"] == rejection(data)


def test_an_oversize_upload_is_refused_with_the_validators_message(client, sketch, artist, audit_log, settings):
    settings.UPLOAD_MAX_BYTES = len(painted()) - 1
    client.force_login(artist)
    before = state.snapshot()

    response = post_hints(client, sketch)

    message = response.json()["message"]
    assert response.status_code == 400
    assert message == rejection(painted())
    assert "too large" in message.lower() or "larger" in message.lower() or "MB" in message
    assert state.changes(before, state.snapshot()) == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"hints": []}, "Paint at least one colour hint"),
        ({"hints": ["nose:#000000"]}, "Unknown brush"),
        ({"hints": ["hair:red"]}, "must be written #rrggbb"),
        ({"hints": ["hair:#12345g"]}, "must be written #rrggbb"),
        ({"hints": ["hair"]}, "must be written #rrggbb"),
        ({"hints": ["hair:#000000"] * 51}, "At most 50"),
        ({"note": "x" * 501}, "The note is too long"),
        ({"note": "a\x00b"}, "cannot be stored"),
        ({"image": ""}, "The painted sketch did not arrive"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(client, sketch, artist, fields, message):
    client.force_login(artist)
    before = state.snapshot()
    hints = fields.pop("hints", ["hair:#9c3e1c"])

    response = post_hints(client, sketch, hints=hints, **fields)

    assert response.status_code == 400
    assert message in response.json()["message"]
    assert state.changes(before, state.snapshot()) == []


def test_upper_case_and_repeated_hints_are_noted_once_in_brush_order(client, sketch, artist):
    client.force_login(artist)

    post_hints(client, sketch, hints=["skin:#E0B899", "hair:#4a3020", "skin:#e0b899", "hair:#1c1410"])

    notes = WitnessSketch.objects.get(revises=sketch).interview_notes
    assert notes == f"Colour hints added to sketch {sketch.pk}: hair #1c1410, hair #4a3020, skin #e0b899."


def test_hints_on_a_sketch_of_another_case_find_nothing(client, sketch, artist, outsider):
    from .factories import CaseFactory, MembershipFactory

    other = CaseFactory(created_by=outsider)
    MembershipFactory(case=other, user=outsider, role="case_lead")
    foreign = add_sketch(other, outsider, seed=2)
    client.force_login(artist)
    before = state.snapshot()

    response = client.post(
        reverse("sketch_hints", args=[sketch.case_id, foreign.pk]), {"image": upload(painted()), "hint": "hair:#000000"}
    )

    assert response.status_code == 404
    assert state.changes(before, state.snapshot()) == []


@pytest.mark.slow
def test_no_hostile_value_in_the_fields_makes_the_artists_request_fail(client, sketch, artist):
    client.force_login(artist)
    failures = []
    for value in VALUES:
        for fields in (
            {"hint": value, "note": value},
            {"hint": f"hair:{value}"},
            {"hint": "hair:#000000", "note": value},
        ):
            response = client.post(
                reverse("sketch_hints", args=[sketch.case_id, sketch.pk]), {"image": upload(painted()), **fields}
            )
            if response.status_code >= 500:
                failures.append((repr(value[:20]), fields.keys(), response.status_code))
    assert failures == []


def test_the_sketch_page_offers_hints_to_those_who_may_add_them(client, sketch, artist, investigator):
    url = reverse("sketch_detail", args=[sketch.case_id, sketch.pk])
    client.force_login(artist)
    page = client.get(url).content.decode()

    assert "Colour hints" in page and "data-hints " in page
    assert reverse("sketch_hints", args=[sketch.case_id, sketch.pk]) in page
    assert f'data-image-url="{reverse("sketch_image", args=[sketch.case_id, sketch.pk])}"' in page
    # Every brush the page offers is one the server takes, each with a default colour it accepts.
    offered = re.findall(r'name="brush" value="(\w+)" data-colour="(#[0-9a-f]{6})"', page)
    assert [brush for brush, _ in offered] == list(BRUSHES)
    assert 'for="hint-colour"' in page and 'for="hint-size"' in page and 'for="hint-strength"' in page

    client.force_login(investigator)
    assert "data-hints" not in client.get(url).content.decode()
