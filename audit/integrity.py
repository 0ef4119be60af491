"""Checking the audit trail's hash chain, and remembering when it was last checked.

``verify_chain`` walks every event in sequence order and reports the first
place the chain breaks:

- ``gap``: an event is missing (a sequence number was skipped);
- ``altered``: an event's content no longer hashes to its stored hash
  (edited, or moved to another sequence number);
- ``broken_link``: an event's ``prev_hash`` is not the previous event's hash
  (an event was replaced or the chain was rewritten from there on);
- ``missing_tail``: the chain head names a later event than the last one
  stored (events were removed from the end);
- ``head_mismatch``: the chain head holds another hash for the last event;
- ``head_missing``, ``head_behind``: the chain head was removed, or moved
  back to hide the events after it;
- ``anchor``: the event at a sequence number kept outside the database
  (``verify_audit --anchor``) no longer has the hash recorded there: the
  chain was rewritten and re-hashed after the anchor was written.

Someone with the database owner's rights can switch the triggers off and
re-hash the whole chain; only an anchor kept elsewhere reveals that, which
is why ``verify_audit`` can write one. The report also says whether the
append-only triggers are in place and enabled for every session.

``record_verification`` appends the result to the audit trail itself
(``audit_verified``), and ``last_verification`` reads the latest for the
auditor's page.
"""

from dataclasses import asdict, dataclass, field

from django.db import connection

from . import trail
from .actions import Action, Outcome
from .models import AuditChainHead, AuditEvent
from .triggers import ALWAYS, TRIGGERS


@dataclass(frozen=True)
class ChainBreak:
    """Where the chain first breaks: the sequence number, the kind of break and an explanation."""

    sequence: int
    problem: str
    explanation: str


@dataclass(frozen=True)
class Anchor:
    """A chain head recorded outside the database."""

    sequence: int
    hash: str


@dataclass(frozen=True)
class ChainReport:
    events: int
    head: Anchor
    first_break: ChainBreak | None = None
    missing_triggers: tuple[str, ...] = field(default=())

    @property
    def intact(self) -> bool:
        return self.first_break is None

    @property
    def protected(self) -> bool:
        return not self.missing_triggers

    def summary(self) -> str:
        if self.first_break is not None:
            return f"Audit chain broken at event #{self.first_break.sequence}: {self.first_break.explanation}"
        return f"Audit chain intact: {self.events} events, head #{self.head.sequence} {self.head.hash}"

    def as_details(self) -> dict:
        return {
            "intact": self.intact,
            "events": self.events,
            "head": asdict(self.head),
            "first_break": asdict(self.first_break) if self.first_break else None,
            "missing_triggers": list(self.missing_triggers),
        }


def verify_chain(anchor: Anchor | None = None, *, chunk_size: int = 2000) -> ChainReport:
    """Walk the whole chain and report its first break, if any.

    Reads the chain head first and only the events up to it, so that events
    appended meanwhile by other writers are left for the next check.
    """
    head_row = AuditChainHead.objects.filter(pk=1).first()
    head = Anchor(head_row.sequence, head_row.hash) if head_row else Anchor(0, trail.GENESIS_HASH)
    missing_triggers = tuple(missing_append_only_triggers())
    expected, previous_hash, count = 1, trail.GENESIS_HASH, 0
    anchor_checked = anchor is None or anchor.sequence == 0

    def broken(sequence: int, problem: str, explanation: str) -> ChainReport:
        return ChainReport(count, head, ChainBreak(sequence, problem, explanation), missing_triggers)

    if head_row is None and AuditEvent.objects.exists():
        return broken(1, "head_missing", "the chain head is gone, so the newest events cannot be checked")
    events = AuditEvent.objects.filter(sequence__lte=head.sequence).order_by("sequence")
    for event in events.iterator(chunk_size=chunk_size):
        if event.sequence != expected:
            last = f"#{expected - 1}" if expected > 1 else "the start of the chain"
            return broken(expected, "gap", f"event #{expected} is missing: event #{event.sequence} follows {last}")
        if trail.compute_hash(event) != event.hash:
            return broken(
                event.sequence,
                "altered",
                "its content no longer matches its hash: it was edited or moved from another place in the chain",
            )
        if event.prev_hash != previous_hash:
            return broken(
                event.sequence,
                "broken_link",
                f"it does not point to the hash of event #{expected - 1}: an event before it was replaced",
            )
        if anchor is not None and event.sequence == anchor.sequence:
            if event.hash != anchor.hash:
                return broken(
                    event.sequence,
                    "anchor",
                    "its hash differs from the one kept outside the database: the chain was rewritten",
                )
            anchor_checked = True
        previous_hash, expected, count = event.hash, expected + 1, count + 1

    if expected - 1 != head.sequence:
        return broken(
            expected,
            "missing_tail",
            f"the chain head names event #{head.sequence} but the last event stored is #{expected - 1}",
        )
    if previous_hash != head.hash:
        return broken(
            head.sequence,
            "head_mismatch",
            "the chain head records a different hash for this event: the chain was rewritten",
        )
    beyond = AuditEvent.objects.filter(sequence__gt=head.sequence).order_by("sequence").first()
    if beyond is not None and AuditChainHead.objects.get(pk=1).sequence < beyond.sequence:
        # Not an event appended while this check ran: the head was moved back.
        return broken(
            beyond.sequence,
            "head_behind",
            f"it is stored after the event the chain head names (#{head.sequence}): the head was moved back",
        )
    if not anchor_checked:
        return broken(
            anchor.sequence,
            "anchor",
            f"the event kept outside the database is missing: the chain now ends at #{head.sequence}",
        )
    return ChainReport(count, head, None, missing_triggers)


def missing_append_only_triggers() -> list[str]:
    """The append-only triggers that are absent, or on PostgreSQL not enabled for every session.

    A trigger left to fire only in ordinary sessions (``ENABLE TRIGGER``,
    state 'O') is skipped by a session with ``session_replication_role =
    replica``; one set to ``ENABLE REPLICA TRIGGER`` ('R') is skipped by
    every ordinary session; a disabled one ('D') never fires. Only
    ``ENABLE ALWAYS`` ('A') guards the tables against every session.
    """
    expected = TRIGGERS.get(connection.vendor, ())
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgenabled = %s "
                "AND tgrelid IN ('cases_auditevent'::regclass, 'cases_auditchainhead'::regclass)",
                [ALWAYS],
            )
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        present = {name for (name,) in cursor.fetchall()}
    return [name for name in expected if name not in present]


def record_verification(report: ChainReport, *, user=None, request=None, source: str = "verify_audit") -> AuditEvent:
    """Append the result of a check to the audit trail, where the auditor's page finds it."""
    return trail.record(
        Action.AUDIT_VERIFIED,
        user=user,
        request=request,
        username=None if user else source,
        object_type="auditchain",
        object_id=report.head.sequence,
        outcome=Outcome.SUCCESS if report.intact and report.protected else Outcome.FAILED,
        details=report.as_details() | {"source": source},
    )


def last_verification() -> AuditEvent | None:
    """The latest ``audit_verified`` event: when the chain was last checked, and the result."""
    return AuditEvent.objects.filter(action=Action.AUDIT_VERIFIED).order_by("-sequence").first()


def custody_failures():
    """Every time a stored file failed its hash check, newest first, for the auditor."""
    return AuditEvent.objects.filter(action=Action.INTEGRITY_FAILED).order_by("-sequence")
