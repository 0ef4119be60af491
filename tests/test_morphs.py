"""Multi-witness morphs: the average of finished composites of one style, with the
provenance of every source, the rules of a request, who may ask, and release."""

import hashlib
import io
import json
import zipfile

import numpy as np
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.urls import reverse
from PIL import Image

from audit.models import AuditEvent
from cases import composite_png, morphs, services
from cases.models import Case, CaseMembership, Composite, Morph

from .factories import CaseFactory, MembershipFactory
from .inversion_fixtures import generated_face
from .state import nothing_changes
from .web import add_sketch, finish

Action = AuditEvent.Action


@pytest.fixture
def sketches(case, artist):
    """Two witnesses' sketches of one person, and a revision of the first."""
    first = add_sketch(case, artist, seed=1, witness_reference="W1")
    second = add_sketch(case, artist, seed=2, witness_reference="W2")
    revision = add_sketch(case, artist, seed=3, revises=first)
    return [first, second, revision]


def located_composite(sketch, user, style: str = "color", seed: int = 7):
    """A finished composite of ``sketch`` drawn from generated face ``seed``, its face box confirmed."""
    box = {"box": [0, 0, sketch.width, sketch.height]}
    return finish(services.request_composite(sketch, style, user=user, parameters=box)[0], seed=seed)


@pytest.fixture
def composites(sketches, artist):
    """A finished colour composite of each sketch, each a different face."""
    return [located_composite(sketch, artist, seed=7 + i) for i, sketch in enumerate(sketches)]


def stored_bytes(name: str) -> bytes:
    with default_storage.open(name, "rb") as stored:
        return stored.read()


def test_a_morph_lists_every_source_with_its_hash_and_its_file_rehashes(case, composites, investigator, audit_log):
    morph, created = morphs.request_morph(case, [c.pk for c in composites[:2]], user=investigator)

    assert created and morph.status == Morph.Status.DONE, morph.error_message
    data = stored_bytes(morph.image.name)
    assert hashlib.sha256(data).hexdigest() == morph.output_sha256
    assert morph.image.name == f"morphs/{morph.output_sha256}.png"
    expected = [
        {"composite": c.pk, "sha256": c.output_sha256, "sketch": c.sketch_id, "sketch_sha256": c.sketch.sha256}
        for c in composites[:2]
    ]
    sources = morph.provenance["sources"]
    assert [{key: source[key] for key in expected[0]} for source in sources] == expected
    assert "Bruce" in morph.provenance["method"]["reference"] and morph.provenance["code_version"]
    text = composite_png.read_text(data)
    assert text["Label"].endswith("MORPH OF 2") and text["Label"].startswith("GENERATED COMPOSITE")
    assert [source["sha256"] for source in json.loads(text["sources"])] == [c.output_sha256 for c in composites[:2]]
    assert "W1" not in json.dumps(text)  # no witness data travels with the file
    assert len(morph.face_descriptor) == 128
    actions = [event.action for event in audit_log.new()]
    assert actions == [Action.MORPH_REQUESTED, Action.MORPH_DONE]
    requested = audit_log.new()[0]
    assert requested.details["sources"] == expected and requested.user == investigator


def test_the_morph_shows_the_label_band_under_the_average_of_the_faces(case, composites, lead):
    morph, _ = morphs.request_morph(case, [c.pk for c in composites], user=lead)

    with Image.open(io.BytesIO(stored_bytes(morph.image.name))) as image:
        pixels = np.asarray(image.convert("RGB"))
    side = pixels.shape[1]
    band = pixels[side:]
    assert pixels.shape[0] > side and band.mean() < 60 and band.max() > 200  # white text on black
    assert morph.provenance["label"].endswith("MORPH OF 3")
    faces = [morphs.face_of(stored_bytes(c.image.name), side).astype(float) for c in composites]
    # These drawings share one layout, so their landmarks agree and the morph is close to their plain mean.
    assert np.abs(pixels[:side] - np.mean(faces, axis=0)).mean() < 4
    assert min(np.abs(pixels[:side] - face).mean() for face in faces) > 10


def test_faces_are_aligned_on_their_landmarks_before_averaging():
    face = generated_face(5, 128)
    shifted = np.roll(face, (6, -10), axis=(0, 1))  # 6 pixels lower, 10 to the left
    points = morphs.ALIGNED_LANDMARKS * 128

    morph, mean = morphs.average_faces([face, shifted], [points, points + np.array([-10, 6])])

    assert np.allclose(mean, points + np.array([-5, 3]))  # the shape: half way between
    between = np.roll(face, (3, -5), axis=(0, 1))  # the face drawn at the mean landmarks
    inside = (slice(16, 112), slice(16, 112))
    unaligned = (face.astype(float) + shifted) / 2
    assert np.abs(np.asarray(morph, float)[inside] - between[inside]).mean() < 1
    assert np.abs(unaligned[inside] - between[inside]).mean() > 5


def composites_of(case, user, count: int, style: str = "color"):
    """``count`` finished composites of one sketch, each with a face box of its own."""
    sketch = add_sketch(case, user, seed=11)
    return [
        finish(services.request_composite(sketch, style, user=user, parameters={"box": [0, 0, 128 - i, 128]})[0])
        for i in range(count)
    ]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("one", "A morph averages 2 to 6 composites; 1 chosen."),
        ("seven", "A morph averages 2 to 6 composites; 7 chosen."),
        ("mixed styles", "A morph averages composites of one style; these are colour and line."),
        ("other case", "Not composites of case 2026-CID-0042: "),
        ("unfinished", "Only finished composites can be morphed; these are not: "),
        ("no located face", "Composites made without a face the aligner found or a person confirmed cannot be morphed"),
    ],
)
def test_a_request_breaking_a_rule_is_refused_and_creates_nothing(case, composites, artist, lead, setup, message):
    chosen = [c.pk for c in composites[:2]]
    if setup == "one":
        chosen = chosen[:1]
    elif setup == "seven":
        chosen = [c.pk for c in composites_of(case, artist, 7)]
    elif setup == "mixed styles":
        chosen = [composites[0].pk, located_composite(composites[1].sketch, artist, style="line").pk]
    elif setup == "other case":
        other = CaseFactory(created_by=lead)
        MembershipFactory(case=other, user=artist, role=CaseMembership.Role.CASE_LEAD)
        chosen.append(located_composite(add_sketch(other, artist, seed=4), artist, seed=12).pk)
    elif setup == "unfinished":
        chosen.append(services.request_composite(composites[2].sketch, "line", user=artist)[0].pk)
        Composite.objects.filter(pk=chosen[-1]).update(status=Composite.Status.RUNNING)
    elif setup == "no located face":  # made from the centre of an image, nobody located the face
        Composite.objects.filter(pk=chosen[1]).update(parameters={"pipeline": {"face": {"found": False}}})

    with nothing_changes(), pytest.raises(ValidationError) as refused:
        morphs.request_morph(case, chosen, user=lead)

    assert message in " ".join(refused.value.messages)


def test_an_identical_request_returns_the_morph_already_there(case, composites, investigator):
    first, created = morphs.request_morph(case, [composites[1].pk, composites[0].pk], user=investigator)
    again, created_again = morphs.request_morph(case, [composites[0].pk, composites[1].pk], user=investigator)

    assert created and not created_again and again == first
    assert Morph.objects.count() == 1


@pytest.mark.parametrize("role", ["artist", "outsider"])
def test_artists_and_outsiders_may_not_make_morphs(client, case, composites, role, request, audit_log):
    user = request.getfixturevalue(role)
    client.force_login(user)
    audit_log.mark()

    with nothing_changes():
        response = client.post(reverse("morph_request", args=[case.pk]), {"composite": [c.pk for c in composites]})
        with pytest.raises(PermissionDenied):
            morphs.request_morph(case, [c.pk for c in composites], user=user)

    assert response.status_code == (403 if role == "artist" else 404)  # the case is hidden from outsiders
    assert [event.action for event in audit_log.new()] == [Action.ACCESS_DENIED, Action.ACCESS_DENIED]


def test_a_closed_case_takes_no_new_morph(case, composites, lead):
    services.set_case_status(case, Case.Status.CLOSED, user=lead)

    with pytest.raises(PermissionDenied):
        morphs.request_morph(case, [c.pk for c in composites], user=lead)


def test_an_investigator_makes_a_morph_from_the_compare_page(client, case, composites, investigator):
    client.force_login(investigator)
    compare = client.get(reverse("compare", args=[case.pk]), {"composite": [c.pk for c in composites]})
    assert "Make a morph" in compare.content.decode()
    assert reverse("morph_request", args=[case.pk]) in compare.content.decode()

    response = client.post(reverse("morph_request", args=[case.pk]), {"composite": [c.pk for c in composites]})

    morph = Morph.objects.get()
    assert response.status_code == 302 and response.url == reverse("morph_detail", args=[case.pk, morph.pk])
    page = client.get(response.url).content.decode()
    assert reverse("morph_image", args=[case.pk, morph.pk]) in page
    for composite in composites:
        assert composite.output_sha256 in page and composite.sketch.sha256 in page
    image = client.get(reverse("morph_image", args=[case.pk, morph.pk]))
    assert hashlib.sha256(b"".join(image.streaming_content)).hexdigest() == morph.output_sha256
    status = client.get(reverse("morph_status", args=[case.pk, morph.pk])).json()
    assert status["outstanding"] == 0 and status["composites"][0]["status"] == "done"
    assert f"morph {morph.pk}" in client.get(reverse("case_detail", args=[case.pk])).content.decode()


def test_a_refused_request_goes_back_to_the_comparison_with_the_reason(client, case, composites, investigator):
    client.force_login(investigator)

    response = client.post(reverse("morph_request", args=[case.pk]), {"composite": [composites[0].pk]}, follow=True)

    assert "No morph was made. A morph averages 2 to 6 composites; 1 chosen." in response.content.decode()
    assert not Morph.objects.exists()


def test_artists_see_no_morph_form_on_the_compare_page(client, case, composites, artist):
    client.force_login(artist)
    page = client.get(reverse("compare", args=[case.pk]), {"composite": [c.pk for c in composites]})
    assert "Make a morph" not in page.content.decode()


def test_a_morph_is_compared_with_a_candidate_by_its_stored_descriptor(client, case, composites, investigator):
    morph, _ = morphs.request_morph(case, [c.pk for c in composites[:2]], user=investigator)
    from .test_views_compare import photo_upload

    photo = services.add_candidate_photo(case, photo_upload(), user=investigator, label="Custody 12")
    client.force_login(investigator)

    page = client.get(reverse("compare", args=[case.pk]), {"morph": morph.pk, "candidate": photo.pk})

    content = page.content.decode()
    assert reverse("morph_image", args=[case.pk, morph.pk]) in content
    assert f"morph {morph.pk}: Distance " in content or f"morph {morph.pk}: No face was found" in content
    event = AuditEvent.objects.filter(action=Action.COMPARISON_VIEWED).last()
    assert event.details["morphs"] == [morph.pk]
    assert {"type": "morph", "id": morph.pk, "sha256": morph.output_sha256} in event.details["items"]


def test_release_needs_a_reason_and_confirmation_and_is_audited(client, case, composites, investigator, audit_log):
    morph, _ = morphs.request_morph(case, [c.pk for c in composites[:2]], user=investigator)
    client.force_login(investigator)
    url = reverse("morph_release", args=[case.pk, morph.pk])

    refused = client.post(url, {"reason": "   "})
    assert refused.status_code == 400
    assert "Give a reason for releasing this morph." in refused.content.decode()
    assert "Tick the box to confirm" in refused.content.decode()
    audit_log.mark()

    released = client.post(url, {"reason": "Press appeal approved by DI Shaw", "confirm": "on"})

    morph.refresh_from_db()
    assert released.status_code == 302 and morph.released and morph.released_by == investigator
    assert [(e.action, e.details["reason"]) for e in audit_log.new()] == [
        (Action.MORPH_RELEASED, "Press appeal approved by DI Shaw")
    ]


def test_only_a_finished_morph_can_be_released(case, composites, investigator, artist):
    morph, _ = morphs.request_morph(case, [c.pk for c in composites[:2]], user=investigator)
    Morph.objects.filter(pk=morph.pk).update(status=Morph.Status.FAILED)

    with pytest.raises(ValidationError, match="Only a finished morph"):
        morphs.release_morph(morph, user=investigator, reason="Appeal")
    with pytest.raises(PermissionDenied):
        morphs.release_morph(morph, user=artist, reason="Appeal")
    with pytest.raises(IntegrityError), transaction.atomic():
        Morph.objects.filter(pk=morph.pk).update(released=True)


def test_a_source_altered_in_storage_fails_the_morph_and_is_audited(case, composites, investigator):
    altered = composites[1]
    with default_storage.open(altered.image.name, "wb") as stored:
        stored.write(b"not the composite")

    morph, _ = morphs.request_morph(case, [c.pk for c in composites[:2]], user=investigator)

    assert morph.status == Morph.Status.FAILED and not morph.output_sha256
    assert f"Composite {altered.pk}'s stored file no longer matches its recorded SHA-256" in morph.error_message
    actions = list(AuditEvent.objects.values_list("action", flat=True).order_by("sequence"))[-3:]
    assert actions == [Action.MORPH_REQUESTED, Action.INTEGRITY_FAILED, Action.MORPH_FAILED]
    assert not default_storage.exists("morphs") or default_storage.listdir("morphs")[1] == []


def test_the_job_run_twice_finishes_the_morph_once(case, composites, investigator):
    morph, _ = morphs.request_morph(case, [c.pk for c in composites[:2]], user=investigator)

    morphs.make_morph.apply(args=(morph.pk,))

    assert AuditEvent.objects.filter(action=Action.MORPH_DONE).count() == 1
    assert Morph.objects.get(pk=morph.pk).output_sha256 == morph.output_sha256


def test_a_waiting_morph_shows_its_progress_and_is_polled(client, case, composites, investigator):
    morph = Morph.objects.create(case=case, style="color", requested_by=investigator)
    morph.sources.set(composites[:2])
    client.force_login(investigator)

    page = client.get(reverse("morph_detail", args=[case.pk, morph.pk])).content.decode()
    status = client.get(reverse("morph_status", args=[case.pk, morph.pk])).json()

    assert "Waiting for a worker" in page and '<progress id="progress-morph-' in page
    assert f'data-poll="{reverse("morph_status", args=[case.pk, morph.pk])}" data-polling' in page
    assert status["outstanding"] == 1 and status["composites"][0]["status"] == "requested"
    assert "Release" not in status["composites"][0]["html"]
    assert client.get(reverse("morph_image", args=[case.pk, morph.pk])).status_code == 404


def test_a_morph_goes_into_the_case_bundle_with_its_sources(client, case, composites, investigator):
    morph, _ = morphs.request_morph(case, [c.pk for c in composites[:2]], user=investigator)
    client.force_login(investigator)
    response = client.get(reverse("case_export", args=[case.pk]))
    bundle = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    manifest = json.loads(bundle.read("manifest.json"))
    (entry,) = [item for item in manifest["files"] if item["kind"] == "morph"]
    assert entry["sha256"] == morph.output_sha256
    assert hashlib.sha256(bundle.read(entry["path"])).hexdigest() == morph.output_sha256
    (listed,) = json.loads(bundle.read("provenance.json"))["morphs"]
    assert listed["file"] == entry["path"]
    assert [source["sha256"] for source in listed["sources"]] == [c.output_sha256 for c in composites[:2]]
