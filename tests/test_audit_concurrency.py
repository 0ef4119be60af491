"""Concurrent writers append to one audit chain: no forks, no gaps."""

import itertools
import threading

import pytest
from django.db import connection, connections

import audit
from audit import trail
from audit.models import AuditEvent

WRITERS = 4
EVENTS_EACH = 15


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_writers_leave_one_intact_chain(lead, case):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite's test database is one in-memory connection")
    start = threading.Barrier(WRITERS)
    errors = []

    def write() -> None:
        try:
            start.wait()
            for _ in range(EVENTS_EACH):
                audit.record(audit.Action.EVIDENCE_VIEWED, user=lead, case=case, object_type="case", object_id=case.pk)
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    chain = list(AuditEvent.objects.order_by("sequence"))
    assert [event.sequence for event in chain] == list(range(1, len(chain) + 1))
    assert sum(event.action == audit.Action.EVIDENCE_VIEWED for event in chain) == WRITERS * EVENTS_EACH
    for previous, event in itertools.pairwise(chain):
        assert event.prev_hash == previous.hash
        assert event.hash == trail.compute_hash(event)
