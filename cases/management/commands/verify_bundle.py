"""``manage.py verify_bundle ZIP``: check a case bundle against this system.

Runs the offline checks an examiner runs (``cases/bundle/verify_bundle.py``),
then says which export the bundle was (the ``case_exported`` event holding
its manifest's SHA-256), whether it is still exactly that export, whether it
was signed by this system's key, whether the audit chain in the database
agrees with the bundle's chain proof (no withheld event belongs to the case),
and what changed since: the case's stored files re-hashed, files added, the
case's new events, the whole chain verified. Exit status 0 when all of that
holds, 1 otherwise. Reads only; records nothing, except an
``integrity_failed`` event for a stored file that no longer matches.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from cases.bundle import live


class Command(BaseCommand):
    help = "Check a case bundle against this system: which export it is and what changed since."

    def add_arguments(self, parser) -> None:
        parser.add_argument("bundle", type=Path, help="The bundle: the zip, or the folder it was unpacked into.")

    def handle(self, *args, bundle: Path, **options) -> None:
        report = live.check(bundle, self.stdout)
        if not report.ok:
            failures = len(report.offline.failures) + len(report.problems)
            raise CommandError(f"The bundle does not check out: {failures} problem(s), each marked FAIL above.")
        self.stdout.write("\nRESULT: this bundle is the export named above, unchanged.")
