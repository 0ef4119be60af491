"""The composite pipeline: from a requested composite to a stored, labelled
image with its provenance, or a failure that says why.

::

    services.request_composite ──on commit──► enqueue ──► inversion.tasks.render(pk)
    render(pk): claim pk and up to N-1 waiting composites of its style
                ──► reuse an earlier output, or run the network once for the batch
                ──► encode (label, provenance) ──► store ──► done / failed
    recover(): re-enqueue composites left requested or running too long

Every status change is written with its audit event in one transaction.
A composite being rendered is held by its worker's PostgreSQL session
(an advisory lock): a ``running`` row whose lock is free belongs to a worker
that died, and the next job for it takes it over; one whose lock is held is
left alone, so a job delivered twice runs once. On other databases (the
laptop's SQLite, in-process jobs) a ``running`` row is taken over once it
is older than ``COMPOSITE_STALE_AFTER``. ``attempts`` fences every write:
a worker that lost its composite to another cannot finish it.

Stored files are named by their SHA-256 and written once (``custody.store``);
a row points at a file only after the file is stored. The name is written on
the row first (``pending_output``), so a file stored by a worker that died
before finishing is found and deleted by the next attempt: no row refers to it.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from typing import Any

import kombu.exceptions
import redis.exceptions
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from PIL import Image

from . import audit, composite_png, custody
from .models import Composite

log = logging.getLogger(__name__)

Status = Composite.Status
Action = audit.Action

#: A composite that failed this many attempts for passing reasons fails for good.
MAX_ATTEMPTS = 5
#: First key of the PostgreSQL advisory lock that marks a composite being rendered.
LOCK_CLASS = 5101


class RenderError(Exception):
    """This composite cannot be rendered. The message is shown to the user."""


class StorageUnavailable(Exception):
    """The storage backend did not answer or refused a write."""


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
    """A transient error stopped a job. Its composites stay ``running`` but
    unlocked, so the retry (or another worker) takes them over."""

    def __init__(self, composite_ids: list[int]) -> None:
        super().__init__(f"rendering of composites {composite_ids} was interrupted")
        self.composite_ids = composite_ids


@dataclass
class Job:
    composite: Composite
    attempt: int
    stages: dict[str, int] = field(default_factory=dict)  # milliseconds
    finished: bool = False


def enqueue(composite: Composite) -> None:
    """Send ``composite`` to a worker once the current transaction commits.

    Without a broker the job runs in-process at that point. A broker that is
    down is logged, not raised: the request is recorded and the recovery
    sweep sends it later.
    """
    from inversion.tasks import render  # inversion.tasks imports this module

    transaction.on_commit(lambda: render.delay(composite.pk), robust=True)


def render(composite_id: int, *, batch_size: int) -> None:
    """Claim ``composite_id`` and up to ``batch_size - 1`` composites waiting
    in its style, and render them as one batch. Raises ``Interrupted`` on a
    transient error; every other error fails the composites it concerns."""
    jobs: list[Job] = []
    try:
        jobs = claim(composite_id, batch_size=batch_size, worker=worker_name())
        if jobs:
            _run(jobs)
    except TRANSIENT_ERRORS as error:
        unfinished = [job for job in jobs if not job.finished]
        log.warning("composites %s: %s: %s", [j.composite.pk for j in unfinished], type(error).__name__, error)
        _requeue(unfinished, error)
        raise Interrupted([job.composite.pk for job in unfinished] or [composite_id]) from error
    finally:
        _unlock([job.composite.pk for job in jobs])


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
        orphans = [_pending_output(job.composite) for job in jobs if job.attempt > 1]
        _delete_unreferenced([name for name in orphans if name])
    except BaseException:
        _unlock(held)
        raise
    _unlock([pk for pk in held if pk not in {job.composite.pk for job in jobs}])
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
        resumed = composite.status == Status.RUNNING
        composite.status, composite.attempts, composite.started_at = Status.RUNNING, composite.attempts + 1, now
        composite.error_message = ""
        composite.save(update_fields=["status", "attempts", "started_at", "error_message"])
        details: dict[str, Any] = {"attempt": composite.attempts, "worker": worker, "batch": ids}
        if resumed:
            details["resumed"] = "the previous attempt's worker was lost or interrupted before finishing"
        audit.record(Action.COMPOSITE_STARTED, obj=composite, details=details)
        jobs.append(Job(composite, composite.attempts))
    return jobs


def _requeue(jobs: list[Job], error: Exception) -> None:
    """Put interrupted composites back to ``requested`` for the retry, if the
    database lets us; otherwise they stay ``running`` until taken over."""
    try:
        for job in jobs:
            with transaction.atomic():
                row = _locked_if_ours(job)
                if row is None:
                    continue
                row.status = Status.REQUESTED
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


def _unlock(pks: list[int]) -> None:
    if connection.vendor != "postgresql" or not pks:
        return
    try:
        with connection.cursor() as cursor:
            for pk in pks:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_CLASS, pk & 0x7FFFFFFF])
    except (OperationalError, InterfaceError):
        log.warning("could not release locks on composites %s; they go with the database session", pks)


def _run(jobs: list[Job]) -> None:
    from inversion import inference  # PyTorch: loaded only where composites are rendered

    style = jobs[0].composite.style
    for job in jobs:
        job.stages["queue_wait"] = _ms((job.composite.started_at - job.composite.created_at).total_seconds())
    try:
        started = time.perf_counter()
        try:
            model = inference.load_model(style)
        except inference.WeightsError as error:
            for job in jobs:
                _fail(job, f"The {style} model is not available on this worker: {error}")
            return
        load_ms = _ms(time.perf_counter() - started)
        for job in jobs:
            job.stages["load"] = load_ms

        leaders: dict[tuple, Job] = {}
        followers: list[tuple[Job, Job]] = []
        for job in jobs:
            earlier = _earlier_output(job.composite, model.weights_sha256)
            if earlier is not None:
                _reuse(job, earlier, started)
                continue
            key = (job.composite.sketch.sha256, json.dumps(request_parameters(job.composite), sort_keys=True))
            if key in leaders:
                followers.append((job, leaders[key]))
            else:
                leaders[key] = job
        _render_batch(list(leaders.values()), model, started)
        for job, leader in followers:
            leader.composite.refresh_from_db()
            if leader.composite.status == Status.DONE:
                _reuse(job, leader.composite, started)
            else:
                _fail(
                    job, f"The same sketch failed in composite {leader.composite.pk}: {leader.composite.error_message}"
                )
    except SoftTimeLimitExceeded:
        for job in jobs:
            if not job.finished:
                _fail(job, f"Rendering took longer than the {settings.CELERY_TASK_SOFT_TIME_LIMIT}-second time limit.")
    except TRANSIENT_ERRORS:
        raise
    except Exception as error:
        log.exception("composites %s: unexpected error", [job.composite.pk for job in jobs])
        for job in jobs:
            if not job.finished:
                _fail(job, f"The pipeline failed unexpectedly ({type(error).__name__}: {error}).")


def _render_batch(jobs: list[Job], model, started: float) -> None:
    """Run the network once for ``jobs`` and store each composite."""
    from inversion import inference

    inputs = []
    for job in jobs:
        try:
            inputs.append((job, read_sketch(job.composite), face_box(job.composite)))
        except RenderError as error:
            _fail(job, str(error))
    if not inputs:
        return
    began = time.perf_counter()
    try:
        results = inference.invert_faces([image for _, image, _ in inputs], model.style, boxes=[b for *_, b in inputs])
    except (SoftTimeLimitExceeded, *TRANSIENT_ERRORS):
        raise
    except Exception:
        # One bad sketch must not sink the batch: find it by running them one by one.
        log.warning("batch of %d failed in the network; retrying one by one", len(inputs), exc_info=True)
        results = []
        for job, image, box in inputs:
            try:
                results += inference.invert_faces([image], model.style, boxes=[box])
            except (SoftTimeLimitExceeded, *TRANSIENT_ERRORS):
                raise
            except Exception as error:
                results.append(None)
                _fail(job, f"The network could not process this sketch ({type(error).__name__}: {error}).")
    inference_ms = _ms(time.perf_counter() - began)
    for (job, _, _), result in zip(inputs, results, strict=True):
        if result is None:
            continue
        job.stages["inference"] = inference_ms
        try:
            _store_result(job, result, model, batch_size=len(inputs), started=started)
        except RenderError as error:
            _fail(job, str(error))


def _store_result(job: Job, result, model, *, batch_size: int, started: float) -> None:
    composite = job.composite
    duration_ms = _ms(time.perf_counter() - started)
    began = time.perf_counter()
    size = settings.COMPOSITE_SIZE
    record = {
        "label": settings.COMPOSITE_LABEL,
        "size": size,
        "native_resolution": result.composite.width,
        "face": {"found": result.face.found, "method": result.face.method, "box": list(result.face.box)},
    }
    text = {
        "composite_id": composite.pk,
        "sketch_sha256": composite.sketch.sha256,
        "style": composite.style,
        "model_name": model.name,
        "weights_sha256": model.weights_sha256,
        "code_version": code_version(),
        "device": device_name(model.device),
        "batch_size": batch_size,
        "duration_ms": duration_ms,
        "native_resolution": record["native_resolution"],
        "parameters": json.dumps(request_parameters(composite), sort_keys=True),
        "face": json.dumps(record["face"]),
        "created": timezone.now().isoformat(),
    }
    data = composite_png.render(result.composite, label=settings.COMPOSITE_LABEL, size=size, text=text)
    sha256 = hashlib.sha256(data).hexdigest()
    name = f"composites/{sha256}.png"
    job.stages["encode"] = _ms(time.perf_counter() - began)
    if not _note_pending(job, name):
        return
    began = time.perf_counter()
    stored_now = _store(name, data)
    job.stages["save"] = _ms(time.perf_counter() - began)
    done = _finish(
        job,
        fields={
            "image": name,
            "output_sha256": sha256,
            "model_name": model.name,
            "weights_sha256": model.weights_sha256,
            "device": text["device"],
            "batch_size": batch_size,
            "code_version": text["code_version"],
            "duration_ms": duration_ms,
        },
        record=record,
        details={"output_sha256": sha256, "network_run": True, "batch_size": batch_size, "device": text["device"]},
    )
    if not done and stored_now:
        _delete_unreferenced([name])


def _reuse(job: Job, earlier: Composite, started: float) -> None:
    """Finish ``job`` with ``earlier``'s output: same sketch bytes, weights and parameters."""
    record = {**earlier.parameters.get("pipeline", {}), "reused_from": earlier.pk}
    record.pop("stages_ms", None)
    _finish(
        job,
        fields={
            "image": earlier.image.name,
            "output_sha256": earlier.output_sha256,
            "reused_from": earlier,
            "model_name": earlier.model_name,
            "weights_sha256": earlier.weights_sha256,
            "device": earlier.device,
            "batch_size": earlier.batch_size,
            "code_version": earlier.code_version,
            "duration_ms": _ms(time.perf_counter() - started),
        },
        record=record,
        details={
            "output_sha256": earlier.output_sha256,
            "network_run": False,
            "reused_from": earlier.pk,
            "reason": "the same sketch bytes, weights and parameters were rendered before",
        },
    )


def _earlier_output(composite: Composite, weights_sha256: str) -> Composite | None:
    """A done composite of the same sketch bytes, weights and parameters, whose file is there."""
    candidates = (
        Composite.objects.filter(
            status=Status.DONE,
            style=composite.style,
            sketch__sha256=composite.sketch.sha256,
            weights_sha256=weights_sha256,
            reused_from__isnull=True,
        )
        .exclude(pk=composite.pk)
        .order_by("finished_at")
    )
    wanted = (request_parameters(composite), settings.COMPOSITE_LABEL, settings.COMPOSITE_SIZE)
    for earlier in candidates:
        made = earlier.parameters.get("pipeline", {})
        if (request_parameters(earlier), made.get("label"), made.get("size")) == wanted and _exists(earlier.image.name):
            return earlier
    return None


def request_parameters(composite: Composite) -> dict:
    """The parameters the requester chose (``pipeline`` holds what the worker recorded)."""
    return {key: value for key, value in composite.parameters.items() if key != "pipeline"}


def read_sketch(composite: Composite) -> Image.Image:
    """The composite's sketch, checked against its SHA-256 and decoded."""
    sketch = composite.sketch
    try:
        with default_storage.open(sketch.original.name, "rb") as file:
            data = file.read()
    except FileNotFoundError:
        raise RenderError("The sketch file is missing from storage.") from None
    except Exception as error:
        raise StorageUnavailable(f"cannot read {sketch.original.name}: {error}") from error
    if hashlib.sha256(data).hexdigest() != sketch.sha256:
        raise RenderError("The stored sketch file does not match its recorded SHA-256, so it was not used.")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return image.copy()
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError) as error:
        raise RenderError(f"The sketch file is damaged or not an image we can read ({error}).") from None


def face_box(composite: Composite) -> tuple[int, int, int, int] | None:
    box = composite.parameters.get("box")
    if box is None:
        return None
    if not (isinstance(box, list | tuple) and len(box) == 4 and all(isinstance(v, int) for v in box)):
        raise RenderError(f"The face box {box!r} is not four whole numbers (left, top, right, bottom).")
    return tuple(box)


def _note_pending(job: Job, name: str) -> bool:
    """Write the output's name on the row before storing it, so a worker that
    dies between storing and finishing leaves a file the next attempt can find."""
    with transaction.atomic():
        row = _locked_if_ours(job)
        if row is None:
            return False
        row.parameters = {**row.parameters, "pipeline": {"pending_output": name}}
        row.save(update_fields=["parameters"])
    return True


def _pending_output(composite: Composite) -> str:
    return composite.parameters.get("pipeline", {}).get("pending_output", "")


def _store(name: str, data: bytes) -> bool:
    """Store ``data`` under its content-addressed ``name`` (``custody.store``);
    True when written now. Storage backends write the whole content before
    ``save`` returns (S3 in one request); rows refer to ``name`` only after."""
    try:
        return custody.store(name, data)
    except custody.CustodyError as error:
        raise RenderError(f"The composite could not be stored: {error}") from None
    except Exception as error:
        raise StorageUnavailable(f"cannot store {name}: {error}") from error


def _exists(name: str) -> bool:
    try:
        return bool(name) and default_storage.exists(name)
    except Exception as error:
        raise StorageUnavailable(f"cannot reach storage: {error}") from error


def _delete_unreferenced(names: list[str]) -> None:
    """Delete stored composites that no row refers to (left by a lost worker)."""
    for name in names:
        if not Composite.objects.filter(image=name).exists() and _exists(name):
            log.info("deleting %s, written by an attempt that did not finish", name)
            default_storage.delete(name)


def _locked_if_ours(job: Job) -> Composite | None:
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


def _finish(job: Job, *, fields: dict[str, Any], record: dict, details: dict) -> bool:
    with transaction.atomic():
        row = _locked_if_ours(job)
        if row is None:
            return False
        for name, value in fields.items():
            setattr(row, name, value)
        row.parameters = {**request_parameters(row), "pipeline": {**record, "stages_ms": job.stages}}
        row.status, row.finished_at = Status.DONE, timezone.now()
        row.save(update_fields=[*fields, "parameters", "status", "finished_at"])
        audit.record(Action.COMPOSITE_DONE, obj=row, details={"attempt": job.attempt, **details})
    job.finished = True
    job.composite = row
    return True


def _fail(job: Job, message: str) -> None:
    with transaction.atomic():
        row = _locked_if_ours(job)
        if row is not None:
            _record_failure(row, message, attempt=job.attempt)
    job.finished = True


def _record_failure(row: Composite, message: str, attempt: int | None = None) -> None:
    log.warning("composite %s failed: %s", row.pk, message)
    row.status, row.error_message, row.finished_at = Status.FAILED, message, timezone.now()
    row.save(update_fields=["status", "error_message", "finished_at"])
    audit.record(
        Action.COMPOSITE_FAILED,
        obj=row,
        outcome=audit.Outcome.FAILED,
        details={"attempt": attempt or row.attempts, "error": message},
    )


def recover(older_than: timedelta | None = None) -> list[int]:
    """Re-enqueue composites left requested or running for longer than
    ``older_than`` (``COMPOSITE_STALE_AFTER``), e.g. after the broker lost its
    jobs; on PostgreSQL also those running without a live worker, at once.
    A job sent twice runs once (``claim``)."""
    if older_than is None:
        older_than = timedelta(seconds=settings.COMPOSITE_STALE_AFTER)
    cutoff = timezone.now() - older_than
    stale = Q(status=Status.REQUESTED, created_at__lte=cutoff) | Q(status=Status.RUNNING, started_at__lte=cutoff)
    ids = set(Composite.objects.filter(stale).values_list("pk", flat=True))
    if connection.vendor == "postgresql":
        ids |= {
            pk for pk in Composite.objects.filter(status=Status.RUNNING).values_list("pk", flat=True) if _abandoned(pk)
        }
    composites = list(Composite.objects.filter(pk__in=ids).order_by("created_at", "pk"))
    for composite in composites:
        log.info("recovery: re-enqueueing composite %s (%s)", composite.pk, composite.status)
        enqueue(composite)
    return [composite.pk for composite in composites]


def _abandoned(pk: int) -> bool:
    """True when no live worker holds this running composite."""
    if _lock(pk):
        _unlock([pk])
        return True
    return False


@cache
def code_version() -> str:
    """The git commit of the running code: ``GIT_COMMIT``, else ``git rev-parse``, else "unknown"."""
    commit = os.environ.get("GIT_COMMIT", "").strip()
    if commit:
        return commit[:64]
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip()[:64] or "unknown"


def device_name(device) -> str:
    if device.type == "cuda":
        import torch

        return f"{device} {torch.cuda.get_device_name(device)}"[:64]
    return str(device)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))
