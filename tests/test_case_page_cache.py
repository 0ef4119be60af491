"""The case page is read once per change of its case (``cases.case_pages``); every kind of change shows.

Each test views the page (which keeps it), changes the case the way the app or a worker does, and
views it again: the change must show, and the view's audit event must list what the page showed.
"""

import io
import re

import pytest
from django.urls import reverse

import audit
from audit.models import AuditEvent
from cases import case_pages, derived, morphs, services
from cases.models import Case, CaseMembership, Composite, Morph

from .factories import UserFactory
from .web import add_sketch, done_composite, face_png


def view(client, case) -> str:
    response = client.get(reverse("case_detail", args=[case.pk]))
    assert response.status_code == 200
    return response.content.decode()


def last_page_view(case) -> list[dict]:
    event = AuditEvent.objects.filter(action=audit.Action.EVIDENCE_VIEWED, case=case).order_by("-sequence")[0]
    return event.details["items"]


@pytest.fixture
def seen(client, case, artist):
    """The artist's view of the case, with one sketch, kept in the cache."""
    client.force_login(artist)
    sketch = add_sketch(case, artist, seed=1)
    view(client, case)
    return sketch


def test_a_second_view_of_an_unchanged_case_is_the_same_page(client, case, seen):
    def without_tokens(page: str) -> str:  # each response masks its CSRF token anew
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page)

    first = view(client, case)
    assert without_tokens(view(client, case)) == without_tokens(first)
    assert [item["id"] for item in last_page_view(case)] == [seen.pk]


def test_a_new_sketch_shows(client, case, artist, seen):
    new = add_sketch(case, artist, seed=2)
    page = view(client, case)
    assert f'id="sketch-{new.pk}"' in page and f"Sketch {new.pk} uploaded" in page
    assert {item["id"] for item in last_page_view(case)} == {seen.pk, new.pk}


def test_a_composite_requested_finished_and_released_shows_at_each_step(client, case, artist, lead, seen):
    composite, _ = services.request_composite(seen, "color", user=artist)
    assert "· Requested" in view(client, case)
    composite = done_composite(seen, artist, style="line")
    page = view(client, case)
    assert f"Line composite {composite.pk} of sketch {seen.pk} finished" in page
    assert {"type": "composite", "id": composite.pk, "sha256": composite.output_sha256} in last_page_view(case)
    services.release_composite(composite, user=lead, reason="press appeal")
    assert "<strong>released</strong>" in view(client, case)


def test_a_candidate_photo_and_its_face_crop_show(client, case, lead, seen):
    photo = services.add_candidate_photo(case, io.BytesIO(face_png(5)), user=lead, label="Custody image 5")
    assert "Custody image 5" in view(client, case)
    assert photo.pk not in [item["id"] for item in last_page_view(case) if item["type"] == "candidatephoto"]
    found = derived.Derived(face_png(5), face_png(5), [10, 10, 100, 100], face_png(5, 192), [0.0] * 128)
    derived.save(photo, found)  # as a worker stores what it found: a queryset update, not a save()
    view(client, case)
    assert photo.pk in [item["id"] for item in last_page_view(case) if item["type"] == "candidatephoto"]


def test_members_granted_and_removed_show(client, case, lead, seen):
    newcomer = UserFactory(username="newcomer")
    services.grant_membership(case, newcomer, CaseMembership.Role.INVESTIGATOR, user=lead)
    assert "newcomer" in view(client, case)
    services.revoke_membership(case, newcomer, user=lead)
    assert "newcomer" not in view(client, case)


def test_a_case_status_change_shows_in_the_status_form(client, case, lead, seen):
    client.force_login(lead)
    assert 'value="closed"' in view(client, case)
    services.set_case_status(case, Case.Status.CLOSED, user=lead)
    page = view(client, case)
    assert 'value="open"' in page and 'value="closed"' not in page


def test_a_morph_put_back_in_the_queue_by_an_update_shows(client, case, investigator, artist, seen):
    other = add_sketch(case, artist, seed=2)
    sources = [done_composite(sketch, artist) for sketch in (seen, other)]
    morph, _ = morphs.request_morph(case, [c.pk for c in sources], user=investigator)
    Morph.objects.filter(pk=morph.pk).update(status=Morph.Status.RUNNING)
    case_pages.forget(case.pk)  # (the test's own update above, not the app's)
    assert "Running" in view(client, case)
    morphs.requeue(morph)
    page = view(client, case)
    assert f"morph {morph.pk}</a>" in page and "Requested" in page.split(f"morph {morph.pk}</a>")[1][:200]


def test_a_renamed_user_shows_on_every_case_page(client, case, artist, lead, seen):
    client.force_login(lead)  # the menu names the reader; the uploader's name is in the cards and timeline
    assert "by artist\n" in view(client, case)
    artist.username = "renamed-artist"
    artist.save()
    page = view(client, case)
    assert "by renamed-artist\n" in page and "by artist\n" not in page


def test_a_login_does_not_forget_the_pages(client, case, artist, seen):
    before = case_pages.version(case.pk)
    client.logout()
    client.force_login(artist)  # saves last_login only
    assert case_pages.version(case.pk) == before


def test_a_change_forgets_the_page_again_when_it_commits(case, django_capture_on_commit_callbacks):
    """A page read between the change and its commit saw the old rows: its token is dropped on commit."""
    first = case_pages.version(case.pk)
    with django_capture_on_commit_callbacks() as callbacks:
        case_pages.forget(case.pk)
        read_in_between = case_pages.version(case.pk)
    assert read_in_between != first and len(callbacks) == 1
    callbacks[0]()
    assert case_pages.version(case.pk) not in (first, read_in_between)


def test_readers_with_other_rights_see_their_own_controls(client, case, lead, investigator, seen):
    client.force_login(lead)
    assert "Remove " in view(client, case)
    client.force_login(investigator)
    page = view(client, case)
    assert "Remove " not in page and "Save membership" not in page


def test_every_done_composite_of_the_page_is_in_its_audit_event(client, case, artist, seen):
    composites = [done_composite(seen, artist, style=style) for style in ("line", "grayscale", "color")]
    view(client, case)
    view(client, case)  # the kept page lists the same items
    listed = {item["id"] for item in last_page_view(case) if item["type"] == "composite"}
    assert listed == {c.pk for c in composites} and Composite.objects.filter(status="done").count() == 3


def test_the_compare_choosers_rows_follow_the_case(client, case, artist, lead, investigator, seen):
    """The compare page's chooser rows are kept under the same version as the case page."""
    client.force_login(investigator)
    url = reverse("compare", args=[case.pk])
    assert "No finished composites yet." in client.get(url).content.decode()
    composite = done_composite(seen, artist, style="line")
    services.add_candidate_photo(case, io.BytesIO(face_png(5)), user=lead, label='Custody <b>"5"</b>')
    page = client.get(url, {"composite": composite.pk}).content.decode()
    assert f'name="composite" value="{composite.pk}" checked> Line composite {composite.pk} of sketch {seen.pk}' in page
    assert "Custody &lt;b&gt;&quot;5&quot;&lt;/b&gt;</option>" in page and "<b>" not in page
    services.release_composite(composite, user=lead, reason="press appeal")
    page = client.get(url).content.decode()
    assert f'value="{composite.pk}" checked> Line composite {composite.pk} of sketch {seen.pk} (released)' in page


@pytest.mark.parametrize("asked", ["2", "02", "999999", "9999999", "²", "x", "-1", "0", ""])
def test_any_page_number_asked_for_shows_a_page(client, case, artist, seen, asked):
    """Odd page numbers show a page of the case (the first, or the last for one past the end)."""
    response = client.get(reverse("case_detail", args=[case.pk]), {"page": asked})
    assert response.status_code == 200 and f'id="sketch-{seen.pk}"' in response.content.decode()


def test_every_queryset_update_of_what_a_case_page_shows_forgets_the_page():
    """``update()`` sends no signal: each one on these models must forget the case's page itself, or
    change only fields no case page shows (a descriptor). Guards code written after this test."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    models = r"(WitnessSketch|Composite|CandidatePhoto|Morph|CaseMembership|Case|type\(evidence\))"
    update = re.compile(models + r"\.objects\.(filter|select_for_update)\(.*\)\.update\((?P<fields>.*)")
    found = []
    for folder in ("cases", "leads", "accounts", "audit", "forensics"):
        for path in sorted((root / folder).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            lines = path.read_text().splitlines()
            for number, line in enumerate(lines):
                match = update.search(line)
                if not match:
                    continue
                found.append(path.name)
                after = "\n".join(lines[number + 1 : number + 3])
                assert "case_pages.forget" in after or match["fields"].startswith("face_descriptor="), (
                    f"{path.relative_to(root)}:{number + 1} updates rows a case page shows without forgetting it"
                )
    assert found.count("derived.py") == 2 and "morphs.py" in found  # the guard sees the updates it guards
