"""The composite pipeline: from a requested composite to a stored, labelled
image with its provenance, or a failure that says why (docs/PIPELINE.md).

::

    services.request_composite ──on commit──► tasks.enqueue ──► tasks.render(pk) ──► render(pk)
    render(pk): claim pk and up to N-1 waiting composites of its style   (jobs.py)
                ──► reuse an earlier output, or run the network once for the batch
                ──► encode (label, provenance) ──► store ──► done / failed   (rendering.py)
                a transient error (database, broker, storage down) ──► requested again, ``Interrupted``:
                tasks.render retries with backoff
    tasks.recover(): re-enqueue composites left requested or running too long   (jobs.stalled)
"""

import logging

from .jobs import (
    MAX_ATTEMPTS,
    TRANSIENT_ERRORS,
    Interrupted,
    Job,
    RenderError,
    StorageUnavailable,
    abandoned,
    claim,
    delete_lost_outputs,
    request_parameters,
    requeue,
    stalled,
    unlock,
    worker_name,
)
from .rendering import code_version, device_name, run

__all__ = [
    "MAX_ATTEMPTS",
    "TRANSIENT_ERRORS",
    "Interrupted",
    "RenderError",
    "StorageUnavailable",
    "abandoned",
    "claim",
    "code_version",
    "device_name",
    "render",
    "request_parameters",
    "stalled",
]

log = logging.getLogger(__name__)


def render(composite_id: int, *, batch_size: int) -> None:
    """Claim ``composite_id`` and up to ``batch_size - 1`` composites waiting
    in its style, and render them as one batch. Raises ``Interrupted`` on a
    transient error; every other error fails the composites it concerns."""
    jobs: list[Job] = []
    try:
        jobs = claim(composite_id, batch_size=batch_size, worker=worker_name())
        if jobs:
            delete_lost_outputs(jobs)
            run(jobs)
    except TRANSIENT_ERRORS as error:
        unfinished = [job for job in jobs if not job.finished]
        log.warning("composites %s: %s: %s", [j.composite.pk for j in unfinished], type(error).__name__, error)
        requeue(unfinished, error)
        raise Interrupted([job.composite.pk for job in unfinished] or [composite_id]) from error
    finally:
        unlock([job.composite.pk for job in jobs])
