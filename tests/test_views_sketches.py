"""Uploading sketches, the face crop, composite requests and their live status."""

import io

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from audit.models import AuditEvent
from cases.models import Composite, WitnessSketch

from .factories import png_bytes
from .web import add_sketch, face_png, finish

Action = AuditEvent.Action


def upload(name: str = "sketch.png", data: bytes | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data if data is not None else face_png(), content_type="image/png")


@pytest.fixture
def sketch(case, artist):
    return add_sketch(case, artist)


def test_upload_page_for_artists_only(client, case, artist, investigator, outsider):
    url = reverse("sketch_upload", args=[case.pk])
    client.force_login(artist)
    response = client.get(url)
    assert response.status_code == 200
    assert b'name="image"' in response.content and b"Drawing style" in response.content
    client.force_login(investigator)
    assert client.get(url).status_code == 403
    client.force_login(outsider)
    assert client.get(url).status_code == 404


def test_upload_stores_the_sketch_and_suggests_its_style(client, case, artist, audit_log):
    client.force_login(artist)
    audit_log.mark()
    response = client.post(
        reverse("sketch_upload", args=[case.pk]),
        {"image": upload(), "style": "", "witness_reference": "W1", "interview_notes": "Tall, beard"},
    )
    sketch = WitnessSketch.objects.get(case=case)
    assert response.status_code == 302 and response.url == reverse("sketch_detail", args=[case.pk, sketch.pk])
    assert sketch.style == "color"  # the generated face is in colour
    assert sketch.witness_reference == "W1" and sketch.interview_notes == "Tall, beard"
    assert [e.action for e in audit_log.new()] == [Action.SKETCH_UPLOADED]


def test_a_chosen_style_is_kept(client, case, artist):
    client.force_login(artist)
    client.post(reverse("sketch_upload", args=[case.pk]), {"image": upload(), "style": "line"})
    assert WitnessSketch.objects.get(case=case).style == "line"


def test_a_file_that_is_not_an_image_is_refused_with_its_reason(client, case, artist):
    client.force_login(artist)
    response = client.post(
        reverse("sketch_upload", args=[case.pk]), {"image": upload("notes.png", b"not an image at all"), "style": ""}
    )
    assert response.status_code == 400
    assert b'class="error"' in response.content
    assert not WitnessSketch.objects.exists()
    assert AuditEvent.objects.filter(action=Action.UPLOAD_REJECTED).exists()


def test_a_revision_keeps_the_earlier_sketch(client, case, artist, sketch):
    client.force_login(artist)
    form = client.get(reverse("sketch_upload", args=[case.pk]), {"revises": sketch.pk}).content.decode()
    assert f'<option value="{sketch.pk}" selected>' in form
    client.post(reverse("sketch_upload", args=[case.pk]), {"image": upload(data=face_png(5)), "revises": sketch.pk})
    revision = WitnessSketch.objects.exclude(pk=sketch.pk).get()
    assert revision.revises == sketch
    page = client.get(reverse("sketch_detail", args=[case.pk, sketch.pk])).content.decode()
    assert "revised by" in page and f"sketch {revision.pk}" in page


def test_style_suggestion_endpoint(client, case, artist, investigator):
    url = reverse("sketch_suggest_style", args=[case.pk])
    client.force_login(artist)
    gray = io.BytesIO()
    Image.new("L", (64, 64), 255).save(gray, format="PNG")
    response = client.post(url, {"image": upload(data=face_png())})
    answer = response.json()
    assert (answer["style"], answer["label"]) == ("color", "Colour")
    # what choosing another style would do, said when the artist overrides the suggestion
    assert set(answer["warnings"]) == {"line", "grayscale"}
    assert answer["warnings"]["line"].startswith("This drawing looks like a colour sketch, and you chose line.")
    assert "dark smudges" in answer["warnings"]["line"]
    response = client.post(url, {"image": upload(data=b"GIF89a nonsense")})
    assert response.status_code == 400 and response.json()["message"]
    assert client.post(url, {}).status_code == 400
    client.force_login(investigator)
    assert client.post(url, {"image": upload()}).status_code == 403


@pytest.mark.parametrize("role", ["artist", "investigator", "lead"])
def test_members_see_the_sketch_with_its_face_box(client, case, sketch, role, request):
    client.force_login(request.getfixturevalue(role))
    response = client.get(reverse("sketch_detail", args=[case.pk, sketch.pk]))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Face crop" in content and "data-box" in content
    assert ("Request composites" in content) == (role != "investigator")


def test_outsider_gets_404_for_the_sketch_and_its_files(client, case, sketch, outsider):
    client.force_login(outsider)
    for name in ("sketch_detail", "sketch_image", "sketch_crop", "composites_status"):
        assert client.get(reverse(name, args=[case.pk, sketch.pk])).status_code == 404, name


def test_viewing_is_audited_per_page_and_downloading_per_file(client, case, sketch, investigator, audit_log):
    client.force_login(investigator)
    audit_log.mark()
    page = client.get(reverse("sketch_detail", args=[case.pk, sketch.pk]))
    assert page.status_code == 200
    response = client.get(reverse("sketch_image", args=[case.pk, sketch.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == face_png()
    assert response["Cache-Control"] == "private, max-age=86400, immutable"
    thumbnail = client.get(reverse("sketch_image", args=[case.pk, sketch.pk]), {"thumb": "1"})
    assert thumbnail["Content-Type"] == "image/webp"
    download = client.get(reverse("sketch_image", args=[case.pk, sketch.pk]), {"download": "1"})
    assert download["Content-Disposition"].startswith("attachment")
    assert download["Cache-Control"] == "private, no-store"
    viewed, downloaded = audit_log.new()
    assert (viewed.action, downloaded.action) == (Action.EVIDENCE_VIEWED, Action.EVIDENCE_DOWNLOADED)
    assert viewed.details == {
        "page": "sketch",
        "items": [{"type": "witnesssketch", "id": sketch.pk, "sha256": sketch.sha256}],
    }


def test_an_altered_sketch_is_not_downloaded(client, case, sketch, artist):
    with default_storage.open(sketch.original.name, "wb") as stored:
        stored.write(png_bytes())
    client.force_login(artist)
    response = client.get(reverse("sketch_image", args=[case.pk, sketch.pk]), {"download": "1"})
    assert response.status_code == 409
    assert b"no longer matches" in response.content
    assert AuditEvent.objects.filter(action=Action.INTEGRITY_FAILED).exists()


def test_crop_preview_is_a_square_png_for_the_given_box(client, case, sketch, artist):
    client.force_login(artist)
    response = client.get(reverse("sketch_crop", args=[case.pk, sketch.pk]), {"box": "10,10,100,100"})
    assert response.status_code == 200
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (192, 192)
    # A box outside the sketch is ignored rather than failing.
    assert client.get(reverse("sketch_crop", args=[case.pk, sketch.pk]), {"box": "0,0,9999,9"}).status_code == 200


def test_artist_requests_all_three_styles_with_an_adjusted_box(client, case, sketch, artist, audit_log):
    client.force_login(artist)
    audit_log.mark()
    response = client.post(
        reverse("composites_request", args=[case.pk, sketch.pk]),
        {
            "styles": ["line", "grayscale", "color"],
            "box_left": 8,
            "box_top": 10,
            "box_right": 120,
            "box_bottom": 118,
            "box_adjusted": "True",
        },
    )
    assert response.status_code == 302
    composites = Composite.objects.filter(sketch=sketch)
    assert sorted(c.style for c in composites) == ["color", "grayscale", "line"]
    assert all(c.parameters == {"box": [8, 10, 120, 118]} for c in composites)
    assert [e.action for e in audit_log.new()] == [Action.COMPOSITE_REQUESTED] * 3


def test_an_unadjusted_box_is_left_to_the_aligner(client, case, sketch, artist):
    client.force_login(artist)
    client.post(
        reverse("composites_request", args=[case.pk, sketch.pk]),
        {"styles": ["color"], "box_left": 0, "box_top": 0, "box_right": 128, "box_bottom": 128},
    )
    assert Composite.objects.get(sketch=sketch).parameters == {}


def test_bad_requests_explain_themselves(client, case, sketch, artist):
    client.force_login(artist)
    url = reverse("composites_request", args=[case.pk, sketch.pk])
    response = client.post(url, {})
    assert response.status_code == 400 and b"Choose at least one style" in response.content
    box = {"box_left": 0, "box_top": 0, "box_right": 500, "box_bottom": 100, "box_adjusted": "True"}
    response = client.post(url, {"styles": ["line"], **box})
    assert response.status_code == 400 and b"must lie inside the sketch" in response.content
    assert not Composite.objects.exists()


def test_investigator_may_not_request_composites(client, case, sketch, investigator):
    client.force_login(investigator)
    response = client.post(reverse("composites_request", args=[case.pk, sketch.pk]), {"styles": ["line"]})
    assert response.status_code == 403


def test_status_shows_progress_then_the_result(client, case, sketch, artist):
    client.force_login(artist)
    client.post(reverse("composites_request", args=[case.pk, sketch.pk]), {"styles": ["line"]})
    composite = Composite.objects.get(sketch=sketch)
    page = client.get(reverse("sketch_detail", args=[case.pk, sketch.pk])).content.decode()
    assert "data-polling" in page and "<progress" in page
    status = client.get(reverse("composites_status", args=[case.pk, sketch.pk])).json()
    assert status["outstanding"] == 1
    assert status["composites"][0]["status"] == "requested" and "<progress" in status["composites"][0]["html"]
    finish(composite)
    status = client.get(reverse("composites_status", args=[case.pk, sketch.pk])).json()
    assert status["outstanding"] == 0
    html = status["composites"][0]["html"]
    assert reverse("composite_image", args=[case.pk, composite.pk]) in html
    assert "data-polling" not in client.get(reverse("sketch_detail", args=[case.pk, sketch.pk])).content.decode()
