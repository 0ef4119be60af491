"""``manage.py sweep_custody``: re-hash every stored file now, in the foreground.

The same sweep Celery beat runs every ``CUSTODY_SWEEP_INTERVAL`` seconds
(``cases.custody_sweep``), with a progress bar on a terminal. It refuses to
start while another sweep runs, and exits with an error when a file failed
its check or the sweep was interrupted, so a script can tell.
"""

import sys

from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import filesizeformat
from tqdm import tqdm

from cases import custody_sweep
from cases.models import CustodySweep


class Command(BaseCommand):
    help = "Re-hash every stored file against its recorded SHA-256; record each missing or altered one."

    def handle(self, *args, **options) -> None:
        bar = tqdm(unit="file", disable=not sys.stderr.isatty())

        def report(sweep: CustodySweep) -> None:
            bar.total = sweep.files_total
            bar.set_postfix(failures=sweep.failures, refresh=False)
            bar.update(sweep.files_checked - bar.n)

        try:
            sweep = custody_sweep.run(CustodySweep.Source.COMMAND, report=report)
        except custody_sweep.AlreadyRunning as error:
            raise CommandError(str(error)) from None
        finally:
            bar.close()
        self.stdout.write(
            f"Checked {sweep.files_checked} of {sweep.files_total} files "
            f"({filesizeformat(sweep.bytes_checked)}): {sweep.failures} failed."
        )
        if sweep.status == CustodySweep.Status.INTERRUPTED:
            raise CommandError(f"The sweep was interrupted: {sweep.last_error}")
        if sweep.failures:
            raise CommandError(
                f"{sweep.failures} file(s) are missing or altered; each is recorded as integrity_failed "
                "and listed on the audit chain page."
            )
