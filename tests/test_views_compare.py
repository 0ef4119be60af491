"""The comparison view, candidate photos, release, downloads and the case export."""

import hashlib
import io
import json
import re
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audit.models import AuditEvent
from cases import candidates, composite_png, provenance, services
from cases.models import CandidatePhoto
from inversion import STYLES
from inversion.cards import model_card

from .web import add_sketch, done_composite, face_png

Action = AuditEvent.Action


@pytest.fixture
def sketch(case, artist):
    return add_sketch(case, artist)


@pytest.fixture
def composite(sketch, artist):
    return done_composite(sketch, artist)


def photo_upload(seed: int = 3) -> SimpleUploadedFile:
    return SimpleUploadedFile("suspect.png", face_png(seed, 256), content_type="image/png")


@pytest.mark.parametrize("role", ["artist", "investigator", "lead"])
def test_members_compare_a_sketch_with_its_composites(client, case, sketch, composite, role, request, audit_log):
    client.force_login(request.getfixturevalue(role))
    audit_log.mark()
    response = client.get(reverse("compare", args=[case.pk]))
    assert response.status_code == 200
    content = response.content.decode()
    assert reverse("sketch_crop", args=[case.pk, sketch.pk]) in content
    assert reverse("composite_image", args=[case.pk, composite.pk]) in content
    assert "data-overlay" in content and 'id="zoom"' in content
    event = audit_log.new()[-1]
    assert event.action == Action.COMPARISON_VIEWED
    assert event.details == {
        "sketch": sketch.pk,
        "composites": [composite.pk],
        "candidate": None,
        "items": [
            {"type": "witnesssketch", "id": sketch.pk, "sha256": sketch.sha256},
            {"type": "composite", "id": composite.pk, "sha256": composite.output_sha256},
        ],
    }


@pytest.mark.parametrize("role", ["outsider", "auditor"])
def test_non_members_get_404_for_the_comparison(client, case, composite, role, request):
    client.force_login(request.getfixturevalue(role))
    assert client.get(reverse("compare", args=[case.pk])).status_code == 404
    assert client.get(reverse("composite_image", args=[case.pk, composite.pk])).status_code == 404


def test_admin_who_is_not_a_member_may_not_compare(client, case, composite, admin):
    client.force_login(admin)
    assert client.get(reverse("compare", args=[case.pk])).status_code == 403


def test_comparison_with_a_candidate_shows_the_caveat(client, case, composite, investigator, audit_log):
    client.force_login(investigator)
    response = client.post(reverse("candidate_add", args=[case.pk]), {"image": photo_upload(), "label": "Custody 12"})
    photo = CandidatePhoto.objects.get(case=case)
    assert response.status_code == 302 and response.url.endswith(f"?candidate={photo.pk}")
    content = client.get(response.url).content.decode()
    assert "A lead, not an identification" in content
    assert reverse("candidate_image", args=[case.pk, photo.pk]) in content
    assert "Custody 12" in content
    assert Action.CANDIDATE_ADDED in [e.action for e in audit_log.new()]


def test_candidate_photos_need_the_role_and_a_source(client, case, artist, investigator):
    client.force_login(artist)
    assert client.get(reverse("candidate_add", args=[case.pk])).status_code == 403
    client.force_login(investigator)
    response = client.post(reverse("candidate_add", args=[case.pk]), {"image": photo_upload(), "label": ""})
    assert response.status_code == 400 and b"This field is required" in response.content
    bad = SimpleUploadedFile("x.png", b"no image", content_type="image/png")
    response = client.post(reverse("candidate_add", args=[case.pk]), {"image": bad, "label": "Custody"})
    assert response.status_code == 400 and b'class="error"' in response.content
    assert not CandidatePhoto.objects.exists()


def test_candidate_image_and_crop_are_served_to_members_only(client, case, investigator, outsider):
    client.force_login(investigator)
    client.post(reverse("candidate_add", args=[case.pk]), {"image": photo_upload(), "label": "Custody 12"})
    photo = CandidatePhoto.objects.get()
    url = reverse("candidate_image", args=[case.pk, photo.pk])
    assert b"".join(client.get(url).streaming_content) == face_png(3, 256)
    crop = client.get(url, {"crop": "1"})
    assert crop["Content-Type"] == "image/png"
    assert b"".join(crop.streaming_content) == default_storage.open(photo.face_crop.name).read()
    client.force_login(outsider)
    assert client.get(url).status_code == 404


def test_investigator_releases_a_composite_with_a_reason(client, case, composite, investigator, audit_log):
    client.force_login(investigator)
    audit_log.mark()
    url = reverse("composite_release", args=[case.pk, composite.pk])
    response = client.post(url, {"reason": "Press appeal", "confirm": "on", "next": reverse("compare", args=[case.pk])})
    assert response.status_code == 302 and response.url == reverse("compare", args=[case.pk])
    composite.refresh_from_db()
    assert composite.released and composite.release_reason == "Press appeal"
    assert [e.action for e in audit_log.new()] == [Action.COMPOSITE_RELEASED]


def test_release_refuses_foreign_redirects_and_empty_reasons(client, case, composite, investigator):
    client.force_login(investigator)
    url = reverse("composite_release", args=[case.pk, composite.pk])
    response = client.post(url, {"reason": "", "next": "https://evil.example/"}, follow=True)
    assert "Give a reason" in response.content.decode()
    composite.refresh_from_db()
    assert not composite.released


def test_an_unfinished_composite_cannot_be_released(client, case, sketch, artist, investigator):
    pending, _ = services.request_composite(sketch, "line", user=artist)
    client.force_login(investigator)
    response = client.post(reverse("composite_release", args=[case.pk, pending.pk]), {"reason": "x", "confirm": "on"})
    assert "Only a finished composite can be released" in response.content.decode()


@pytest.mark.parametrize(("role", "status"), [("artist", 403), ("outsider", 404)])
def test_others_may_not_release(client, case, composite, role, status, request):
    client.force_login(request.getfixturevalue(role))
    response = client.post(reverse("composite_release", args=[case.pk, composite.pk]), {"reason": "x"})
    assert response.status_code == status


def test_released_composite_downloads_with_its_provenance(client, case, composite, investigator, audit_log):
    client.force_login(investigator)
    url = reverse("composite_download", args=[case.pk, composite.pk])
    assert client.get(url).status_code == 403  # not released yet
    services.release_composite(composite, user=investigator, reason="Press appeal")
    audit_log.mark()
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    bundle = zipfile.ZipFile(io.BytesIO(response.content))
    provenance = json.loads(bundle.read("provenance.json"))
    assert provenance["composite"]["sha256"] == composite.output_sha256
    assert provenance["composite"]["release_reason"] == "Press appeal"
    assert provenance["sketch"]["sha256"] == composite.sketch.sha256
    assert provenance["composite"]["file"] in bundle.namelist()  # the path in the zip
    assert hashlib.sha256(bundle.read(provenance["composite"]["file"])).hexdigest() == composite.output_sha256
    assert [e.action for e in audit_log.new()] == [Action.EVIDENCE_DOWNLOADED]


def test_case_export_holds_every_file_with_its_hash_and_the_audit_events(
    client, case, sketch, composite, investigator, audit_log
):
    client.force_login(investigator)
    client.post(reverse("candidate_add", args=[case.pk]), {"image": photo_upload(), "label": "Custody 12"})
    audit_log.mark()
    response = client.get(reverse("case_export", args=[case.pk]))
    assert response.status_code == 200
    content = b"".join(response.streaming_content)
    bundle = zipfile.ZipFile(io.BytesIO(content))
    provenance = json.loads(bundle.read("provenance.json"))
    assert provenance["case"]["reference"] == case.reference
    for entry in [*provenance["sketches"], *provenance["composites"], *provenance["candidate_photos"]]:
        assert hashlib.sha256(bundle.read(entry["bundle_path"])).hexdigest() == entry["sha256"]
    events = [json.loads(line) for line in bundle.read("audit-events.jsonl").decode().splitlines()]
    assert {"sketch_uploaded", "composite_requested", "candidate_added"} <= {e["action"] for e in events}
    exported = audit_log.new()[-1]
    assert exported.action == Action.CASE_EXPORTED
    assert exported.details["sha256"] == hashlib.sha256(content).hexdigest()


@pytest.mark.parametrize(("role", "status"), [("artist", 403), ("outsider", 404), ("auditor", 404)])
def test_only_investigators_and_leads_export(client, case, composite, role, status, request):
    client.force_login(request.getfixturevalue(role))
    assert client.get(reverse("case_export", args=[case.pk])).status_code == status


def test_similarity_note_never_rounds_across_the_threshold():
    result = candidates.similarity([0.0, 0.0], [0.5996, 0.0])
    assert result.below_threshold
    assert result.note.startswith("Distance 0.599 is below 0.6") and "not an identification" in result.note


def test_the_comparison_shows_the_model_cards_known_limitations(client, case, composite, investigator, random_weights):
    card_file = random_weights / "color.json"
    card = json.loads(card_file.read_text())
    card_file.write_text(json.dumps(card | {"limitations": ["weaker on faces of group X"]}))
    client.force_login(investigator)
    url = reverse("compare", args=[case.pk])

    assert "weaker on faces of group X" not in client.get(url).content.decode()  # other weights made it

    type(composite).objects.filter(pk=composite.pk).update(weights_sha256=card["weights_sha256"])
    content = client.get(url).content.decode()
    assert "Known limitations" in content and "Colour model: weaker on faces of group X" in content


def test_a_composite_made_by_replaced_weights_shows_their_kept_cards_limitations(
    client, case, composite, investigator, random_weights
):
    earlier = {"weights_sha256": "e" * 64, "limitations": ["weaker on faces of group Y"]}
    (random_weights / "superseded").mkdir()
    (random_weights / "superseded" / f"color-{'e' * 12}.json").write_text(json.dumps(earlier))
    type(composite).objects.filter(pk=composite.pk).update(weights_sha256="e" * 64)
    client.force_login(investigator)

    content = client.get(reverse("compare", args=[case.pk])).content.decode()
    assert f"Colour model (earlier weights {'e' * 12}): weaker on faces of group Y" in content

    type(composite).objects.filter(pk=composite.pk).update(weights_sha256="d" * 64)  # no card names these
    assert "Known limitations" not in client.get(reverse("compare", args=[case.pk])).content.decode()


def test_a_released_composite_carries_no_witness_data(client, case, artist, investigator):
    """Every field of every file in the released download, PNG text chunks included, is free of witness data."""
    sketch = add_sketch(
        case, artist, witness_reference="Witness W-17 (Mrs Ada Lovell)", interview_notes="Saw him at 22:10 by the kiosk"
    )
    released = done_composite(sketch, artist)
    services.release_composite(released, user=investigator, reason="Press appeal")
    client.force_login(investigator)

    response = client.get(reverse("composite_download", args=[case.pk, released.pk]))

    bundle = zipfile.ZipFile(io.BytesIO(response.content))
    fields: dict[str, object] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}", item)
        else:
            fields[prefix] = value

    for name in bundle.namelist():
        data = bundle.read(name)
        if name.endswith(".json"):
            walk(name, json.loads(data))
        else:
            walk(name, composite_png.read_text(data))
    assert fields, "the download holds no fields at all"
    assert not [key for key in fields if key.rsplit(".", 1)[-1] in provenance.WITNESS_FIELDS]
    text = json.dumps(fields, ensure_ascii=False)
    assert "W-17" not in text and "Lovell" not in text and "kiosk" not in text and "sketch-1.png" not in text


def test_revisions_sit_under_their_original_and_compare_side_by_side(client, case, artist, investigator):
    original = add_sketch(case, artist, seed=1, witness_reference="Witness A")
    revision = add_sketch(case, artist, seed=3, revises=original)
    again = add_sketch(case, artist, seed=6, revises=revision)
    other = add_sketch(case, artist, seed=1)
    assert revision.witness_reference == again.witness_reference == "Witness A"  # carried over
    composites = [done_composite(item, artist) for item in (original, revision)]

    client.force_login(investigator)
    page = client.get(reverse("case_detail", args=[case.pk])).content.decode()
    cards = re.findall(r'<article class="card sketch[^"]*" id="sketch-(\d+)"(?: style="--depth: (\d+)")?', page)
    order = [int(pk) for pk, _ in cards]
    assert order.index(original.pk) < order.index(revision.pk) < order.index(again.pk)
    assert [int(depth or 0) for pk, depth in cards if int(pk) in (original.pk, again.pk)] == [0, 2]

    compared = client.get(reverse("compare", args=[case.pk]), {"sketch": revision.pk, "revisions": "1"})
    assert [sketch.pk for sketch in compared.context["shown_sketches"]] == [original.pk, revision.pk, again.pk]
    assert sorted(c.pk for c in compared.context["composites"]) == sorted(c.pk for c in composites)
    assert other not in compared.context["shown_sketches"]
    content = compared.content.decode()
    assert all(f"Face crop of witness sketch {item.pk}" in content for item in (original, revision, again))


JARGON = re.compile(r"rank-?\d|SSIM|FSIM|PSNR|Pearson|CUFS|CUHK|XM2VTS|\bAR\b|\.md\b|docs/|\d\.\d{2}", re.IGNORECASE)


@pytest.mark.parametrize("style", STYLES)
def test_the_shipped_models_limitations_are_in_words_a_police_artist_reads(style):
    """The compare page shows them: no metric names, data-set codes, raw figures or files users cannot open."""
    limitations = model_card(style)["limitations"]
    assert limitations
    for text in limitations:
        assert not JARGON.search(text), text


def test_the_comparison_points_to_no_file_users_cannot_open(client, case, composite, investigator):
    client.force_login(investigator)
    content = client.get(reverse("compare", args=[case.pk])).content.decode()
    assert "docs/" not in content and ".md" not in content
