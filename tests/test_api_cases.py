"""The REST API for cases and memberships: the pages' access rules, JSON errors."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEvent
from cases.models import Case, CaseMembership

from .factories import CaseFactory, api_token
from .state import nothing_changes

Role = CaseMembership.Role
Action = AuditEvent.Action


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def test_anonymous_requests_get_a_json_message(api, case):
    response = api.get(reverse("api:case_list"))
    assert response.status_code in (401, 403)
    assert response.json()["message"]


def test_token_authentication(api, case, artist):
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_token(artist)}")
    assert api.get(reverse("api:case_list")).status_code == 200


def test_case_list_holds_only_the_users_cases_and_searches(api, case, artist):
    CaseFactory(reference="2026-CID-9999")
    api.force_authenticate(artist)
    results = api.get(reverse("api:case_list")).json()["results"]
    assert [c["reference"] for c in results] == ["2026-CID-0042"]
    assert api.get(reverse("api:case_list"), {"q": "robbery"}).json()["count"] == 1
    assert api.get(reverse("api:case_list"), {"q": "nothing"}).json()["count"] == 0


def test_artist_opens_a_case(api, artist, audit_log):
    api.force_authenticate(artist)
    response = api.post(reverse("api:case_list"), {"reference": "2026-CID-0500", "title": "Arson"}, format="json")
    assert response.status_code == 201
    case = Case.objects.get(reference="2026-CID-0500")
    assert response.json()["id"] == case.pk and response.json()["created_by"] == "artist"
    assert CaseMembership.objects.get(case=case, user=artist).role == Role.CASE_LEAD
    assert [e.action for e in audit_log.new()] == [Action.CASE_CREATED]


def test_invalid_case_gets_a_message(api, artist, case):
    api.force_authenticate(artist)
    response = api.post(reverse("api:case_list"), {"reference": case.reference}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["message"].startswith(("reference", "title")) and "errors" in body


def test_auditor_may_not_open_cases(api, auditor, audit_log):
    api.force_authenticate(auditor)
    with nothing_changes():
        response = api.post(reverse("api:case_list"), {"reference": "X-1", "title": "T"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"message": "Your role does not allow opening cases."}
    assert [(e.action, e.user) for e in audit_log.new()] == [(Action.ACCESS_DENIED, auditor)]


@pytest.mark.parametrize(("role", "status"), [("artist", 200), ("admin", 200), ("outsider", 404), ("auditor", 404)])
def test_case_detail_follows_membership(api, case, role, status, request):
    api.force_authenticate(request.getfixturevalue(role))
    response = api.get(reverse("api:case_detail", args=[case.pk]))
    assert response.status_code == status
    if status == 404:
        assert response.json() == {"message": "No case found."}
    else:
        assert response.json()["reference"] == case.reference


def test_memberships_are_listed_granted_and_revoked_by_the_lead(api, case, lead, artist, outsider, audit_log):
    api.force_authenticate(lead)
    url = reverse("api:membership_list", args=[case.pk])
    assert {m["username"] for m in api.get(url).json()} == {"lead", "artist"}
    response = api.post(url, {"username": "outsider", "role": Role.INVESTIGATOR}, format="json")
    assert response.status_code == 201 and response.json()["role"] == Role.INVESTIGATOR
    response = api.delete(reverse("api:membership_detail", args=[case.pk, outsider.pk]))
    assert response.status_code == 204
    assert [e.action for e in audit_log.new()] == [Action.MEMBERSHIP_GRANTED, Action.MEMBERSHIP_REVOKED]
    with nothing_changes():
        response = api.delete(reverse("api:membership_detail", args=[case.pk, lead.pk]))
    assert response.status_code == 400 and "at least one case lead" in response.json()["message"]


@pytest.mark.parametrize(("role", "status"), [("artist", 403), ("outsider", 404)])
def test_others_may_not_manage_members(api, case, lead, role, status, request, audit_log):
    user = request.getfixturevalue(role)
    api.force_authenticate(user)
    audit_log.mark()
    url = reverse("api:membership_list", args=[case.pk])
    with nothing_changes():
        granted = api.post(url, {"username": "lead", "role": Role.INVESTIGATOR}, format="json")
        revoked = api.delete(reverse("api:membership_detail", args=[case.pk, lead.pk]))
    assert granted.status_code == revoked.status_code == status
    assert [(e.action, e.user) for e in audit_log.new()] == [(Action.ACCESS_DENIED, user)] * 2


def test_the_schema_describes_the_api(client):
    response = client.get(reverse("api_schema"), {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "Sketch inversion API"
    assert "/api/v1/cases/{id}/sketches/" in schema["paths"]
    assert "/api/v1/audit-events/" in schema["paths"]
