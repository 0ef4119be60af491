"""Every state change writes exactly one audit event, in the same transaction, on one hash chain."""

import io
import itertools

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

import audit
from audit import trail
from audit.models import AuditEvent
from cases import services
from cases.models import Case, CaseMembership, Composite

from .factories import PASSWORD, UserFactory, png_bytes

Action = AuditEvent.Action
Role = CaseMembership.Role


def test_opening_a_case_writes_one_event(artist, audit_log):
    case = services.create_case(user=artist, reference="2026-CID-0100", title="Bag snatch")

    (event,) = audit_log.new()
    assert (event.action, event.case, event.user, event.outcome) == (Action.CASE_CREATED, case, artist, "success")
    assert CaseMembership.objects.get(case=case, user=artist).role == Role.CASE_LEAD


def test_updating_a_case_writes_one_event_with_the_changes(lead, case, audit_log):
    services.update_case(case, user=lead, title="Armed robbery", description=case.description)

    (event,) = audit_log.new()
    assert event.action == Action.CASE_UPDATED
    assert event.details["changes"] == {"title": ["Street robbery", "Armed robbery"]}


def test_an_update_that_changes_nothing_writes_nothing(lead, case, audit_log):
    services.update_case(case, user=lead, title=case.title, description=case.description)

    assert audit_log.new() == []


@pytest.mark.parametrize(
    ("status", "action"),
    [(Case.Status.CLOSED, Action.CASE_CLOSED), (Case.Status.ARCHIVED, Action.CASE_ARCHIVED)],
)
def test_closing_or_archiving_writes_one_event(lead, case, audit_log, status, action):
    services.set_case_status(case, status, user=lead, reason="Suspect charged")

    (event,) = audit_log.new()
    assert event.action == action
    assert event.details == {"from": "open", "to": status, "reason": "Suspect charged"}
    assert Case.objects.get(pk=case.pk).status == status


def test_a_refused_transition_changes_nothing_and_records_nothing(lead, case, audit_log):
    services.set_case_status(case, Case.Status.CLOSED, user=lead)
    audit_log.mark()

    with pytest.raises(ValidationError):
        services.set_case_status(case, Case.Status.CLOSED, user=lead)

    assert audit_log.new() == []
    assert Case.objects.get(pk=case.pk).status == Case.Status.CLOSED


def test_an_archived_case_cannot_be_reopened(admin, case):
    services.set_case_status(case, Case.Status.ARCHIVED, user=admin)

    with pytest.raises(PermissionDenied):
        services.set_case_status(case, Case.Status.OPEN, user=admin)

    assert Case.objects.get(pk=case.pk).status == Case.Status.ARCHIVED


def test_granting_changing_and_revoking_a_membership_write_one_event_each(lead, outsider, case, audit_log):
    services.grant_membership(case, outsider, Role.FORENSIC_ARTIST, user=lead)
    services.grant_membership(case, outsider, Role.FORENSIC_ARTIST, user=lead)  # no change, no event
    services.grant_membership(case, outsider, Role.INVESTIGATOR, user=lead)
    services.revoke_membership(case, outsider, user=lead)

    assert [event.action for event in audit_log.new()] == [
        Action.MEMBERSHIP_GRANTED,
        Action.MEMBERSHIP_CHANGED,
        Action.MEMBERSHIP_REVOKED,
    ]
    assert not CaseMembership.objects.filter(case=case, user=outsider).exists()


def test_the_last_case_lead_cannot_be_removed(lead, case, audit_log):
    with pytest.raises(ValidationError):
        services.revoke_membership(case, lead, user=lead)

    assert audit_log.new() == []
    assert CaseMembership.objects.filter(case=case, user=lead, role=Role.CASE_LEAD).exists()


def test_uploading_a_sketch_writes_one_event_with_its_hash(artist, case, audit_log):
    sketch = services.add_sketch(case, io.BytesIO(png_bytes()), user=artist, style="line", filename="witness.png")

    (event,) = audit_log.new()
    assert event.action == Action.SKETCH_UPLOADED
    assert event.details["sha256"] == sketch.sha256
    assert event.case == case


def test_requesting_and_releasing_a_composite_write_one_event_each(artist, investigator, case, audit_log):
    sketch = services.add_sketch(case, io.BytesIO(png_bytes()), user=artist, style="line")
    audit_log.mark()

    composite, _ = services.request_composite(sketch, "line", user=artist, parameters={"box": [0, 0, 64, 48]})
    Composite.objects.filter(pk=composite.pk).update(status=Composite.Status.DONE, output_sha256="a" * 64)
    services.release_composite(composite, user=investigator, reason="Media appeal")

    assert [event.action for event in audit_log.new()] == [Action.COMPOSITE_REQUESTED, Action.COMPOSITE_RELEASED]
    composite.refresh_from_db()
    assert composite.released and composite.released_by == investigator


def test_a_failed_change_leaves_neither_the_change_nor_the_event(artist, case, audit_log):
    with pytest.raises(IntegrityError), transaction.atomic():
        services.create_case(user=artist, reference=case.reference, title="Duplicate reference")

    assert audit_log.new() == []
    assert Case.objects.filter(reference=case.reference).count() == 1


def test_an_event_rolls_back_with_the_transaction_that_wrote_it(lead, case, audit_log):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.update_case(case, user=lead, title="Changed", description="")
        raise RuntimeError("the request failed after the change")

    assert audit_log.new() == []
    assert Case.objects.get(pk=case.pk).title == "Street robbery"


def test_each_event_links_to_the_previous_one(lead, outsider, case):
    services.grant_membership(case, outsider, Role.INVESTIGATOR, user=lead)
    services.update_case(case, user=lead, title="Renamed", description="")
    services.set_case_status(case, Case.Status.CLOSED, user=lead)

    chain = list(AuditEvent.objects.order_by("sequence"))
    assert [event.sequence for event in chain] == list(range(1, len(chain) + 1))
    assert chain[0].prev_hash == trail.GENESIS_HASH
    for previous, event in itertools.pairwise(chain):
        assert event.prev_hash == previous.hash
    assert all(event.hash == trail.compute_hash(event) for event in chain)


def test_the_stored_event_hashes_to_its_recorded_hash(lead, case):
    event = audit.record(Action.CASE_UPDATED, user=lead, obj=case, details={"note": "naïve café", "n": 1.5})

    stored = AuditEvent.objects.get(pk=event.pk)

    assert trail.compute_hash(stored) == stored.hash == event.hash


def test_altering_an_event_changes_its_hash(lead, case):
    event = AuditEvent.objects.get(pk=audit.record(Action.CASE_UPDATED, user=lead, obj=case).pk)

    event.username = "someone-else"

    assert trail.compute_hash(event) != event.hash


def test_events_cannot_be_edited_or_deleted_through_the_orm(lead, case):
    event = audit.record(Action.CASE_UPDATED, user=lead, obj=case)

    with pytest.raises(ValueError):
        event.save()
    with pytest.raises(ValueError):
        event.delete()


def test_login_success_failure_and_logout_are_audited(client, audit_log):
    user = UserFactory(username="dora")
    audit_log.mark()

    client.post(reverse("login"), {"username": "dora", "password": "wrong-password"})
    client.post(reverse("login"), {"username": "dora", "password": PASSWORD})
    client.post(reverse("logout"))

    failed, succeeded, logged_out = audit_log.new()
    assert (failed.action, failed.outcome, failed.user, failed.username) == (
        Action.LOGIN_FAILED,
        "failed",
        None,
        "dora",
    )
    assert (succeeded.action, succeeded.user) == (Action.LOGIN_SUCCEEDED, user)
    assert (logged_out.action, logged_out.user) == (Action.LOGOUT, user)
    assert "wrong-password" not in str(failed.details)


def test_password_change_is_audited(client, audit_log):
    user = UserFactory(username="erin")
    client.force_login(user)
    audit_log.mark()

    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a-new-long-passphrase-4",
            "new_password2": "a-new-long-passphrase-4",
        },
    )

    assert response.status_code == 302
    (event,) = audit_log.new()
    assert (event.action, event.user) == (Action.PASSWORD_CHANGED, user)
