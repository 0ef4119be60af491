"""The Django admin shows cases, memberships, evidence and the audit trail but changes none of them:
the pages and the API, through ``cases.services``, are the only write path. Staff still manage users there,
audited."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from cases.models import Case, CaseMembership


def test_a_user_changed_in_the_admin_is_audited(client, admin, outsider, audit_log):
    client.force_login(admin)
    audit_log.mark()

    response = client.post(reverse("admin:auth_user_delete", args=[outsider.pk]), {"post": "yes"})

    assert response.status_code == 302, response.content
    (event,) = audit_log.new()
    assert (event.action, event.user, event.details["operation"]) == (AuditEvent.Action.ADMIN_ACTION, admin, "delete")


def test_an_archived_case_cannot_be_reopened_in_the_admin(client, admin, case):
    Case.objects.filter(pk=case.pk).update(status=Case.Status.ARCHIVED)
    client.force_login(admin)

    response = client.post(
        reverse("admin:cases_case_change", args=[case.pk]),
        {"reference": case.reference, "title": case.title, "description": "", "status": "open"},
    )

    assert response.status_code == 403
    assert Case.objects.get(pk=case.pk).status == Case.Status.ARCHIVED


def test_the_last_case_lead_cannot_be_removed_in_the_admin(client, admin, case, lead):
    client.force_login(admin)
    membership = CaseMembership.objects.get(case=case, user=lead)

    deleted = client.post(reverse("admin:cases_casemembership_delete", args=[membership.pk]), {"post": "yes"})
    demoted = client.post(
        reverse("admin:cases_casemembership_change", args=[membership.pk]),
        {"case": case.pk, "user": lead.pk, "role": CaseMembership.Role.INVESTIGATOR},
    )

    assert (deleted.status_code, demoted.status_code) == (403, 403)
    assert CaseMembership.objects.get(pk=membership.pk).role == CaseMembership.Role.CASE_LEAD


def test_memberships_cannot_be_granted_in_the_admin(client, admin, case, outsider):
    client.force_login(admin)

    response = client.post(
        reverse("admin:cases_casemembership_add"),
        {"case": case.pk, "user": outsider.pk, "role": CaseMembership.Role.INVESTIGATOR},
    )

    assert response.status_code == 403
    assert not CaseMembership.objects.filter(user=outsider).exists()


def test_the_admin_still_shows_cases_and_their_members(client, admin, case, lead):
    client.force_login(admin)

    response = client.get(reverse("admin:cases_case_change", args=[case.pk]))

    assert response.status_code == 200
    assert case.reference in response.text and lead.username in response.text


@pytest.mark.parametrize("view", ["add", "delete", "change"])
def test_audit_events_cannot_be_added_changed_or_deleted_in_the_admin(client, admin, case, view):
    client.force_login(admin)
    event = AuditEvent.objects.first()

    if view == "add":
        response = client.post(reverse("admin:audit_auditevent_add"), {})
    elif view == "delete":
        response = client.post(reverse("admin:audit_auditevent_delete", args=[event.pk]), {"post": "yes"})
    else:
        response = client.post(reverse("admin:audit_auditevent_change", args=[event.pk]), {"username": "x"})

    assert response.status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk, username=event.username).exists()


def test_cases_cannot_be_deleted_in_the_admin(client, admin, case):
    client.force_login(admin)

    response = client.post(reverse("admin:cases_case_delete", args=[case.pk]), {"post": "yes"})

    assert response.status_code == 403
    assert Case.objects.filter(pk=case.pk).exists()


def test_non_staff_cannot_open_the_admin(client, artist):
    client.force_login(artist)

    response = client.get(reverse("admin:index"))

    assert response.status_code == 302
