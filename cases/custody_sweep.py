"""The custody sweep: every stored file re-hashed against the SHA-256 recorded for it.

Celery beat runs it every ``CUSTODY_SWEEP_INTERVAL`` seconds (task
``cases.custody_sweep``); ``manage.py sweep_custody`` runs it in the
foreground. It checks every file stored when it starts: sketches and
candidate photos as uploaded, finished composites, and what workers derived
from the evidence (working copies, face crops, thumbnails).

A file that is missing or no longer matches is recorded as
``integrity_failed`` naming the object, through ``cases.custody``, as a
download or an export would record it. Files are hashed a megabyte at a
time (from S3, straight from the object's body), so memory stays flat for
any size of file.

Each run is a ``CustodySweep`` row, its progress saved every
``PROGRESS_EVERY`` files or ``PROGRESS_SECONDS``; its start and end are
audit events (``custody_sweep_started``, ``custody_sweep_finished``), and the
auditor's integrity page shows the latest (``audit.sweeps``). A store that
does not answer (``custody.StorageUnavailable``) ends the run as
``interrupted`` and records nothing against the file; so do the time limit
and any other error.

One sweep at a time: the database allows one ``running`` row. A row whose
progress has not moved for ``STALE_AFTER`` belongs to a process that died;
the next sweep marks it interrupted and takes over, and a process that finds
its own row taken over stops.
"""

import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from botocore.exceptions import ClientError
from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import Count, FileField, Max
from django.db.models.fields.files import FieldFile
from django.utils import timezone

import audit
from audit import sweeps

from . import custody
from .models import CandidatePhoto, Composite, CustodySweep, WitnessSketch, WorkingCopy

log = logging.getLogger(__name__)

Status = CustodySweep.Status

#: Bytes read at a time.
CHUNK = 1024 * 1024
#: Rows read from the database at a time.
BATCH = 200
#: Progress is saved after this many files, or this many seconds, whichever comes first.
PROGRESS_EVERY = 25
PROGRESS_SECONDS = 5.0
#: A running sweep whose progress has not moved for this long has lost its process.
STALE_AFTER = timedelta(minutes=15)


class AlreadyRunning(Exception):
    """Another sweep is running; ``sweep`` is its row."""

    def __init__(self, sweep: CustodySweep | None) -> None:
        started = f" since {sweep.started_at:%Y-%m-%d %H:%M:%S} UTC" if sweep else ""
        super().__init__(f"A custody sweep is already running{started}; only one runs at a time.")
        self.sweep = sweep


class TakenOver(Exception):
    """This sweep's row was marked interrupted (no progress for ``STALE_AFTER``) and another sweep took over."""


@dataclass(frozen=True)
class Kind:
    """One kind of stored file: the rows that hold one, the file field and the field with its SHA-256."""

    rows: models.QuerySet
    file_field: str
    sha256_field: str

    def holding_a_file(self) -> models.QuerySet:
        return self.rows.exclude(**{self.file_field: ""}).exclude(**{self.sha256_field: ""})

    def stored_up_to(self, last_pk: int) -> Iterator[models.Model]:
        """The rows holding a file up to primary key ``last_pk``, a batch at a time (no cursor held open)."""
        after = 0
        while True:
            batch = list(self.holding_a_file().filter(pk__gt=after, pk__lte=last_pk).order_by("pk")[:BATCH])
            yield from batch
            if len(batch) < BATCH:
                return
            after = batch[-1].pk


def kinds() -> list[Kind]:
    """Every kind of file the app stores with a SHA-256: evidence, composites, and each file derived from evidence."""
    derived = [field.name for field in WorkingCopy._meta.fields if isinstance(field, FileField)]
    return [
        Kind(WitnessSketch.objects.select_related("case"), "original", "sha256"),
        Kind(CandidatePhoto.objects.select_related("case"), "image", "sha256"),
        Kind(
            Composite.objects.filter(status=Composite.Status.DONE).select_related("sketch__case"),
            "image",
            "output_sha256",
        ),
        *(
            Kind(model.objects.select_related("case"), name, f"{name}_sha256")
            for model in (WitnessSketch, CandidatePhoto)
            for name in derived
        ),
    ]


def files_stored_now() -> tuple[list[tuple[Kind, int]], int]:
    """What a sweep starting now checks: each kind with its last primary key, and the number of files."""
    plan, total = [], 0
    for kind in kinds():
        now = kind.holding_a_file().aggregate(last=Max("pk"), count=Count("pk"))
        plan.append((kind, now["last"] or 0))
        total += now["count"]
    return plan, total


class Progress:
    """Counts for one run, saved to its row every ``PROGRESS_EVERY`` files or ``PROGRESS_SECONDS``."""

    def __init__(self, sweep: CustodySweep, report: Callable[[CustodySweep], None] | None) -> None:
        self.sweep = sweep
        self.report = report
        self.saved_at = time.monotonic()
        self.unsaved = 0

    def file_checked(self, size: int, intact: bool) -> None:
        sweep = self.sweep
        sweep.files_checked += 1
        sweep.bytes_checked += size
        sweep.failures += not intact
        # A row that came to hold a file after the count (a composite finishing meanwhile) counts too.
        sweep.files_total = max(sweep.files_total, sweep.files_checked)
        self.unsaved += 1
        if self.unsaved >= PROGRESS_EVERY:
            self.save()
        else:
            self.heartbeat()
        if self.report is not None:
            self.report(sweep)

    def heartbeat(self) -> None:
        """Save if ``PROGRESS_SECONDS`` have passed (also called between the chunks of a large file)."""
        if time.monotonic() - self.saved_at >= PROGRESS_SECONDS:
            self.save()

    def save(self) -> None:
        sweep = self.sweep
        sweep.updated_at = timezone.now()
        saved = CustodySweep.objects.filter(pk=sweep.pk, status=Status.RUNNING).update(
            files_total=sweep.files_total,
            files_checked=sweep.files_checked,
            bytes_checked=sweep.bytes_checked,
            failures=sweep.failures,
            updated_at=sweep.updated_at,
        )
        if not saved:
            raise TakenOver(f"custody sweep {sweep.pk} was marked interrupted by another sweep")
        self.saved_at = time.monotonic()
        self.unsaved = 0


def run(
    source: str = CustodySweep.Source.SCHEDULE, *, report: Callable[[CustodySweep], None] | None = None
) -> CustodySweep:
    """Re-hash every file stored when it starts; the finished sweep (``done`` or ``interrupted``).

    ``report`` is called with the sweep after each file (the command's
    progress bar). Raises ``AlreadyRunning`` when another sweep runs. Call
    it outside any transaction: each failure is committed as it is found.
    """
    plan, total = files_stored_now()
    sweep = start(source, total)
    progress = Progress(sweep, report)
    try:
        for kind, last_pk in plan:
            for obj in kind.stored_up_to(last_pk):
                size, intact = check(obj, kind, progress.heartbeat)
                progress.file_checked(size, intact)
    except custody.StorageUnavailable as error:
        log.warning("custody sweep %s interrupted: %s", sweep.pk, error)
        return finish(sweep, Status.INTERRUPTED, f"The evidence store did not answer: {error}")
    except SoftTimeLimitExceeded:
        log.warning("custody sweep %s interrupted by its time limit", sweep.pk)
        return finish(sweep, Status.INTERRUPTED, "It ran past its time limit (CUSTODY_SWEEP_INTERVAL seconds).")
    except TakenOver as error:
        log.warning("%s; stopping", error)
        sweep.refresh_from_db()
        return sweep
    except BaseException as error:
        finish(sweep, Status.INTERRUPTED, f"{type(error).__name__}: {error}")
        raise
    return finish(sweep, Status.DONE)


def start(source: str, total: int) -> CustodySweep:
    """The new sweep's row, running, its start audited; ``AlreadyRunning`` if another sweep runs.

    A running row without progress for ``STALE_AFTER`` is marked interrupted first.
    """
    with transaction.atomic():
        stale_before = timezone.now() - STALE_AFTER
        for stale in CustodySweep.objects.select_for_update().filter(
            status=Status.RUNNING, updated_at__lt=stale_before
        ):
            minutes = int(STALE_AFTER.total_seconds() // 60)
            _end(stale, Status.INTERRUPTED, f"Its process stopped: no progress for {minutes} minutes.")
        try:
            with transaction.atomic():
                sweep = CustodySweep.objects.create(status=Status.RUNNING, source=source, files_total=total)
        except IntegrityError:
            sweep = None
        else:
            audit.record(
                audit.Action.CUSTODY_SWEEP_STARTED,
                obj=sweep,
                details={"sweep": sweep.pk, "source": source, "files_total": total},
            )
    if sweep is None:
        raise AlreadyRunning(CustodySweep.objects.filter(status=Status.RUNNING).first())
    log.info("custody sweep %s started (%s): %s files", sweep.pk, source, total)
    return sweep


def finish(sweep: CustodySweep, status: str, error: str = "") -> CustodySweep:
    """End ``sweep`` as ``status`` (with its counts and ``error``), audited; the row as saved."""
    with transaction.atomic():
        _end(sweep, status, error)
    sweep.refresh_from_db()
    log.info("%s%s", sweep, f": {error}" if error else "")
    return sweep


def _end(sweep: CustodySweep, status: str, error: str) -> None:
    """Save ``sweep``'s end and audit it, in the caller's transaction, unless it already ended."""
    finished_at = timezone.now()
    ended = CustodySweep.objects.filter(pk=sweep.pk, status=Status.RUNNING).update(
        status=status,
        finished_at=finished_at,
        updated_at=finished_at,
        files_total=sweep.files_total,
        files_checked=sweep.files_checked,
        bytes_checked=sweep.bytes_checked,
        failures=sweep.failures,
        last_error=error,
    )
    if not ended:
        return
    audit.record(
        audit.Action.CUSTODY_SWEEP_FINISHED,
        obj=sweep,
        outcome=audit.Outcome.SUCCESS if status == Status.DONE and not sweep.failures else audit.Outcome.FAILED,
        details={
            "sweep": sweep.pk,
            "source": sweep.source,
            "status": status,
            "files_checked": sweep.files_checked,
            "files_total": sweep.files_total,
            "bytes_checked": sweep.bytes_checked,
            "failures": sweep.failures,
            "error": error,
            "seconds": round((finished_at - sweep.started_at).total_seconds(), 1),
        },
    )


def check(obj: models.Model, kind: Kind, heartbeat: Callable[[], None]) -> tuple[int, bool]:
    """Re-hash ``obj``'s file of ``kind``: its size in bytes, and whether it is intact.

    A missing or altered file is recorded as ``integrity_failed`` naming
    ``obj``, by ``cases.custody`` as for any other read.
    """
    field_file = getattr(obj, kind.file_field)
    expected = getattr(obj, kind.sha256_field)
    try:
        actual, size = sha256_of(field_file, heartbeat)
    except FileNotFoundError:
        actual, size = None, 0
    if actual == expected:
        return size, True
    custody._record_failure(field_file.name, expected, actual, user=None, request=None, case=obj.case, obj=obj)
    return size, False


def sha256_of(field_file: FieldFile, heartbeat: Callable[[], None] = lambda: None) -> tuple[str, int]:
    """The stored file's SHA-256 and size, read ``CHUNK`` bytes at a time.

    ``FileNotFoundError`` when it is missing; ``custody.StorageUnavailable``
    when the store does not answer, also halfway through.
    """
    digest, size = hashlib.sha256(), 0
    name = field_file.name
    with custody.storage_call(name), field_file.storage.open(name, "rb") as stored:
        for chunk in _chunks(stored, name):
            digest.update(chunk)
            size += len(chunk)
            heartbeat()
    return digest.hexdigest(), size


def _chunks(stored, name: str) -> Iterator[bytes]:
    s3_object = getattr(stored, "obj", None)
    if s3_object is None:
        yield from iter(partial(stored.read, CHUNK), b"")
        return
    # django-storages' S3File reads the whole object into memory; stream its body instead.
    try:
        body = s3_object.get()["Body"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise FileNotFoundError(name) from error
        raise
    with closing(body):
        yield from body.iter_chunks(CHUNK)


def latest_summary() -> sweeps.SweepSummary | None:
    """The latest sweep as the auditor's integrity page shows it."""
    sweep = CustodySweep.objects.first()
    if sweep is None:
        return None
    return sweeps.SweepSummary(
        status=sweep.status,
        status_label=sweep.get_status_display(),
        started_at=sweep.started_at,
        updated_at=sweep.updated_at,
        finished_at=sweep.finished_at,
        files_checked=sweep.files_checked,
        files_total=sweep.files_total,
        failures=sweep.failures,
        last_error=sweep.last_error,
    )


sweeps.register(latest_summary)


@shared_task(
    name="cases.custody_sweep",
    # Acknowledged when received: a sweep longer than the broker's visibility timeout is not sent
    # again; one whose worker died is marked interrupted by the next.
    acks_late=False,
    soft_time_limit=settings.CUSTODY_SWEEP_INTERVAL,
    time_limit=settings.CUSTODY_SWEEP_INTERVAL + 60,
)
def sweep() -> int | None:
    """Celery beat's custody sweep (every ``CUSTODY_SWEEP_INTERVAL`` seconds); the sweep's id."""
    try:
        return run(CustodySweep.Source.SCHEDULE).pk
    except AlreadyRunning as error:
        log.info("custody sweep not started: %s", error)
        return None
