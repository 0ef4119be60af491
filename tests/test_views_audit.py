"""The audit log viewer: filters, paging and exports, each audited."""

import csv
import io
import json

import pytest
from django.urls import reverse

import audit
from audit.models import AuditEvent

from .web import add_sketch

Action = AuditEvent.Action


@pytest.fixture
def events(case, lead, artist):
    for index in range(60):
        audit.record(Action.EVIDENCE_VIEWED, user=artist, case=case, details={"index": index})
    audit.record(Action.ACCESS_DENIED, user=lead, outcome=audit.Outcome.DENIED)


@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_auditors_and_admins_read_the_log_and_reading_is_audited(client, events, role, request, audit_log):
    client.force_login(request.getfixturevalue(role))
    audit_log.mark()
    response = client.get(reverse("audit_list"), {"kind": "all"})
    assert response.status_code == 200
    content = response.content.decode()
    assert "Evidence viewed" in content and "Page 1 of 2" in content
    assert reverse("audit_chain") in content  # the chain's state is one click away
    viewed = audit_log.new()[-1]
    assert viewed.action == Action.AUDIT_VIEWED and viewed.details == {"filters": {"kind": "all"}, "page": 1}


def test_the_log_starts_with_changes_and_names_objects_as_users_do(client, case, artist, auditor):
    first = add_sketch(case, artist, seed=1)
    revision = add_sketch(case, artist, seed=3, revises=first)
    client.force_login(artist)
    client.get(reverse("sketch_detail", args=[case.pk, revision.pk]))  # a page view
    client.force_login(auditor)
    page = client.get(reverse("audit_list"))
    shown = [event.action for event in page.context["page"].object_list]
    assert Action.SKETCH_UPLOADED in shown and Action.EVIDENCE_VIEWED not in shown
    assert f"sketch {revision.pk} (revision of {first.pk})" in page.content.decode()
    everything = client.get(reverse("audit_list"), {"kind": "all"})
    assert Action.EVIDENCE_VIEWED in [event.action for event in everything.context["page"].object_list]


@pytest.mark.parametrize("role", ["lead", "artist", "investigator", "outsider"])
def test_others_may_not_read_the_log(client, case, role, request, audit_log):
    client.force_login(request.getfixturevalue(role))
    audit_log.mark()
    for url in (reverse("audit_list"), reverse("audit_export_csv"), reverse("audit_export_jsonl")):
        assert client.get(url).status_code == 403
    assert {e.action for e in audit_log.new()} == {Action.ACCESS_DENIED}


def test_anonymous_visitors_are_sent_to_log_in(client):
    assert client.get(reverse("audit_list")).status_code == 302


def test_filters_narrow_the_log(client, events, auditor, case):
    client.force_login(auditor)
    by_outcome = client.get(reverse("audit_list"), {"outcome": "denied"})
    assert by_outcome.context["total"] == 1
    by_user = client.get(reverse("audit_list"), {"user": "artist", "action": Action.EVIDENCE_VIEWED})
    assert by_user.context["total"] == 60
    by_case = client.get(reverse("audit_list"), {"case": case.reference, "kind": "all"})
    assert by_case.context["total"] == 60
    by_date = client.get(reverse("audit_list"), {"since": "2000-01-01", "until": "2000-01-02"})
    assert by_date.context["total"] == 0 and b"No events match" in by_date.content
    page_two = client.get(reverse("audit_list"), {"user": "artist", "kind": "all", "page": 2})
    assert len(page_two.context["page"].object_list) == 10 and page_two.content.count(b"<tr") == 11
    assert b"user=artist&amp;kind=all&amp;page=1" in page_two.content


def test_a_long_log_is_counted_only_a_few_pages_ahead_and_every_page_stays_reachable(
    client, events, auditor, monkeypatch
):
    """A trail of millions must not be counted on every view (#13): past the pages counted ahead the
    page says "more than", and the next pages are still there."""
    from audit import views

    monkeypatch.setattr(views, "PAGE_SIZE", 10)
    monkeypatch.setattr(views, "PAGES_COUNTED_AHEAD", 2)
    client.force_login(auditor)
    first = client.get(reverse("audit_list"), {"user": "artist", "kind": "all"})  # 60 events
    assert first.context["more"] and first.context["total"] == 30
    assert "More than 30 events match" in first.content.decode() and "Page 1 of more than 3" in first.content.decode()
    deep = client.get(reverse("audit_list"), {"user": "artist", "kind": "all", "page": 5})
    assert not deep.context["more"] and deep.context["total"] == 60 and "Page 5 of 6" in deep.content.decode()
    assert [e.details["index"] for e in deep.context["page"].object_list] == list(range(19, 9, -1))


def body(response) -> str:
    """A streamed export's text."""
    return b"".join(response.streaming_content).decode()


def test_exports_hold_every_matching_event_and_are_audited(client, events, auditor, audit_log):
    client.force_login(auditor)
    audit_log.mark()
    response = client.get(reverse("audit_export_csv"), {"user": "artist"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body(response))))
    assert len(rows) == 60 and rows[0]["hash"] and json.loads(rows[0]["details"]) == {"index": 0}
    response = client.get(reverse("audit_export_jsonl"), {"user": "artist"})
    lines = [json.loads(line) for line in body(response).splitlines()]
    assert len(lines) == 60 and lines[-1]["details"] == {"index": 59}
    exports = audit_log.new()
    assert [e.action for e in exports] == [Action.AUDIT_EXPORTED] * 2
    assert exports[0].details == {"filters": {"user": "artist"}, "format": "csv", "events": 60}


def test_csv_export_does_not_hand_spreadsheets_a_formula(client, auditor):
    """A failed login records the user name as typed: an attacker can type a formula."""
    audit.record(Action.LOGIN_FAILED, username='=HYPERLINK("http://x","y")', outcome=audit.Outcome.FAILED)
    client.force_login(auditor)
    rows = list(csv.DictReader(io.StringIO(body(client.get(reverse("audit_export_csv"))))))
    typed = next(row for row in rows if row["action"] == Action.LOGIN_FAILED)
    assert typed["username"] == '\'=HYPERLINK("http://x","y")'
    lines = body(client.get(reverse("audit_export_jsonl"))).splitlines()
    assert any(json.loads(line)["username"] == '=HYPERLINK("http://x","y")' for line in lines)  # exact there


def test_an_auditor_lands_on_the_audit_log_and_others_on_their_cases(client, auditor, artist):
    for user, page in ((auditor, "audit_list"), (artist, "case_list")):
        client.force_login(user)
        response = client.get(reverse("home"))
        assert response.status_code == 302 and response.url == reverse(page)
        client.logout()


def test_the_chain_page_says_why_fewer_events_were_verified_than_it_holds(client, events, auditor):
    client.force_login(auditor)
    client.post(reverse("audit_chain"))

    response = client.get(reverse("audit_chain"))

    assert "written since then" in response.text
