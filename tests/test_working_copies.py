"""Each evidence image is looked at once, by a worker, after it is stored: a small working copy,
a thumbnail, the face box, the aligned face crop and its descriptor. Pages show, crop and compare
from these, so no request decodes an original or runs a network."""

import io

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image

from audit.models import AuditEvent
from cases import derived, services, tasks, uploads
from cases.models import CandidatePhoto, WitnessSketch

from .web import face_png


def stored_image(name: str) -> Image.Image:
    with default_storage.open(name) as stored:
        return Image.open(io.BytesIO(stored.read()))


def test_a_large_sketch_gets_a_small_working_copy_and_its_face_box_at_upload(case, artist, audit_log):
    audit_log.mark()
    sketch = services.add_sketch(case, io.BytesIO(face_png(1, 1600)), user=artist, filename="scan.png")
    assert sketch.width == sketch.height == 1600
    working = stored_image(sketch.working_copy.name)
    assert working.size == (derived.WORKING_SIDE, derived.WORKING_SIDE)
    assert sketch.working_copy.name == f"derived/{sketch.working_copy_sha256}.png"
    assert sketch.face_found is True
    left, top, right, bottom = sketch.face_box  # in the original's pixels, around the drawn face
    assert 200 < left < right < 1500 and 300 < top < bottom < 1500 and right - left > 600
    assert stored_image(sketch.face_crop.name).size == (derived.CROP_SIZE, derived.CROP_SIZE)
    assert max(stored_image(sketch.thumbnail.name).size) == derived.THUMBNAIL_SIDE
    assert len(sketch.face_descriptor) == 128


def test_a_picture_without_a_face_is_stored_with_no_face_box(case, artist):
    blank = io.BytesIO()
    Image.new("RGB", (300, 200), "#8899aa").save(blank, format="PNG")
    sketch = services.add_sketch(case, io.BytesIO(blank.getvalue()), user=artist, filename="gradient.png")
    assert sketch.face_found is False and sketch.face_box is None
    assert stored_image(sketch.working_copy.name).size == (300, 200)  # never enlarged


def test_pages_crop_from_the_working_copy_without_decoding_the_original(
    client, case, artist, investigator, monkeypatch
):
    sketch = services.add_sketch(case, io.BytesIO(face_png(1, 1600)), user=artist, filename="scan.png")
    photo = services.add_candidate_photo(
        case, io.BytesIO(face_png(3, 1600)), user=investigator, label="Custody record 7"
    )

    def decoded(*args, **kwargs):
        raise AssertionError("a page decoded an original or ran a network")

    monkeypatch.setattr(uploads, "processing_image", decoded)
    monkeypatch.setattr(derived, "derive", decoded)
    client.force_login(artist)
    assert client.get(reverse("sketch_detail", args=[case.pk, sketch.pk])).status_code == 200
    crop = client.get(reverse("sketch_crop", args=[case.pk, sketch.pk]), {"box": "200,300,1300,1400"})
    assert crop.status_code == 200 and Image.open(io.BytesIO(crop.content)).size == (192, 192)
    exact = client.get(reverse("sketch_crop", args=[case.pk, sketch.pk]))
    assert exact.content == default_storage.open(sketch.face_crop.name).read()
    photo_crop = client.get(reverse("candidate_image", args=[case.pk, photo.pk]), {"crop": "1"})
    assert photo_crop.status_code == 200


def test_upload_answers_before_the_face_is_found_and_the_page_says_so(client, case, artist, settings):
    from forensics import celery_app

    was = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False  # a broker: the job waits for a worker
    try:
        with io.BytesIO(face_png(1)) as data:
            data.name = "sketch.png"
            client.force_login(artist)
            response = client.post(reverse("sketch_upload", args=[case.pk]), {"image": data, "style": "color"})
        sketch = WitnessSketch.objects.get()
        assert response.status_code == 302 and sketch.face_found is None
        page = client.get(reverse("sketch_detail", args=[case.pk, sketch.pk])).content.decode()
        assert "Finding the face…" in page and "data-polling" in page
        status = client.get(reverse("composites_status", args=[case.pk, sketch.pk])).json()
        assert status["face"] == {"looking": True, "found": False}
    finally:
        celery_app.conf.task_always_eager = was
    tasks.derive.apply(args=("witnesssketch", sketch.pk))  # the worker's turn
    status = client.get(reverse("composites_status", args=[case.pk, sketch.pk])).json()
    sketch.refresh_from_db()
    assert (status["face"]["looking"], status["face"]["found"]) == (False, True)
    # what the page draws in place of "Finding the face…" (tests/test_browser_face_box.py)
    assert status["face"]["box"] == sketch.face_box and "found the face" in status["face"]["help"]


def test_an_image_stored_before_working_copies_gets_one_on_first_view_only(client, case, artist, monkeypatch):
    sketch = services.add_sketch(case, io.BytesIO(face_png(1)), user=artist, filename="old.png")
    WitnessSketch.objects.filter(pk=sketch.pk).update(
        working_copy="", working_copy_sha256="", face_box=None, face_found=None
    )
    looks = []
    derive = derived.derive
    monkeypatch.setattr(derived, "derive", lambda data: looks.append(1) or derive(data))
    client.force_login(artist)
    for _ in range(2):
        assert client.get(reverse("sketch_detail", args=[case.pk, sketch.pk])).status_code == 200
    assert looks == [1]
    sketch.refresh_from_db()
    assert sketch.face_found is True and sketch.working_copy_sha256


def test_an_altered_working_copy_is_not_used(client, case, artist):
    sketch = services.add_sketch(case, io.BytesIO(face_png(5)), user=artist, filename="s.png")
    with default_storage.open(sketch.working_copy.name, "wb") as stored:
        stored.write(face_png(6))
    client.force_login(artist)
    response = client.get(reverse("sketch_crop", args=[case.pk, sketch.pk]), {"box": "8,8,100,100"})
    assert response.status_code == 409
    assert AuditEvent.objects.filter(
        action="integrity_failed", details__expected_sha256=sketch.working_copy_sha256
    ).exists()


@pytest.mark.django_db
def test_a_failed_upload_leaves_no_working_copy_behind(case, investigator, monkeypatch):
    def broken_save(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(CandidatePhoto, "save", broken_save)
    with pytest.raises(RuntimeError):
        services.add_candidate_photo(case, io.BytesIO(face_png(8)), user=investigator, label="Record 1")
    _, files = default_storage.listdir("derived") if default_storage.exists("derived") else ([], [])
    assert files == []
