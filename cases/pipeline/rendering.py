"""The rendering side of the pipeline: one network run for a batch, the
labelled PNG with its provenance, and storage.

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
import subprocess
import time
from functools import cache
from typing import TYPE_CHECKING

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from PIL import Image

from .. import composite_png, custody
from ..boxes import check_box
from ..models import Composite
from .jobs import (
    TRANSIENT_ERRORS,
    Job,
    RenderError,
    StorageUnavailable,
    delete_unreferenced,
    exists,
    fail,
    finish,
    note_pending,
    request_parameters,
)

if TYPE_CHECKING:
    import torch

    from inversion.inference import Inversion, LoadedModel

log = logging.getLogger(__name__)

Status = Composite.Status


def run(jobs: list[Job]) -> None:
    """Finish every claimed job: reuse an earlier output where there is one,
    run the network once for the rest, store. Each failure is recorded on its
    composite; only transient errors are raised."""
    from inversion import inference  # PyTorch: imported only where composites are rendered

    style = jobs[0].composite.style
    for job in jobs:
        job.stages["queue_wait"] = ms((job.composite.started_at - job.composite.created_at).total_seconds())
    try:
        started = time.perf_counter()
        try:
            model = inference.load_model(style)
        except inference.WeightsError as error:
            for job in jobs:
                fail(job, f"The {style} model is not available on this worker: {error}")
            return
        load_ms = ms(time.perf_counter() - started)
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
                fail(
                    job, f"The same sketch failed in composite {leader.composite.pk}: {leader.composite.error_message}"
                )
    except SoftTimeLimitExceeded:
        for job in jobs:
            if not job.finished:
                fail(job, f"Rendering took longer than the {settings.CELERY_TASK_SOFT_TIME_LIMIT}-second time limit.")
    except TRANSIENT_ERRORS:
        raise
    except Exception as error:
        log.exception("composites %s: unexpected error", [job.composite.pk for job in jobs])
        for job in jobs:
            if not job.finished:
                fail(job, f"The pipeline failed unexpectedly ({type(error).__name__}: {error}).")


def _render_batch(jobs: list[Job], model: LoadedModel, started: float) -> None:
    """Run the network once for ``jobs`` and store each composite."""
    from inversion import inference

    inputs = []
    for job in jobs:
        try:
            inputs.append((job, read_sketch(job.composite), face_box(job.composite)))
        except RenderError as error:
            fail(job, str(error))
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
                fail(job, f"The network could not process this sketch ({type(error).__name__}: {error}).")
    inference_ms = ms(time.perf_counter() - began)
    for (job, _, _), result in zip(inputs, results, strict=True):
        if result is None:
            continue
        job.stages["inference"] = inference_ms
        try:
            _store_result(job, result, model, batch_size=len(inputs), started=started)
        except RenderError as error:
            fail(job, str(error))


def _store_result(job: Job, result: Inversion, model: LoadedModel, *, batch_size: int, started: float) -> None:
    composite = job.composite
    duration_ms = ms(time.perf_counter() - started)
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
    job.stages["encode"] = ms(time.perf_counter() - began)
    if not note_pending(job, name):
        return
    began = time.perf_counter()
    stored_now = _store(name, data)
    job.stages["save"] = ms(time.perf_counter() - began)
    done = finish(
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
        delete_unreferenced([name])


def _reuse(job: Job, earlier: Composite, started: float) -> None:
    """Finish ``job`` with ``earlier``'s output: same sketch bytes, weights and parameters."""
    record = {**earlier.parameters.get("pipeline", {}), "reused_from": earlier.pk}
    record.pop("stages_ms", None)
    finish(
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
            "duration_ms": ms(time.perf_counter() - started),
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
        if (request_parameters(earlier), made.get("label"), made.get("size")) == wanted and exists(earlier.image.name):
            return earlier
    return None


def read_sketch(composite: Composite) -> Image.Image:
    """The composite's sketch, checked against its SHA-256 and decoded."""
    sketch = composite.sketch
    try:
        data = custody.open_verified(sketch.original, sketch.sha256, case=sketch.case, obj=sketch)
    except custody.CustodyError as error:
        if error.missing:
            raise RenderError("The sketch file is missing from storage.") from None
        raise RenderError(
            "The stored sketch file does not match its recorded SHA-256, so it was not used. "
            "This is recorded in the audit trail."
        ) from None
    except StorageUnavailable:
        raise
    except Exception as error:
        raise StorageUnavailable(f"cannot read {sketch.original.name}: {error}") from error
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return image.copy()
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError) as error:
        raise RenderError(f"The sketch file is damaged or not an image we can read ({error}).") from None


def face_box(composite: Composite) -> tuple[int, int, int, int] | None:
    """The face box the composite was requested with (``boxes.check_box``), or None for the aligner's."""
    box = composite.parameters.get("box")
    if box is None:
        return None
    sketch = composite.sketch
    try:
        return tuple(check_box(box, sketch.width, sketch.height))
    except ValidationError as error:
        raise RenderError(" ".join(error.messages)) from None


def _store(name: str, data: bytes) -> bool:
    """Store ``data`` under its content-addressed ``name`` (``custody.store``);
    True when written now. Storage backends write the whole content before
    ``save`` returns (S3 in one request); rows refer to ``name`` only after."""
    try:
        return custody.store(name, data)
    except custody.CustodyError as error:
        raise RenderError(f"The composite could not be stored: {error}") from None
    except StorageUnavailable:
        raise
    except Exception as error:
        raise StorageUnavailable(f"cannot store {name}: {error}") from error


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


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        import torch

        return f"{device} {torch.cuda.get_device_name(device)}"[:64]
    return str(device)


def ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))
