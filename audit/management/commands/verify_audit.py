"""Walk the audit trail's hash chain and say whether it is intact.

Exit status: 0 intact; 1 broken (the message names the first broken event
and why); 2 intact but the append-only triggers are missing or switched off.
The result is appended to the audit trail (``audit_verified``) unless
``--no-record`` is given; the auditor's page shows the latest.

``--anchor FILE`` keeps the chain head outside the database: when FILE
exists, the event it names must still carry the hash recorded there; when
the chain is intact, FILE is then updated to the current head. Keep FILE
where the database's owner cannot write (another host, write-once storage).
"""

import json
import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit import integrity


class Command(BaseCommand):
    help = "Check the audit trail's hash chain: exit 0 when intact, non-zero naming the first broken event."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--anchor",
            type=Path,
            metavar="FILE",
            help="A file outside the database with a chain head: checked when it exists, updated when intact.",
        )
        parser.add_argument("--no-record", action="store_true", help="Do not append the result to the audit trail.")

    def handle(self, *args, anchor: Path | None = None, no_record: bool = False, **options) -> None:
        kept = read_anchor(anchor) if anchor is not None and anchor.exists() else None
        report = integrity.verify_chain(kept)
        if not no_record:
            integrity.record_verification(report)
        triggers = (
            f"The append-only triggers are missing or disabled: {', '.join(report.missing_triggers)}."
            if report.missing_triggers
            else ""
        )
        if not report.intact:
            raise CommandError(" ".join(filter(None, [report.summary(), triggers])), returncode=1)
        if triggers:
            raise CommandError(f"{report.summary()}. {triggers} Run `manage.py migrate`.", returncode=2)
        if anchor is not None:
            write_anchor(anchor, report.head)
        self.stdout.write(report.summary())


def read_anchor(path: Path) -> integrity.Anchor:
    try:
        kept = json.loads(path.read_text())
        return integrity.Anchor(sequence=int(kept["sequence"]), hash=str(kept["hash"]))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CommandError(f"Cannot read the anchor file {path}: {error}") from None


def write_anchor(path: Path, head: integrity.Anchor) -> None:
    """Replace ``path`` atomically: a crash leaves the old anchor, never half a new one."""
    part = path.with_name(path.name + ".part")
    content = {"sequence": head.sequence, "hash": head.hash, "written_at": timezone.now().isoformat()}
    part.write_text(json.dumps(content, indent=2) + "\n")
    os.replace(part, path)
