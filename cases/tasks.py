"""Celery tasks of the ``inversion`` queue. The work itself is in
:mod:`cases.pipeline`; the network in the pure-PyTorch package ``inversion``.

The tasks keep the names they had when they lived in ``inversion/tasks.py``
(``inversion.tasks.render``, ``inversion.tasks.recover``), so jobs queued
before an upgrade still find them, and the queue is routed by that name.

Start a worker with ``celery -A forensics worker -Q inversion --concurrency 1``
(one process per GPU). Each worker process loads the installed networks once,
when it starts (``worker_process_init``, in the child, so the parent never
touches CUDA), and logs the device and the weights' SHA-256.
"""

import base64
import json
import logging
import os
import random
from datetime import timedelta

from celery import shared_task
from celery.signals import worker_process_init
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from PIL import Image

from . import custody, derived
from .models import Composite
from .sending import send_after_commit

log = logging.getLogger(__name__)

#: Retries of a job interrupted by a transient error, spaced by ``backoff``.
MAX_RETRIES = 8


@worker_process_init.connect
def load_models(**kwargs) -> None:
    """Load every installed network in this worker process and say which.

    One blank image goes through each, so the face detector and the
    network's kernels are ready before the first job, not during it.
    """
    from inversion import STYLES, inference

    from . import pipeline

    blank = Image.new("RGB", (64, 64), "white")
    for style in STYLES:
        try:
            model = inference.load_model(style)
        except inference.WeightsError as error:
            log.warning("inversion worker pid %d: no %s model: %s", os.getpid(), style, error)
            continue
        try:
            inference.invert_faces([blank], style)
        except Exception:  # the first job will say what is wrong, for its composite
            log.exception("inversion worker pid %d: the %s model failed on a blank image", os.getpid(), style)
        log.info(
            "inversion worker pid %d: %s model %s on %s, weights %s SHA-256 %s, code %s",
            os.getpid(),
            style,
            model.name,
            pipeline.device_name(model.device),
            model.weights_path,
            model.weights_sha256,
            pipeline.code_version(),
        )


def backoff(retries: int) -> float:
    """Seconds before retry number ``retries + 1``: 5, 10, 20, … up to 5 minutes, with jitter."""
    return min(300, 5 * 2**retries) * random.uniform(0.8, 1.2)


@shared_task(
    name="inversion.tasks.render", bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES
)
def render(self, composite_id: int) -> None:
    """Render composite ``composite_id``, batched with up to
    ``INVERSION_BATCH_SIZE - 1`` others waiting in its style."""
    from . import pipeline

    try:
        pipeline.render(composite_id, batch_size=settings.INVERSION_BATCH_SIZE)
    except pipeline.Interrupted as interrupted:
        countdown = backoff(self.request.retries)
        log.warning("composites %s interrupted; retrying in %.0f s", interrupted.composite_ids, countdown)
        for pk in interrupted.composite_ids:
            if pk != composite_id:
                try:
                    render.apply_async((pk,), countdown=countdown)
                except Exception:
                    log.exception("could not re-enqueue composite %s; the recovery sweep will", pk)
        raise self.retry(exc=interrupted.__cause__, countdown=countdown) from interrupted


@shared_task(name="inversion.tasks.recover")
def recover() -> int:
    """The periodic recovery sweep (``CELERY_BEAT_SCHEDULE``)."""
    return len(recover_stalled())


@shared_task(name="inversion.tasks.resend")
def resend() -> int:
    """Re-send lost jobs within a minute (``CELERY_BEAT_SCHEDULE``, every ``COMPOSITE_RESEND_INTERVAL`` s)."""
    return len(resend_lost())


@shared_task(name="cases.derive", bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES)
def derive(self, model: str, pk: int) -> None:
    """Look at evidence image ``model``/``pk`` once (``cases.derived``): working copy, face box, crop, descriptor.

    Idempotent: an image already looked at is left alone. A store that is
    down is retried with backoff; a file that cannot be decoded, or that no
    longer matches its SHA-256 (audited by custody), is recorded as the reason.
    """
    from .custody import CustodyError, StorageUnavailable

    evidence = derived.MODELS[model].objects.select_related("case").filter(pk=pk).first()
    if evidence is None or evidence.face_found is not None:
        return
    try:
        data = custody.open_verified(evidence.evidence_file, evidence.sha256, case=evidence.case, obj=evidence)
        result = derived.derive(data)
        derived.save(evidence, result)
    except StorageUnavailable as error:
        raise self.retry(exc=error, countdown=backoff(self.request.retries)) from error
    except CustodyError as error:
        derived.could_not_derive(evidence, str(error))
    except derived.UNREADABLE as error:
        log.warning("%s %s cannot be decoded: %s", model, pk, error)
        derived.could_not_derive(evidence, "The stored file cannot be decoded as an image, so no face can be found.")


@shared_task(name="cases.describe_composite", acks_late=True)
def describe_composite(pk: int) -> None:
    """dlib's descriptor of a finished composite's face, made once, for the comparison page."""
    from .candidates import composite_descriptor

    composite = Composite.objects.select_related("sketch__case").filter(pk=pk, status=Composite.Status.DONE).first()
    if composite is None or composite.face_descriptor is not None:
        return
    data = custody.open_verified(composite.image, composite.output_sha256, case=composite.sketch.case, obj=composite)
    Composite.objects.filter(pk=pk).update(face_descriptor=composite_descriptor(data))


def enqueue_derive(evidence) -> None:
    """Have a worker look at ``evidence`` (``derive``) once the current transaction commits."""
    send_after_commit(derive, evidence._meta.model_name, evidence.pk)


def enqueue_describe(composites) -> None:
    """Have a worker describe each of ``composites``' faces (``describe_composite``)."""
    for composite in composites:
        send_after_commit(describe_composite, composite.pk)


def enqueue(composite: Composite) -> None:
    """Send ``composite`` to a worker once the current transaction commits.

    Without a broker the job runs in-process at that point. A broker that is
    down is logged, not raised: the request is recorded and the recovery
    sweep sends it later.
    """
    transaction.on_commit(lambda: render.delay(composite.pk), robust=True)


def recover_stalled(older_than: timedelta | None = None) -> list[int]:
    """Re-enqueue the ``stalled`` composites, e.g. after the broker lost its
    jobs or a worker's machine died. A job sent twice runs once (``claim``)."""
    from . import pipeline

    composites = pipeline.stalled(older_than)
    for composite in composites:
        log.info("recovery: re-enqueueing composite %s (%s)", composite.pk, composite.status)
        enqueue(composite)
    return [composite.pk for composite in composites]


def resend_lost(waited: timedelta | None = None) -> list[int]:
    """Re-send the jobs the broker no longer holds: composites ``requested`` for at least
    ``waited`` (``COMPOSITE_RESEND_AFTER``) whose job is neither in the queue nor taken
    by a worker (a Redis flush or restart lost it), and, on PostgreSQL, composites
    ``running`` with no live worker (its process was killed). Sending a job twice is
    harmless: a worker claims each composite once. Morphs still requested, and images
    still waiting for a worker to look at them (``derive``), are sent again the same way. Without a broker there is
    nothing to lose. Returns the composites re-sent.
    """
    from . import pipeline

    held = held_jobs()
    if held is None:
        return []
    if waited is None:
        waited = timedelta(seconds=settings.COMPOSITE_RESEND_AFTER)
    cutoff = timezone.now() - waited
    rendering = {args[0] for args in held.get(render.name, set())}
    waiting = Composite.objects.filter(status=Composite.Status.REQUESTED, created_at__lte=cutoff)
    lost = sorted({*waiting.exclude(pk__in=rendering).values_list("pk", flat=True), *pipeline.abandoned()})
    for pk in lost:
        log.info("re-sending composite %s: the broker no longer holds its job", pk)
        render.delay(pk)
    from .models import Morph

    morphing = {args[0] for args in held.get(make_morph.name, set())}
    for pk in Morph.objects.filter(status=Morph.Status.REQUESTED, created_at__lte=cutoff).values_list("pk", flat=True):
        if pk not in morphing:
            log.info("re-sending morph %s: the broker no longer holds its job", pk)
            make_morph.delay(pk)
    deriving = held.get(derive.name, set())
    for name, model in derived.MODELS.items():
        unlooked = model.objects.filter(face_found__isnull=True, created_at__lte=cutoff).values_list("pk", flat=True)
        for pk in unlooked[:RESEND_DERIVE_BATCH]:
            if (name, pk) not in deriving:
                log.info("re-sending derive of %s %s: the broker no longer holds its job", name, pk)
                derive.delay(name, pk)
    return lost


#: Most images a sweep re-sends to be looked at (a backlog after an upgrade drains over a few sweeps).
RESEND_DERIVE_BATCH = 200


def held_by_broker() -> set[int] | None:
    """The composites whose render job Redis holds (``held_jobs``); None without a broker."""
    held = held_jobs()
    return None if held is None else {args[0] for args in held.get(render.name, set())}


def held_jobs() -> dict[str, set[tuple]] | None:
    """The jobs Redis holds, as task name -> argument tuples: waiting in the queue, or
    delivered to a worker and not yet acknowledged. None when jobs run in-process."""
    app = render.app
    if app.conf.task_always_eager:
        return None
    queue = app.amqp.router.route({}, render.name)["queue"].name
    with app.connection_for_read() as connection:
        client = connection.default_channel.client
        waiting = client.lrange(queue, 0, -1)
        delivered = [json.dumps(json.loads(raw)[0]) for raw in client.hvals("unacked")]
    held: dict[str, set[tuple]] = {}
    for raw in [*waiting, *delivered]:
        message = json.loads(raw)
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        held.setdefault(message.get("headers", {}).get("task", ""), set()).add(tuple(json.loads(body)[0]))
    return held


from . import custody_sweep  # noqa: E402, F401  (registers the sweep task)
from .morphs import make_morph  # noqa: E402  (registers the morph task)
