"""My work: the composites a user requested, across the cases they may still see, with
live status; the count of finished items they have not seen in the navigation bar;
and an e-mail, for those who ask, when a worker finishes one or it fails."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import WorkPreference
from cases import notifications, services, tasks
from cases.models import Composite, Morph

from .web import add_sketch, finish

Status = Composite.Status


@pytest.fixture
def sketch(case, artist):
    return add_sketch(case, artist, witness_reference="W-3 Mr Thistlewood", interview_notes="Scar over the left eye.")


def requested(sketch, user, style: str = "line", **fields) -> Composite:
    """A composite as a request leaves it (its job not sent), with ``fields`` as a worker left them."""
    composite = Composite.objects.create(
        sketch=sketch, style=style, requested_by=user, parameters={"box": [0, 0, sketch.width, sketch.height]}
    )
    if fields:
        Composite.objects.filter(pk=composite.pk).update(**fields)
        composite.refresh_from_db()
    return composite


def failed(sketch, user, message: str = "The sketch file is missing from storage.") -> Composite:
    return requested(sketch, user, status=Status.FAILED, error_message=message, finished_at=timezone.now())


def shown_ids(client) -> list[str]:
    answer = client.get(reverse("work_status")).json()
    return [item["id"] for item in answer["items"]]


def unseen_badge(client) -> str | None:
    page = client.get(reverse("case_list")).content.decode()
    marker = "data-unseen-work>"
    if marker not in page:
        return None
    return page.split(marker, 1)[1].split("<", 1)[0]


# The page.


def test_the_work_page_lists_my_composites_newest_first_with_their_status(client, sketch, artist):
    waiting = requested(sketch, artist)
    running = requested(sketch, artist, "grayscale", status=Status.RUNNING, attempts=2, started_at=timezone.now())
    done = finish(requested(sketch, artist, "color"))
    broken = failed(sketch, artist, "The network could not process this sketch (ValueError: too dark).")
    client.force_login(artist)

    response = client.get(reverse("work"))

    page = response.content.decode()
    assert response.status_code == 200
    order = [page.index(f'data-work-item="composite-{c.pk}"') for c in (broken, done, running, waiting)]
    assert order == sorted(order)  # newest first
    assert "Waiting for a worker" in page and "Running (attempt 2)" in page
    assert "Done" in page and "Failed" in page
    assert "The network could not process this sketch (ValueError: too dark)." in page
    assert reverse("sketch_detail", args=[sketch.case_id, sketch.pk]) + f"#composite-{done.pk}" in page
    assert "Mr Thistlewood" not in page and "Scar over the left eye" not in page


def test_the_poll_gives_each_items_status_and_card_and_what_is_still_outstanding(client, sketch, artist):
    waiting = requested(sketch, artist)
    done = finish(requested(sketch, artist, "color"))
    client.force_login(artist)

    answer = client.get(reverse("work_status")).json()

    assert [(item["id"], item["status"]) for item in answer["items"]] == [
        (f"composite-{done.pk}", "done"),
        (f"composite-{waiting.pk}", "requested"),
    ]
    assert f'data-work-item="composite-{waiting.pk}"' in answer["items"][1]["html"]
    assert answer["outstanding"] == 1


def morph_of(case, user, *sources: Composite, **fields) -> Morph:
    """A morph of ``sources`` as a request leaves it, with ``fields`` as its worker left them."""
    morph = Morph.objects.create(case=case, style="line", requested_by=user, **fields)
    morph.sources.set(sources)
    return morph


def test_morphs_are_work_too(client, case, sketch, artist, lead):
    sources = [finish(requested(sketch, artist)), finish(requested(sketch, artist, "grayscale"))]
    running = morph_of(case, lead, *sources, status=Status.RUNNING, started_at=timezone.now())
    broken = morph_of(case, lead, *sources, status=Status.FAILED, finished_at=timezone.now(), error_message="No face.")
    client.force_login(lead)
    assert notifications.unseen_count(lead) == 1

    page = client.get(reverse("work")).content.decode()

    assert shown_ids(client) == [f"morph-{broken.pk}", f"morph-{running.pk}"]
    assert reverse("morph_detail", args=[case.pk, running.pk]) in page
    assert f"Line morph {broken.pk}" in page and "of 2 composites" in page and "No face." in page
    client.force_login(artist)
    assert shown_ids(client) == [f"composite-{sources[1].pk}", f"composite-{sources[0].pk}"]


# Deny by default.


def test_another_users_items_are_shown_to_nobody_else(
    client, case, sketch, artist, lead, investigator, outsider, admin
):
    leads = requested(sketch, lead)
    artists = requested(sketch, artist)

    for user, expected in [
        (artist, [f"composite-{artists.pk}"]),
        (lead, [f"composite-{leads.pk}"]),
        (investigator, []),
        (outsider, []),
        (admin, []),
    ]:
        client.force_login(user)
        page = client.get(reverse("work")).content.decode()
        assert shown_ids(client) == expected, user
        for composite in (leads, artists):
            assert (f'data-work-item="composite-{composite.pk}"' in page) == (
                f"composite-{composite.pk}" in expected
            ), user


def test_a_member_removed_from_the_case_no_longer_sees_its_items(client, case, sketch, artist, lead):
    finish(requested(sketch, artist))
    client.force_login(artist)
    assert len(shown_ids(client)) == 1

    services.revoke_membership(case, artist, user=lead)

    assert shown_ids(client) == []
    assert "data-work-item" not in client.get(reverse("work")).content.decode()
    assert notifications.unseen_count(artist) == 0


# The count in the navigation bar.


def test_the_navigation_bar_counts_finished_items_not_yet_seen(client, sketch, artist):
    requested(sketch, artist)  # still waiting: not counted
    done = requested(sketch, artist, "color")
    finish(done)
    failed(sketch, artist)
    client.force_login(artist)

    assert unseen_badge(client) == "2"

    client.get(reverse("work"))  # seen
    assert unseen_badge(client) is None
    assert 'href="/cases/work/"' in client.get(reverse("case_list")).content.decode()

    later = requested(sketch, artist, "grayscale")
    Composite.objects.filter(pk=later.pk).update(status=Status.DONE, finished_at=timezone.now() + timedelta(seconds=1))
    notifications.composite_finished(later)  # as the pipeline does in the same transaction
    assert unseen_badge(client) == "1"


def test_opening_the_work_page_marks_what_finished_since_the_last_visit_as_new(client, sketch, artist):
    old = failed(sketch, artist)
    client.force_login(artist)
    client.get(reverse("work"))
    new = requested(sketch, artist, "color")
    Composite.objects.filter(pk=new.pk).update(status=Status.DONE, finished_at=timezone.now() + timedelta(seconds=1))

    page = client.get(reverse("work")).content.decode()

    card = page.split(f'data-work-item="composite-{new.pk}"', 1)[1].split("</li>", 1)[0]
    assert ">New<" in card
    card = page.split(f'data-work-item="composite-{old.pk}"', 1)[1].split("</li>", 1)[0]
    assert ">New<" not in card


def test_the_count_costs_one_query(sketch, artist, lead):
    for user in (artist, lead):
        finish(requested(sketch, user))
    WorkPreference.objects.create(user=artist, work_seen_at=timezone.now() - timedelta(days=1))

    with CaptureQueriesContext(connection) as queries:
        count = notifications.unseen_count(artist)

    assert count == 1
    assert len(queries) == 1


def test_cards_rendered_on_their_own_do_not_count(client, sketch, artist):
    """The count is worked out only where the navigation bar shows it, not for each card a poll renders."""
    for style in ("line", "grayscale", "color"):
        requested(sketch, artist, style)
    client.force_login(artist)
    client.get(reverse("composites_status", args=[sketch.case_id, sketch.pk]))
    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("composites_status", args=[sketch.case_id, sketch.pk]))
    assert not any("accounts_workpreference" in query["sql"] for query in queries.captured_queries)


# E-mail, sent by the worker.


@pytest.fixture
def rendering(random_weights, eager_jobs, django_capture_on_commit_callbacks):
    """Run a composite's job as a worker does, and the e-mail it leaves for after the commit."""

    def render(composite: Composite) -> Composite:
        with django_capture_on_commit_callbacks(execute=True):
            tasks.render(composite.pk)
        composite.refresh_from_db()
        return composite

    return render


def opt_in(client, user) -> None:
    client.force_login(user)
    response = client.post(reverse("work_email"), {"email_when_finished": "on"})
    assert response.status_code == 302
    assert WorkPreference.objects.get(user=user).email_when_finished


def test_an_opted_in_user_is_emailed_when_a_composite_is_done(client, sketch, artist, rendering, settings):
    settings.EMAIL_SITE_URL = "https://sketches.example.org"
    opt_in(client, artist)

    composite = rendering(requested(sketch, artist))

    assert composite.status == Status.DONE
    (message,) = mail.outbox
    assert message.to == [artist.email]
    assert message.subject == f"Line composite {composite.pk} of case 2026-CID-0042 is done"
    link = f"https://sketches.example.org/cases/{sketch.case_id}/sketches/{sketch.pk}/#composite-{composite.pk}"
    assert link in message.body
    assert "Thistlewood" not in message.body and "Scar" not in message.body
    assert "Street robbery" not in message.body  # the case's title stays in the case


def test_an_opted_in_user_is_emailed_when_a_composite_fails_saying_why(
    client, sketch, artist, rendering, random_weights
):
    (random_weights / "color.pt").unlink()
    opt_in(client, artist)

    composite = rendering(requested(sketch, artist, "color"))

    assert composite.status == Status.FAILED
    (message,) = mail.outbox
    assert message.subject == f"Colour composite {composite.pk} of case 2026-CID-0042 failed"
    assert composite.error_message in message.body


def test_no_email_without_opting_in_or_after_opting_out(client, sketch, artist, rendering):
    rendering(requested(sketch, artist))
    assert mail.outbox == []

    opt_in(client, artist)
    client.post(reverse("work_email"), {})
    assert WorkPreference.objects.get(user=artist).email_when_finished is False
    rendering(requested(sketch, artist, "grayscale"))
    assert mail.outbox == []


def test_no_email_to_someone_else_or_about_a_case_the_user_was_removed_from(
    client, case, sketch, artist, lead, rendering
):
    opt_in(client, lead)  # the lead asked for e-mail; the artist's work is not theirs
    rendering(requested(sketch, artist))
    assert mail.outbox == []

    opt_in(client, artist)
    composite = requested(sketch, artist, "grayscale")
    services.revoke_membership(case, artist, user=lead)
    rendering(composite)
    assert mail.outbox == []


def test_a_mail_server_that_does_not_answer_does_not_fail_the_job(client, sketch, artist, rendering, monkeypatch):
    opt_in(client, artist)

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("no SMTP server")

    monkeypatch.setattr(notifications, "send_mail", refuse)

    assert rendering(requested(sketch, artist)).status == Status.DONE


def test_the_email_choice_is_each_users_own(client, artist, lead):
    opt_in(client, artist)
    assert not WorkPreference.objects.filter(user=lead, email_when_finished=True).exists()
    client.force_login(artist)
    page = client.get(reverse("work")).content.decode()
    assert 'name="email_when_finished"' in page and "checked" in page


def test_morph_finished_emails_as_composite_finished_does(
    client, case, sketch, artist, lead, django_capture_on_commit_callbacks
):
    sources = [finish(requested(sketch, artist)), finish(requested(sketch, artist, "grayscale"))]
    opt_in(client, lead)
    morph = morph_of(case, lead, *sources, status=Status.FAILED, finished_at=timezone.now(), error_message="No face.")

    with django_capture_on_commit_callbacks(execute=True):
        notifications.morph_finished(morph)

    (message,) = mail.outbox
    assert message.subject == f"Line morph {morph.pk} of case 2026-CID-0042 failed"
    assert "failed: No face." in message.body
    assert reverse("morph_detail", args=[case.pk, morph.pk]) in message.body
