"""Per-case access: members see their cases; everyone else learns nothing, and is audited."""

import re

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from cases.access import get_case_for
from cases.models import Case

from .factories import CaseFactory
from .state import nothing_changes

CASE_URLS = ["case_detail"]


def without_csrf_token(html: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)


def test_member_sees_their_case_in_the_list(client, artist, case):
    other = CaseFactory(title="Someone else's burglary")
    client.force_login(artist)

    response = client.get(reverse("case_list"))

    assert response.status_code == 200
    assert case.reference in response.text
    assert other.reference not in response.text


def test_member_opens_the_case_page(client, artist, case):
    client.force_login(artist)

    response = client.get(reverse("case_detail", args=[case.pk]))

    assert response.status_code == 200
    assert case.title in response.text


@pytest.mark.parametrize("name", CASE_URLS)
def test_non_member_gets_404(client, outsider, case, name, audit_log):
    client.force_login(outsider)
    audit_log.mark()

    with nothing_changes():
        response = client.get(reverse(name, args=[case.pk]))

    assert response.status_code == 404
    assert case.title not in response.text
    assert [(event.action, event.user) for event in audit_log.new()] == [(AuditEvent.Action.ACCESS_DENIED, outsider)]


@pytest.mark.parametrize("name", CASE_URLS)
def test_guessed_and_existing_ids_look_the_same_to_a_non_member(client, outsider, case, name):
    client.force_login(outsider)
    missing_pk = Case.objects.order_by("-pk").first().pk + 1000

    existing = client.get(reverse(name, args=[case.pk]))
    guessed = client.get(reverse(name, args=[missing_pk]))

    assert existing.status_code == guessed.status_code == 404
    assert without_csrf_token(existing.text) == without_csrf_token(guessed.text)


def test_each_denial_is_audited(client, outsider, case, audit_log):
    client.force_login(outsider)
    audit_log.mark()

    client.get(reverse("case_detail", args=[case.pk]), HTTP_USER_AGENT="pytest-browser")
    client.get(reverse("case_detail", args=[case.pk + 1000]))

    denials = audit_log.new()
    assert [event.action for event in denials] == [AuditEvent.Action.ACCESS_DENIED] * 2
    assert all(event.outcome == AuditEvent.Outcome.DENIED for event in denials)
    assert all(event.user == outsider and event.username == "outsider" for event in denials)
    assert denials[0].case == case  # auditors see which case was probed
    assert denials[0].user_agent == "pytest-browser"
    assert denials[0].ip == "127.0.0.1"
    assert denials[0].request_id
    assert denials[1].case is None
    assert denials[1].object_id == str(case.pk + 1000)


def test_anonymous_visitor_is_sent_to_login(client, case):
    response = client.get(reverse("case_detail", args=[case.pk]))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_superuser_sees_every_case(client, admin, case):
    client.force_login(admin)

    assert client.get(reverse("case_detail", args=[case.pk])).status_code == 200


def test_auditor_without_membership_cannot_open_a_case(client, auditor, case):
    client.force_login(auditor)

    assert client.get(reverse("case_detail", args=[case.pk])).status_code == 404


def test_deactivated_member_loses_access(artist, case):
    artist.is_active = False
    artist.save(update_fields=["is_active"])

    assert not Case.objects.visible_to(artist).exists()


def test_get_case_for_rejects_ids_that_are_not_numbers(artist, case):
    from django.http import Http404

    with pytest.raises(Http404):
        get_case_for(artist, "1 OR 1=1")
