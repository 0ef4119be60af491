"""The composite pipeline in-process (Celery eager), with a random-weight network.

The same code runs in a real worker: see test_pipeline_workers.py.
"""

import hashlib
import io
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone
from PIL import Image

from audit.models import AuditEvent
from cases import composite_png, custody, pipeline, services, tasks
from cases.models import Composite, WitnessSketch
from forensics import celery_app
from inversion import inference

from .inversion_fixtures import generated_face

Status = Composite.Status
Action = AuditEvent.Action


@pytest.fixture(autouse=True)
def _random_weights_and_eager_jobs(random_weights, eager_jobs):
    """Every test here: random-weight networks, composites rendered in-process."""


def face_png(seed: int, size: int = 128) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(generated_face(seed, size)).save(buffer, format="PNG")
    return buffer.getvalue()


def sketch_of(case, artist, data: bytes, style: str = "line") -> WitnessSketch:
    return services.add_sketch(case, io.BytesIO(data), user=artist, style=style, filename="sketch.png")


def stored_sketch(case, artist, data: bytes, style: str = "line") -> WitnessSketch:
    """A sketch row whose stored bytes bypassed the upload checks (an import, a damaged disk)."""
    sha256 = hashlib.sha256(data).hexdigest()
    name = default_storage.save(f"sketches/{sha256}.png", ContentFile(data))
    return WitnessSketch.objects.create(
        case=case, uploaded_by=artist, original=name, sha256=sha256, size=len(data), width=1, height=1, style=style
    )


def requested(sketch, user, style: str = "line", **parameters) -> Composite:
    """A requested composite whose job has not been sent."""
    return Composite.objects.create(sketch=sketch, style=style, requested_by=user, parameters=parameters)


def actions(composite: Composite) -> list[str]:
    return list(
        AuditEvent.objects.filter(object_type="composite", object_id=str(composite.pk)).values_list("action", flat=True)
    )


@pytest.fixture
def sketch(case, artist):
    return sketch_of(case, artist, face_png(1))


def test_request_renders_after_commit_a_labelled_png_with_its_provenance(
    sketch, artist, random_weights, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        composite, _ = services.request_composite(sketch, "line", user=artist)
        assert Composite.objects.get(pk=composite.pk).status == Status.REQUESTED  # not before the commit
    assert [c.__qualname__ for c in callbacks].count("enqueue.<locals>.<lambda>") == 1  # one render job

    composite.refresh_from_db()
    assert composite.status == Status.DONE, composite.error_message
    data = default_storage.open(composite.image.name).read()
    assert composite.image.name == f"composites/{composite.output_sha256}.png"
    assert hashlib.sha256(data).hexdigest() == composite.output_sha256
    text = composite_png.read_text(data)
    assert text["sketch_sha256"] == sketch.sha256
    assert text["weights_sha256"] == composite.weights_sha256 == inference.verified_weights("line")[1]
    assert text["model_name"] == composite.model_name
    assert text["style"] == "line"
    assert text["device"] == composite.device
    assert composite.device.startswith(inference.default_device().type)  # cuda where there is a GPU
    assert text["batch_size"] == "1"
    assert int(text["duration_ms"]) == composite.duration_ms
    assert text["code_version"] == composite.code_version != ""
    assert text["native_resolution"] == "32"
    assert "not a photograph" in text["Description"]
    assert text["Label"] == "GENERATED COMPOSITE - NOT A PHOTOGRAPH"

    image = Image.open(io.BytesIO(data))
    assert image.width == 384 and image.height > 384
    band = image.crop((0, 384, image.width, image.height)).convert("L")
    assert band.getextrema() == (0, 255)  # white lettering on the black band
    made = composite.parameters["pipeline"]
    assert set(made["stages_ms"]) == {"queue_wait", "load", "inference", "encode", "save"}
    assert made["native_resolution"] == 32
    assert actions(composite) == [Action.COMPOSITE_REQUESTED, Action.COMPOSITE_STARTED, Action.COMPOSITE_DONE]


def test_label_is_configurable(sketch, artist, settings):
    settings.COMPOSITE_LABEL = "SYNTHETIC IMAGE"
    settings.COMPOSITE_SIZE = 192
    composite = requested(sketch, artist)
    tasks.render(composite.pk)
    composite.refresh_from_db()
    data = default_storage.open(composite.image.name).read()
    assert composite_png.read_text(data)["Label"] == "SYNTHETIC IMAGE"
    assert Image.open(io.BytesIO(data)).width == 192


def test_a_done_composite_is_not_rendered_again(sketch, artist):
    composite = requested(sketch, artist)
    tasks.render(composite.pk)
    composite.refresh_from_db()
    events = AuditEvent.objects.count()

    tasks.render(composite.pk)

    assert Composite.objects.get(pk=composite.pk).output_sha256 == composite.output_sha256
    assert AuditEvent.objects.count() == events


def test_duplicate_requests_run_the_network_once_and_say_so(sketch, artist, monkeypatch):
    runs = []
    invert_faces = inference.invert_faces
    monkeypatch.setattr(
        inference, "invert_faces", lambda images, *a, **k: runs.append(len(images)) or invert_faces(images, *a, **k)
    )
    first = requested(sketch, artist)
    tasks.render(first.pk)
    again = requested(sketch, artist)
    tasks.render(again.pk)

    first.refresh_from_db()
    again.refresh_from_db()
    assert runs == [1]
    assert again.status == Status.DONE
    assert again.reused_from == first
    assert again.image.name == first.image.name and again.output_sha256 == first.output_sha256
    done = AuditEvent.objects.get(object_id=str(again.pk), action=Action.COMPOSITE_DONE)
    assert done.details["network_run"] is False and done.details["reused_from"] == first.pk


def test_duplicates_in_one_batch_run_the_network_once(sketch, artist, monkeypatch):
    runs = []
    invert_faces = inference.invert_faces
    monkeypatch.setattr(
        inference, "invert_faces", lambda images, *a, **k: runs.append(len(images)) or invert_faces(images, *a, **k)
    )
    first, second = requested(sketch, artist), requested(sketch, artist)
    tasks.render(first.pk)
    assert runs == [1]
    assert Composite.objects.get(pk=second.pk).reused_from_id == first.pk


def test_other_parameters_are_not_reused(sketch, artist):
    first = requested(sketch, artist)
    tasks.render(first.pk)
    boxed = requested(sketch, artist, box=[10, 10, 100, 110])
    tasks.render(boxed.pk)
    boxed.refresh_from_db()
    assert boxed.status == Status.DONE and boxed.reused_from is None
    assert boxed.parameters["box"] == [10, 10, 100, 110]
    assert boxed.parameters["pipeline"]["face"]["box"] == [10, 10, 100, 110]


def test_waiting_composites_of_one_style_run_as_one_batch(case, artist, settings):
    settings.INVERSION_BATCH_SIZE = 3
    lines = [requested(sketch_of(case, artist, face_png(seed)), artist) for seed in range(4)]
    grayscale = requested(lines[0].sketch, artist, style="grayscale")

    tasks.render(lines[0].pk)

    done = Composite.objects.filter(status=Status.DONE)
    assert sorted(done.values_list("pk", flat=True)) == [c.pk for c in lines[:3]]
    assert set(done.values_list("batch_size", flat=True)) == {3}
    assert Composite.objects.get(pk=grayscale.pk).status == Status.REQUESTED
    started = AuditEvent.objects.get(object_id=str(lines[1].pk), action=Action.COMPOSITE_STARTED)
    assert started.details["batch"] == [c.pk for c in lines[:3]]


def test_a_corrupt_sketch_fails_clearly_and_its_batch_still_renders(case, artist):
    good = requested(sketch_of(case, artist, face_png(2)), artist)
    corrupt = requested(stored_sketch(case, artist, face_png(3)[:200]), artist)

    tasks.render(corrupt.pk)

    corrupt.refresh_from_db()
    assert corrupt.status == Status.FAILED
    assert corrupt.error_message.startswith("The sketch file is damaged or not an image we can read")
    assert Composite.objects.get(pk=good.pk).status == Status.DONE
    failed = AuditEvent.objects.get(object_id=str(corrupt.pk), action=Action.COMPOSITE_FAILED)
    assert failed.outcome == AuditEvent.Outcome.FAILED and failed.details["error"] == corrupt.error_message


def test_an_altered_sketch_file_is_not_used_and_the_worker_audits_the_mismatch(case, artist, sketch, audit_log):
    composite = requested(sketch, artist)
    audit_log.mark()
    path = default_storage.path(sketch.original.name)
    with open(path, "r+b") as file:
        file.seek(60)
        file.write(b"\x00\x01\x02")
    tasks.render(composite.pk)
    composite.refresh_from_db()
    assert composite.status == Status.FAILED
    assert "does not match its recorded SHA-256" in composite.error_message
    (failure,) = [event for event in audit_log.new() if event.action == AuditEvent.Action.INTEGRITY_FAILED]
    assert (failure.case, failure.details["expected_sha256"]) == (case, sketch.sha256)


def test_a_sketch_file_missing_from_storage_fails_clearly(sketch, artist):
    composite = requested(sketch, artist)
    default_storage.delete(sketch.original.name)
    tasks.render(composite.pk)
    composite.refresh_from_db()
    assert composite.status == Status.FAILED
    assert composite.error_message == "The sketch file is missing from storage."


def test_missing_weights_fail_with_a_clear_message(sketch, artist, random_weights):
    (random_weights / "color.pt").unlink()
    composite = requested(sketch, artist, style="color")
    tasks.render(composite.pk)
    composite.refresh_from_db()
    assert composite.status == Status.FAILED
    assert composite.error_message.startswith("The color model is not available on this worker")


def test_a_composite_whose_worker_was_lost_is_taken_over_and_the_lost_output_deleted(sketch, artist, settings):
    composite = requested(sketch, artist)
    lost_output = default_storage.save("composites/" + "e" * 64 + ".png", ContentFile(b"half a png"))
    long_ago = timezone.now() - timedelta(seconds=settings.COMPOSITE_STALE_AFTER + 1)
    Composite.objects.filter(pk=composite.pk).update(
        status=Status.RUNNING, attempts=1, started_at=long_ago, parameters={"pipeline": {"pending_output": lost_output}}
    )

    tasks.render(composite.pk)

    composite.refresh_from_db()
    assert composite.status == Status.DONE and composite.attempts == 2
    assert not default_storage.exists(lost_output)
    assert default_storage.listdir("composites")[1] == [composite.image.name.split("/")[1]]
    assert actions(composite) == [Action.COMPOSITE_REQUESTED, Action.COMPOSITE_STARTED, Action.COMPOSITE_DONE]
    requeued, started, done = AuditEvent.objects.filter(object_type="composite", object_id=str(composite.pk))
    assert requeued.details == {"requeued_after_attempt": 1, "reason": "the worker rendering it was lost"}
    assert started.details["attempt"] == done.details["attempt"] == 2


def test_a_transient_storage_error_leaves_the_composite_to_a_retry(sketch, artist, monkeypatch):
    composite = requested(sketch, artist)
    calls = []

    def flaky_store(name, data, **kwargs):
        calls.append(name)
        raise OSError("connection reset by storage")

    monkeypatch.setattr(custody, "store", flaky_store)
    with pytest.raises(pipeline.Interrupted) as interrupted:
        pipeline.render(composite.pk, batch_size=1)
    assert interrupted.value.composite_ids == [composite.pk]
    assert Composite.objects.get(pk=composite.pk).status == Status.REQUESTED

    monkeypatch.undo()
    pipeline.render(composite.pk, batch_size=1)
    composite.refresh_from_db()
    assert composite.status == Status.DONE and composite.attempts == 2
    assert actions(composite) == [
        Action.COMPOSITE_STARTED,
        Action.COMPOSITE_REQUESTED,
        Action.COMPOSITE_STARTED,
        Action.COMPOSITE_DONE,
    ]
    requeued = AuditEvent.objects.get(object_id=str(composite.pk), action=Action.COMPOSITE_REQUESTED)
    assert "connection reset by storage" in requeued.details["reason"]


def test_recovery_sweep_reenqueues_stalled_composites(sketch, artist, capsys, django_capture_on_commit_callbacks):
    stalled = requested(sketch, artist)
    Composite.objects.filter(pk=stalled.pk).update(created_at=timezone.now() - timedelta(hours=1))
    requested(sketch_of(sketch.case, artist, face_png(9)), artist)  # requested just now: not stalled

    with django_capture_on_commit_callbacks(execute=True):
        call_command("recover_composites", "--older-than", "600")

    assert f"Re-enqueued 1 composite(s): {stalled.pk}" in capsys.readouterr().out
    assert Composite.objects.get(pk=stalled.pk).status == Status.DONE


def test_the_periodic_sweep_sends_stalled_composites_again(
    sketch, artist, settings, django_capture_on_commit_callbacks
):
    long_ago = timezone.now() - timedelta(seconds=settings.COMPOSITE_STALE_AFTER + 60)
    lost = requested(sketch, artist)  # its job was lost by the broker
    Composite.objects.filter(pk=lost.pk).update(created_at=long_ago)
    abandoned = requested(sketch_of(sketch.case, artist, face_png(9)), artist)  # its worker died
    Composite.objects.filter(pk=abandoned.pk).update(status=Status.RUNNING, started_at=long_ago, attempts=1)
    waiting = requested(sketch, artist, style="color")  # requested just now: its job is on its way
    entry = celery_app.conf.beat_schedule["recover-composites"]  # what celery beat sends

    with django_capture_on_commit_callbacks(execute=True):
        sent = celery_app.tasks[entry["task"]].apply_async(entry.get("args", ()), entry.get("kwargs", {})).get()

    assert entry["schedule"] == settings.COMPOSITE_RECOVERY_INTERVAL
    assert sent == 2
    assert Composite.objects.get(pk=lost.pk).status == Status.DONE
    assert Composite.objects.get(pk=abandoned.pk).status == Status.DONE
    assert actions(abandoned) == [Action.COMPOSITE_REQUESTED, Action.COMPOSITE_STARTED, Action.COMPOSITE_DONE]
    assert Composite.objects.get(pk=waiting.pk).status == Status.REQUESTED


def test_redis_redelivers_a_job_only_after_its_time_limit(settings):
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] > settings.CELERY_TASK_TIME_LIMIT
