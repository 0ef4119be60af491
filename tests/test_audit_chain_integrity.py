"""The audit chain is append-only in the database, and verify_audit finds any tampering.

Tampering tests play an attacker holding the database owner's rights: they
switch the append-only triggers off (``ALTER TABLE ... DISABLE TRIGGER`` on
PostgreSQL, dropping them on SQLite), change rows, and switch them on again.
"""

import contextlib
import json
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, connections, transaction
from django.urls import reverse

import audit
from audit import integrity, trail
from audit.models import AuditChainHead, AuditEvent
from audit.triggers import TABLES

from . import triggers

Action = AuditEvent.Action


@pytest.fixture
def chain(lead, case) -> list[AuditEvent]:
    """Six events, #1 to #6 (opening the case wrote none: the fixtures use factories)."""
    for number in range(6):
        audit.record(Action.EVIDENCE_VIEWED, user=lead, case=case, details={"view": number})
    return list(AuditEvent.objects.order_by("sequence"))


def switch_triggers(on: bool) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # ALTER TABLE waits for no deferred foreign key check: run them now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for statement in triggers.statements(connection.vendor, on=on):
            cursor.execute(statement)
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


@contextlib.contextmanager
def as_database_owner():
    """Switch the append-only triggers off for the block, as only the database owner can."""
    switch_triggers(on=False)
    try:
        yield
    finally:
        switch_triggers(on=True)


def verify(*arguments: str) -> CommandError | None:
    """Run ``manage.py verify_audit``; the error it exits with, or None when it exits 0."""
    try:
        call_command("verify_audit", *arguments)
    except CommandError as error:
        return error
    return None


def rehash_from(sequence: int) -> None:
    """Recompute the chain from ``sequence`` on, and its head, as a careful attacker would."""
    previous = AuditEvent.objects.filter(sequence=sequence - 1).values_list("hash", flat=True).first()
    previous = previous or trail.GENESIS_HASH
    for event in AuditEvent.objects.filter(sequence__gte=sequence).order_by("sequence"):
        event.prev_hash = previous
        previous = trail.compute_hash(event)
        AuditEvent.objects.filter(pk=event.pk).update(prev_hash=event.prev_hash, hash=previous)
    AuditChainHead.objects.filter(pk=1).update(hash=previous)


# The database refuses changes


def refused(sql: str, *params) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    except DatabaseError:
        return True
    return False


def test_the_database_refuses_to_update_or_delete_an_audit_event(chain):
    assert refused("UPDATE cases_auditevent SET outcome = 'denied' WHERE sequence = 3")
    assert refused("DELETE FROM cases_auditevent WHERE sequence = 3")
    assert refused("DELETE FROM cases_auditevent")
    assert AuditEvent.objects.count() == 6


def test_querysets_cannot_update_or_delete_audit_events_either(chain):
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(sequence=2).update(username="someone-else")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(sequence=2).delete()

    assert AuditEvent.objects.get(sequence=2).username == "lead"


def test_postgresql_refuses_to_truncate_the_audit_trail(chain):
    if connection.vendor != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's; SQLite has only DELETE, refused above")

    assert refused("TRUNCATE cases_auditevent CASCADE")
    assert refused("TRUNCATE cases_auditchainhead")


def test_the_chain_head_cannot_be_moved_back_or_removed(chain):
    assert refused("UPDATE cases_auditchainhead SET sequence = 4, hash = %s", chain[3].hash)
    assert refused("UPDATE cases_auditchainhead SET sequence = 7, hash = %s", "f" * 64)
    assert refused("DELETE FROM cases_auditchainhead")
    assert AuditChainHead.objects.get().sequence == 6


# verify_audit


def test_an_intact_chain_verifies_and_the_check_is_recorded(chain, capsys):
    assert verify() is None

    assert "Audit chain intact: 6 events, head #6" in capsys.readouterr().out
    last = integrity.last_verification()
    assert (last.sequence, last.outcome, last.username) == (7, "success", "verify_audit")
    assert last.details["intact"] is True
    assert last.details["head"] == {"sequence": 6, "hash": chain[-1].hash}


def test_an_empty_chain_is_intact(db):
    assert integrity.verify_chain().intact


def test_an_altered_event_is_named_with_its_sequence_number(chain):
    with as_database_owner():
        AuditEvent.objects.filter(sequence=3).update(username="somebody-else")

    error = verify()

    assert error.returncode == 1
    assert "broken at event #3: its content no longer matches its hash" in str(error)
    assert integrity.last_verification().outcome == "failed"


def test_a_deleted_event_is_reported_as_a_gap(chain):
    with as_database_owner():
        AuditEvent.objects.filter(sequence=4).delete()

    error = verify()

    assert error.returncode == 1
    assert "broken at event #4: event #4 is missing: event #5 follows #3" in str(error)


def test_reordered_events_are_caught(chain):
    with as_database_owner():
        AuditEvent.objects.filter(sequence=3).update(sequence=100)
        AuditEvent.objects.filter(sequence=4).update(sequence=3)
        AuditEvent.objects.filter(sequence=100).update(sequence=4)

    report = integrity.verify_chain()

    assert (report.first_break.sequence, report.first_break.problem) == (3, "altered")


def test_a_replaced_event_breaks_the_link_from_the_next_one(chain):
    with as_database_owner():
        AuditEvent.objects.filter(sequence=2).update(username="somebody-else")
        event = AuditEvent.objects.get(sequence=2)
        AuditEvent.objects.filter(sequence=2).update(hash=trail.compute_hash(event))

    report = integrity.verify_chain()

    assert (report.first_break.sequence, report.first_break.problem) == (3, "broken_link")


def test_events_removed_from_the_end_are_noticed_through_the_chain_head(chain):
    with as_database_owner():
        AuditEvent.objects.filter(sequence__gte=5).delete()

    report = integrity.verify_chain()

    assert (report.first_break.sequence, report.first_break.problem) == (5, "missing_tail")


def test_a_chain_head_moved_back_to_hide_the_newest_events_is_caught(chain):
    with as_database_owner():
        AuditChainHead.objects.filter(pk=1).update(sequence=4, hash=chain[3].hash)

    report = integrity.verify_chain()

    assert (report.first_break.sequence, report.first_break.problem) == (5, "head_behind")


def test_a_removed_chain_head_is_caught(chain):
    with as_database_owner():
        AuditChainHead.objects.all().delete()

    report = integrity.verify_chain()

    assert (report.first_break.sequence, report.first_break.problem) == (1, "head_missing")


def test_a_rewritten_and_rehashed_chain_is_caught_by_the_anchor_kept_outside(chain, tmp_path):
    anchor = tmp_path / "audit-anchor.json"
    assert verify("--anchor", str(anchor), "--no-record") is None
    assert json.loads(anchor.read_text())["hash"] == chain[-1].hash

    with as_database_owner():
        AuditEvent.objects.filter(sequence=2).update(details={"view": "never happened"})
        rehash_from(2)
    assert integrity.verify_chain().intact  # without the anchor, a consistent forgery

    error = verify("--anchor", str(anchor))

    assert error.returncode == 1
    assert "broken at event #6: its hash differs from the one kept outside the database" in str(error)
    assert json.loads(anchor.read_text())["hash"] == chain[-1].hash  # a broken chain does not move the anchor


def test_the_anchor_moves_forward_with_an_intact_chain(chain, lead, tmp_path):
    anchor = tmp_path / "audit-anchor.json"
    assert verify("--anchor", str(anchor), "--no-record") is None
    newest = audit.record(Action.AUDIT_VIEWED, user=lead)

    assert verify("--anchor", str(anchor), "--no-record") is None

    assert json.loads(anchor.read_text())["sequence"] == newest.sequence


def test_missing_triggers_fail_the_check_even_when_the_chain_is_intact(chain):
    with as_database_owner():
        error = verify("--no-record")

    assert error.returncode == 2
    assert "append-only triggers are missing or disabled" in str(error)


@pytest.mark.parametrize("state", ["ENABLE REPLICA", "ENABLE", "DISABLE"])
def test_a_trigger_that_does_not_fire_in_every_session_fails_the_check(chain, state):
    """Replica-only triggers skip ordinary sessions; origin-only ones skip a session with
    ``session_replication_role = replica``; only ``ENABLE ALWAYS`` guards against both."""
    if connection.vendor != "postgresql":
        pytest.skip("trigger firing states are PostgreSQL's")
    name, table = next(iter(TABLES.items()))

    def alter(to: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE waits for no deferred check
            cursor.execute(f"ALTER TABLE {table} {to} TRIGGER {name}")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")

    alter(state)
    try:
        error = verify("--no-record")
    finally:
        alter("ENABLE ALWAYS")

    assert error.returncode == 2
    assert name in str(error)
    assert verify("--no-record") is None


def test_an_unreadable_anchor_file_is_an_error_not_a_pass(chain, tmp_path):
    anchor = tmp_path / "audit-anchor.json"
    anchor.write_text("not json")

    assert "Cannot read the anchor file" in str(verify("--anchor", str(anchor)))


# The auditor's page


def test_the_auditor_verifies_the_chain_from_the_page_and_sees_the_result(client, chain, auditor):
    client.force_login(auditor)
    assert "has not been verified yet" in client.get(reverse("audit_chain")).text

    response = client.post(reverse("audit_chain"), follow=True)

    last = integrity.last_verification()
    assert (last.user, last.details["source"], last.outcome) == (auditor, "auditor", "success")
    head = last.details["head"]["sequence"]  # the chain, the auditor's login and page view
    assert f"Audit chain intact: {head} events" in response.text
    assert f"intact</span>, {head} events up to #{head}" in response.text


def test_the_page_shows_where_a_tampered_chain_breaks(client, chain, auditor):
    with as_database_owner():
        AuditEvent.objects.filter(sequence=3).update(username="somebody-else")
    client.force_login(auditor)

    response = client.post(reverse("audit_chain"), follow=True)

    assert "broken at event #3" in response.text
    assert integrity.last_verification().outcome == "failed"


def test_the_page_lists_files_that_failed_their_custody_check(client, chain, auditor, lead, case):
    audit.record(
        Action.INTEGRITY_FAILED,
        user=lead,
        case=case,
        outcome=audit.Outcome.FAILED,
        details={
            "file": "sketches/abc.png",
            "expected_sha256": "a" * 64,
            "actual_sha256": "b" * 64,
            "problem": "altered",
        },
    )
    client.force_login(auditor)

    response = client.get(reverse("audit_chain"))

    assert "sketches/abc.png" in response.text
    assert "b" * 64 in response.text


# Concurrent writers

WRITERS = 8
EVENTS_EACH = 200


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_eight_concurrent_writers_leave_one_intact_chain(lead, case):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite's test database is one in-memory connection")
    start = threading.Barrier(WRITERS)
    errors = []

    def write(writer: int) -> None:
        try:
            start.wait()
            for number in range(EVENTS_EACH):
                audit.record(Action.EVIDENCE_VIEWED, user=lead, case=case, details={"writer": writer, "n": number})
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(writer,)) for writer in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    report = integrity.verify_chain()
    assert report.intact, report.summary()
    assert report.events == WRITERS * EVENTS_EACH
    assert sorted(AuditEvent.objects.values_list("sequence", flat=True)) == list(range(1, WRITERS * EVENTS_EACH + 1))
