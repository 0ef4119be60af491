"""What each role may do on a case."""

import io

import pytest
from django.core.exceptions import PermissionDenied

from audit.models import AuditEvent
from audit.trail import can_view_audit
from cases import services
from cases.access import Ability, abilities, can_create_case
from cases.models import Case, CaseMembership

from .factories import png_bytes
from .state import nothing_changes

EVERYTHING = set(Ability)


def test_forensic_artist_draws_and_requests_composites(artist, case):
    assert abilities(artist, case) == {
        Ability.VIEW_CASE,
        Ability.UPLOAD_SKETCH,
        Ability.REQUEST_COMPOSITE,
        Ability.COMPARE,
    }


def test_investigator_compares_releases_and_exports(investigator, case):
    assert abilities(investigator, case) == {
        Ability.VIEW_CASE,
        Ability.COMPARE,
        Ability.RELEASE_COMPOSITE,
        Ability.EXPORT_CASE,
        Ability.ADD_CANDIDATE_PHOTO,
        Ability.MAKE_MORPH,
    }


def test_case_lead_may_do_everything_on_an_open_case(lead, case):
    assert abilities(lead, case) == EVERYTHING


def test_auditor_has_no_case_abilities_but_reads_the_audit_trail(auditor, case):
    assert abilities(auditor, case) == set()
    assert can_view_audit(auditor)
    assert not can_create_case(auditor)


def test_admin_manages_a_case_but_does_not_handle_evidence(admin, case):
    assert abilities(admin, case) == {Ability.VIEW_CASE, Ability.EDIT_CASE, Ability.MANAGE_MEMBERS}
    assert can_view_audit(admin)


def test_non_member_has_no_abilities(outsider, case):
    assert abilities(outsider, case) == set()


def test_artists_and_investigators_may_open_cases_auditors_may_not(artist, investigator, auditor):
    assert can_create_case(artist)
    assert can_create_case(investigator)
    assert not can_create_case(auditor)


def test_only_auditors_and_admins_read_the_audit_trail(artist, investigator, lead):
    assert not any(can_view_audit(user) for user in (artist, investigator, lead))


@pytest.mark.parametrize("status", [Case.Status.CLOSED, Case.Status.ARCHIVED])
def test_a_case_that_is_not_open_takes_no_new_evidence(lead, case, status):
    case.status = status
    case.save(update_fields=["status"])

    assert not abilities(lead, case) & {Ability.UPLOAD_SKETCH, Ability.REQUEST_COMPOSITE, Ability.RELEASE_COMPOSITE}
    assert Ability.VIEW_CASE in abilities(lead, case)


def test_archived_case_can_no_longer_be_edited(lead, case):
    case.status = Case.Status.ARCHIVED
    case.save(update_fields=["status"])

    assert Ability.EDIT_CASE not in abilities(lead, case)


def test_investigator_cannot_upload_a_sketch_and_the_refusal_is_audited(investigator, case, audit_log):
    with nothing_changes(), pytest.raises(PermissionDenied):
        services.add_sketch(case, io.BytesIO(png_bytes()), user=investigator, style="line")

    (event,) = audit_log.new()
    assert event.action == AuditEvent.Action.ACCESS_DENIED
    assert event.details["ability"] == Ability.UPLOAD_SKETCH
    assert event.role == CaseMembership.Role.INVESTIGATOR


def test_artist_cannot_grant_memberships(artist, outsider, case, audit_log):
    with nothing_changes(), pytest.raises(PermissionDenied):
        services.grant_membership(case, outsider, CaseMembership.Role.FORENSIC_ARTIST, user=artist)

    assert not CaseMembership.objects.filter(case=case, user=outsider).exists()
    assert [event.action for event in audit_log.new()] == [AuditEvent.Action.ACCESS_DENIED]


def test_auditor_cannot_open_a_case(auditor, audit_log):
    with nothing_changes(), pytest.raises(PermissionDenied):
        services.create_case(user=auditor, reference="2026-X-1", title="Nope")

    assert not Case.objects.filter(reference="2026-X-1").exists()
    assert [event.action for event in audit_log.new()] == [AuditEvent.Action.ACCESS_DENIED]
