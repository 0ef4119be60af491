"""Staff manage users, cases and memberships in the Django admin; evidence and audit events are read-only there."""

import pytest
from django.urls import reverse

from cases.models import AuditEvent, CaseMembership


def test_a_change_made_in_the_admin_is_audited(client, admin, case, audit_log):
    client.force_login(admin)
    audit_log.mark()

    response = client.post(
        reverse("admin:cases_case_change", args=[case.pk]),
        {
            "reference": case.reference,
            "title": "Renamed in admin",
            "description": "",
            "status": "open",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content
    (event,) = audit_log.new()
    assert (event.action, event.user, event.case) == (AuditEvent.Action.ADMIN_ACTION, admin, case)
    assert event.details["operation"] == "change"


def test_granting_a_membership_in_the_admin_is_audited(client, admin, case, outsider, audit_log):
    client.force_login(admin)
    audit_log.mark()

    client.post(
        reverse("admin:cases_casemembership_add"),
        {"case": case.pk, "user": outsider.pk, "role": CaseMembership.Role.INVESTIGATOR},
    )

    assert CaseMembership.objects.get(case=case, user=outsider).granted_by == admin
    assert [event.action for event in audit_log.new()] == [AuditEvent.Action.ADMIN_ACTION]


@pytest.mark.parametrize("view", ["add", "delete", "change"])
def test_audit_events_cannot_be_added_changed_or_deleted_in_the_admin(client, admin, case, view):
    client.force_login(admin)
    event = AuditEvent.objects.first()

    if view == "add":
        response = client.post(reverse("admin:cases_auditevent_add"), {})
    elif view == "delete":
        response = client.post(reverse("admin:cases_auditevent_delete", args=[event.pk]), {"post": "yes"})
    else:
        response = client.post(reverse("admin:cases_auditevent_change", args=[event.pk]), {"username": "x"})

    assert response.status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk, username=event.username).exists()


def test_cases_cannot_be_deleted_in_the_admin(client, admin, case):
    client.force_login(admin)

    response = client.post(reverse("admin:cases_case_delete", args=[case.pk]), {"post": "yes"})

    assert response.status_code == 403


def test_non_staff_cannot_open_the_admin(client, artist):
    client.force_login(artist)

    response = client.get(reverse("admin:index"))

    assert response.status_code == 302
