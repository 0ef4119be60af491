"""``manage.py recover_composites``: re-enqueue composites left requested or
running too long, e.g. after the broker lost its jobs. Celery beat runs the
same sweep every ``COMPOSITE_RECOVERY_INTERVAL`` seconds."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand

from cases.tasks import recover_stalled, resend_lost


class Command(BaseCommand):
    help = "Re-enqueue composites left requested or running longer than a timeout."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            default=settings.COMPOSITE_STALE_AFTER,
            metavar="SECONDS",
            help="Only composites waiting or running at least this long (default: COMPOSITE_STALE_AFTER, %(default)s).",
        )

    def handle(self, *args, older_than: int, **options) -> None:
        lost = resend_lost()
        if lost:
            self.stdout.write(f"Re-sent {len(lost)} job(s) the broker no longer held: {', '.join(map(str, lost))}")
        ids = [pk for pk in recover_stalled(timedelta(seconds=older_than)) if pk not in lost]
        if ids:
            self.stdout.write(f"Re-enqueued {len(ids)} composite(s): {', '.join(map(str, ids))}")
        elif not lost:
            self.stdout.write("No lost jobs and no stalled composites.")
