"""The database side of the pipeline: claiming composites, holding them while
they render, and every status change with its audit event.

A composite being rendered is held by its worker's PostgreSQL session (an
advisory lock): a ``running`` row whose lock is free belongs to a worker
that died, and the next job for it takes it over; one whose lock is held is
left alone, so a job delivered twice runs once. On other databases (the
laptop's SQLite, in-process jobs) a ``running`` row is taken over once it
is older than ``COMPOSITE_STALE_AFTER``. ``attempts`` fences every write
after the claim: a worker that lost its composite to another cannot finish it.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import kombu.exceptions
import redis.exceptions
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

import audit

from .. import notifications
from ..custody import StorageUnavailable
from ..models import Composite

log = logging.getLogger(__name__)

Status = Composite.Status
Action = audit.Action


#: A composite that failed this many attempts for passing reasons fails for good.
MAX_ATTEMPTS = 5


#: First key of the PostgreSQL advisory lock that marks a composite being rendered.
LOCK_CLASS = 5101


class RenderError(Exception):
    """This composite cannot be rendered. The message is shown to the user."""


#: Errors that pass (a database, broker or storage restart): the job is retried with backoff.
TRANSIENT_ERRORS = (
    OperationalError,
    InterfaceError,
    StorageUnavailable,
    kombu.exceptions.OperationalError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionError,
    TimeoutError,
)


class Interrupted(Exception):
    """A transient error stopped a job. Its composites are back to
    ``requested`` (or, with the database down, ``running`` and unlocked), so
    the retry or another worker takes them over."""

    def __init__(self, composite_ids: list[int]) -> None:
        super().__init__(f"rendering of composites {composite_ids} was interrupted")
        self.composite_ids = composite_ids


@dataclass
class Job:
    """A composite claimed by this worker, the attempt that owns it, and its stage times."""

    composite: Composite
    attempt: int
    stages: dict[str, int] = field(default_factory=dict)  # milliseconds
    finished: bool = False


def claim(composite_id: int, *, batch_size: int, worker: str) -> list[Job]:
    """Mark ``composite_id`` and up to ``batch_size - 1`` other requested
    composites of its style running, and hold them for this worker.

    Nothing is claimed when the composite is done, failed, or held by a live
    worker. The claimed rows' advisory locks are held when this returns.
    """
    held: list[int] = []
    try:
        with transaction.atomic():
            first = (
                Composite.objects.select_for_update(of=("self",))
                .select_related("sketch")
                .filter(pk=composite_id)
                .first()
            )
            if first is None:
                log.warning("composite %s does not exist; nothing to render", composite_id)
                return []
            if first.status in (Status.DONE, Status.FAILED):
                log.info("composite %s is already %s; not rendering it again", first.pk, first.status)
                return []
            if not _take(first, held):
                log.info("composite %s is being rendered by a live worker; leaving it", first.pk)
                return []
            batch = [first]
            if batch_size > 1:
                waiting = (
                    Composite.objects.select_for_update(skip_locked=True, of=("self",))
                    .select_related("sketch")
                    .filter(status=Status.REQUESTED, style=first.style)
                    .exclude(pk=first.pk)
                    .order_by("created_at", "pk")[: batch_size - 1]
                )
                batch += [composite for composite in waiting if _take(composite, held)]
            jobs = _start(batch, worker)
    except BaseException:
        unlock(held)
        raise
    unlock([pk for pk in held if pk not in {job.composite.pk for job in jobs}])
    return jobs


def _start(batch: list[Composite], worker: str) -> list[Job]:
    now = timezone.now()
    ids = [composite.pk for composite in batch]
    jobs = []
    for composite in batch:
        if composite.attempts >= MAX_ATTEMPTS:
            _record_failure(
                composite,
                f"Rendering was interrupted {composite.attempts} times (worker, database or storage unavailable); "
                "request the composite again.",
            )
            continue
        if composite.status == Status.RUNNING:  # its worker is gone: running → requested → running
            composite.move_to(Status.REQUESTED)
            composite.save(update_fields=["status"])
            audit.record(
                Action.COMPOSITE_REQUESTED,
                obj=composite,
                details={"requeued_after_attempt": composite.attempts, "reason": "the worker rendering it was lost"},
            )
        composite.move_to(Status.RUNNING)
        composite.attempts, composite.started_at = composite.attempts + 1, now
        composite.error_message = ""
        composite.save(update_fields=["status", "attempts", "started_at", "error_message"])
        audit.record(
            Action.COMPOSITE_STARTED,
            obj=composite,
            details={"attempt": composite.attempts, "worker": worker, "batch": ids},
        )
        jobs.append(Job(composite, composite.attempts))
    return jobs


def requeue(jobs: list[Job], error: Exception) -> None:
    """Put interrupted composites back to ``requested`` for the retry, if the
    database lets us; otherwise they stay ``running`` until taken over."""
    try:
        for job in jobs:
            with transaction.atomic():
                row = locked_if_ours(job)
                if row is None:
                    continue
                row.move_to(Status.REQUESTED)
                row.save(update_fields=["status"])
                audit.record(
                    Action.COMPOSITE_REQUESTED,
                    obj=row,
                    details={"requeued_after_attempt": job.attempt, "reason": f"{type(error).__name__}: {error}"},
                )
    except TRANSIENT_ERRORS:
        log.warning("could not put composites %s back to requested", [job.composite.pk for job in jobs])


def _take(composite: Composite, held: list[int]) -> bool:
    """Hold ``composite`` for this worker, unless a live worker holds it."""
    if connection.vendor == "postgresql":
        if not _lock(composite.pk):
            return False
        held.append(composite.pk)
        return True
    if composite.status == Status.RUNNING:
        return composite.started_at < timezone.now() - timedelta(seconds=settings.COMPOSITE_STALE_AFTER)
    return True


def _lock(pk: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_CLASS, pk & 0x7FFFFFFF])
        return cursor.fetchone()[0]


def unlock(pks: list[int]) -> None:
    if connection.vendor != "postgresql" or not pks:
        return
    try:
        with connection.cursor() as cursor:
            for pk in pks:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_CLASS, pk & 0x7FFFFFFF])
    except (OperationalError, InterfaceError):
        log.warning("could not release locks on composites %s; they go with the database session", pks)


def locked_if_ours(job: Job) -> Composite | None:
    """The job's row, locked, if this attempt still owns it."""
    row = Composite.objects.select_for_update(of=("self",)).get(pk=job.composite.pk)
    if row.status != Status.RUNNING or row.attempts != job.attempt:
        log.warning(
            "composite %s was taken over (now %s, attempt %s; this was attempt %s); dropping this result",
            row.pk,
            row.status,
            row.attempts,
            job.attempt,
        )
        return None
    return row


def delete_lost_outputs(jobs: list[Job]) -> None:
    """Delete what earlier attempts of ``jobs`` stored and did not finish (``note_pending``).

    Runs after ``claim``, as part of the job: a store that is down here
    interrupts the job like one that is down while rendering.
    """
    orphans = [_pending_output(job.composite) for job in jobs if job.attempt > 1]
    delete_unreferenced([name for name in orphans if name])


def note_pending(job: Job, name: str) -> bool:
    """Write the output's name on the row before storing it, so a worker that
    dies between storing and finishing leaves a file the next attempt can find."""
    with transaction.atomic():
        row = locked_if_ours(job)
        if row is None:
            return False
        row.parameters = {**row.parameters, "pipeline": {"pending_output": name}}
        row.save(update_fields=["parameters"])
    return True


def _pending_output(composite: Composite) -> str:
    return composite.parameters.get("pipeline", {}).get("pending_output", "")


def finish(job: Job, *, fields: dict[str, Any], record: dict, details: dict) -> bool:
    with transaction.atomic():
        row = locked_if_ours(job)
        if row is None:
            return False
        for name, value in fields.items():
            setattr(row, name, value)
        row.parameters = {**request_parameters(row), "pipeline": {**record, "stages_ms": job.stages}}
        row.move_to(Status.DONE)
        row.finished_at = timezone.now()
        row.save(update_fields=[*fields, "parameters", "status", "finished_at"])
        audit.record(Action.COMPOSITE_DONE, obj=row, details={"attempt": job.attempt, **details})
        notifications.composite_finished(row)
    job.finished = True
    job.composite = row
    return True


def fail(job: Job, message: str) -> None:
    with transaction.atomic():
        row = locked_if_ours(job)
        if row is not None:
            _record_failure(row, message, attempt=job.attempt)
    job.finished = True


def _record_failure(row: Composite, message: str, attempt: int | None = None) -> None:
    log.warning("composite %s failed: %s", row.pk, message)
    row.move_to(Status.FAILED)
    row.error_message, row.finished_at = message, timezone.now()
    row.save(update_fields=["status", "error_message", "finished_at"])
    audit.record(
        Action.COMPOSITE_FAILED,
        obj=row,
        outcome=audit.Outcome.FAILED,
        details={"attempt": attempt or row.attempts, "error": message},
    )
    notifications.composite_finished(row)


def exists(name: str) -> bool:
    try:
        return bool(name) and default_storage.exists(name)
    except Exception as error:
        raise StorageUnavailable(f"cannot reach storage: {error}") from error


def delete_unreferenced(names: list[str]) -> None:
    """Delete stored composites that no row refers to (left by a lost worker)."""
    for name in names:
        if not Composite.objects.filter(image=name).exists() and exists(name):
            log.info("deleting %s, written by an attempt that did not finish", name)
            try:
                default_storage.delete(name)
            except Exception as error:
                raise StorageUnavailable(f"cannot delete {name}: {error}") from error


def stalled(older_than: timedelta | None = None) -> list[Composite]:
    """Composites left requested or running for longer than ``older_than``
    (``COMPOSITE_STALE_AFTER``); on PostgreSQL also those running without a
    live worker, at once."""
    if older_than is None:
        older_than = timedelta(seconds=settings.COMPOSITE_STALE_AFTER)
    cutoff = timezone.now() - older_than
    stale = Q(status=Status.REQUESTED, created_at__lte=cutoff) | Q(status=Status.RUNNING, started_at__lte=cutoff)
    ids = set(Composite.objects.filter(stale).values_list("pk", flat=True)) | set(abandoned())
    return list(Composite.objects.filter(pk__in=ids).order_by("created_at", "pk"))


def abandoned() -> list[int]:
    """Running composites that no live worker holds (its process or machine died); PostgreSQL only."""
    if connection.vendor != "postgresql":
        return []
    running = Composite.objects.filter(status=Status.RUNNING).values_list("pk", flat=True)
    return [pk for pk in running if _abandoned(pk)]


def _abandoned(pk: int) -> bool:
    """True when no live worker holds this running composite."""
    if _lock(pk):
        unlock([pk])
        return True
    return False


def request_parameters(composite: Composite) -> dict:
    """The parameters the requester chose (``pipeline`` holds what the worker recorded)."""
    return {key: value for key, value in composite.parameters.items() if key != "pipeline"}


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
