"""The composite pipeline through real ``celery worker`` processes, Redis and PostgreSQL.

The workers run on a queue of their own, in a Redis database of their own,
against pytest-django's test database (committed data: ``transaction=True``),
with a random-weight network; the harness is in ``workers.py``.
"""

import hashlib
import io
import re
import time

import pytest
import redis
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse
from PIL import Image

from audit.models import AuditEvent
from cases import composite_png, services
from cases.models import Composite, WitnessSketch
from inversion import inference

from .inversion_fixtures import generated_face
from .workers import derived_in_process, missing_services, wait_for

Status = Composite.Status
Action = AuditEvent.Action

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(bool(missing_services()), reason=missing_services() or "services present"),
]


def face_png(seed: int, size: int = 128) -> bytes:
    image = Image.fromarray(generated_face(seed)).resize((size, size), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def upload(case, artist, data: bytes):
    """A sketch whose face a worker has already found."""
    with derived_in_process():
        return services.add_sketch(case, io.BytesIO(data), user=artist, style="line", filename="sketch.png")


def finished(*composites: Composite) -> bool:
    pks = [c.pk for c in composites]
    return Composite.objects.filter(pk__in=pks, status__in=[Status.DONE, Status.FAILED]).count() == len(pks)


def stored_composites() -> list[str]:
    return default_storage.listdir("composites")[1] if default_storage.exists("composites") else []


def trail(composite: Composite) -> list[tuple[str, dict]]:
    events = AuditEvent.objects.filter(object_type="composite", object_id=str(composite.pk))
    return [(event.action, event.details) for event in events]


def test_a_worker_renders_a_requested_composite_with_its_provenance(case, artist, deployment):
    worker = deployment.worker()
    sketch = upload(case, artist, face_png(1))

    composite, _ = services.request_composite(sketch, "line", user=artist)

    wait_for(lambda: finished(composite), 60, "composite rendered", worker)
    composite.refresh_from_db()
    assert composite.status == Status.DONE, composite.error_message
    data = default_storage.open(composite.image.name).read()
    text = composite_png.read_text(data)
    assert text["sketch_sha256"] == sketch.sha256
    assert text["weights_sha256"] == composite.weights_sha256
    assert text["device"] == composite.device
    assert composite.device.startswith(inference.default_device().type)  # cuda where there is a GPU
    assert composite.weights_sha256 in worker.output()  # logged when the worker process started
    assert [action for action, _ in trail(composite)] == [
        Action.COMPOSITE_REQUESTED,
        Action.COMPOSITE_STARTED,
        Action.COMPOSITE_DONE,
    ]
    # The process that loaded the network at start rendered it.
    pid = re.search(r"inversion worker pid (\d+): line model", worker.output()).group(1)
    assert trail(composite)[1][1]["worker"].endswith(f":{pid}")


def test_a_worker_killed_mid_job_loses_nothing_and_writes_one_file_per_composite(case, artist, deployment):
    # Big scans: face detection keeps the worker busy for seconds.
    sketches = [upload(case, artist, face_png(seed, size=1600)) for seed in (0, 1, 3, 6)]  # faces dlib finds
    worker = deployment.worker()
    files_before = set(stored_composites())
    with transaction.atomic():  # sent together on commit, so the worker claims them as one batch
        composites = [services.request_composite(sketch, "line", user=artist)[0] for sketch in sketches]
    wait_for(lambda: Composite.objects.filter(status=Status.RUNNING).exists(), 30, "a composite running", worker)

    worker.kill()
    assert not finished(*composites), "the job ended before the worker was killed; use bigger sketches"

    deployment.worker()  # a new one
    call_command("recover_composites")  # running, and no live worker holds them: sent again at once
    wait_for(lambda: finished(*composites), 120, "composites finished after the restart")
    for composite in composites:
        composite.refresh_from_db()
        assert composite.status == Status.DONE, composite.error_message
    assert set(stored_composites()) - files_before == {c.image.name.split("/")[1] for c in composites}
    resumed = [c for c in composites if c.attempts == 2]
    assert resumed, "no composite was taken over from the killed worker"
    actions = [
        (action, details.get("attempt", details.get("requeued_after_attempt"))) for action, details in trail(resumed[0])
    ]
    assert actions == [
        (Action.COMPOSITE_REQUESTED, None),
        (Action.COMPOSITE_STARTED, 1),
        (Action.COMPOSITE_REQUESTED, 1),  # the worker rendering attempt 1 was lost
        (Action.COMPOSITE_STARTED, 2),
        (Action.COMPOSITE_DONE, 2),
    ]
    assert trail(resumed[0])[2][1]["reason"] == "the worker rendering it was lost"


def test_jobs_lost_by_redis_are_sent_again_by_the_recovery_sweep(case, artist, deployment):
    deployment.kill_workers()  # jobs wait in Redis while no worker is up...
    composites = [
        services.request_composite(upload(case, artist, face_png(seed)), "line", user=artist)[0] for seed in (1, 3)
    ]
    broker = redis.Redis.from_url(deployment.redis_url)
    assert broker.llen(deployment.queue) == 2
    broker.flushdb()  # ...and Redis loses them
    worker = deployment.worker()
    time.sleep(2)
    assert Composite.objects.filter(status=Status.REQUESTED).count() == 2  # nothing came

    call_command("recover_composites", "--older-than", "0")

    wait_for(lambda: finished(*composites), 60, "composites rendered after the sweep", worker)
    assert set(Composite.objects.values_list("status", flat=True)) == {Status.DONE}


def test_duplicate_requests_run_the_network_once(case, artist, deployment):
    worker = deployment.worker()
    twins = [upload(case, artist, face_png(3)) for _ in range(2)]  # the same file uploaded twice
    files_before = set(stored_composites())
    both = [services.request_composite(sketch, "line", user=artist)[0] for sketch in twins]
    wait_for(lambda: finished(*both), 60, "both composites finished", worker)

    first, again = Composite.objects.filter(pk__in=[c.pk for c in both]).order_by("pk")
    assert first.status == again.status == Status.DONE
    assert again.reused_from_id == first.pk and again.output_sha256 == first.output_sha256
    assert set(stored_composites()) - files_before == {first.image.name.split("/")[1]}
    done = AuditEvent.objects.get(object_id=str(again.pk), action=Action.COMPOSITE_DONE)
    assert done.details["network_run"] is False and done.details["reused_from"] == first.pk


def test_a_corrupt_sketch_fails_clearly_and_the_worker_keeps_going(case, artist, deployment):
    worker = deployment.worker()
    damaged = face_png(6)[:300]  # a truncated scan, stored as it came (an import; a bad disk)
    sha256 = hashlib.sha256(damaged).hexdigest()
    name = default_storage.save(f"sketches/{sha256}.png", ContentFile(damaged))
    bad = WitnessSketch.objects.create(
        case=case,
        uploaded_by=artist,
        original=name,
        sha256=sha256,
        size=len(damaged),
        width=128,
        height=128,
        style="line",
    )

    # No face can be found in it, so the artist draws the box, as the page asks.
    failing, _ = services.request_composite(bad, "line", user=artist, parameters={"box": [0, 0, 128, 128]})
    wait_for(lambda: finished(failing), 60, "corrupt composite finished", worker)
    after, _ = services.request_composite(upload(case, artist, face_png(6)), "line", user=artist)
    wait_for(lambda: finished(after), 60, "next composite rendered", worker)

    failing.refresh_from_db()
    assert failing.status == Status.FAILED
    assert failing.error_message.startswith("The sketch file is damaged or not an image we can read")
    assert [action for action, _ in trail(failing)][-1] == Action.COMPOSITE_FAILED
    assert Composite.objects.get(pk=after.pk).status == Status.DONE
    assert worker.process.poll() is None


def test_a_worker_finds_the_face_of_an_upload_and_the_page_shows_it(client, case, artist, deployment):
    worker = deployment.worker()
    sketch = services.add_sketch(case, io.BytesIO(face_png(1)), user=artist, style="line", filename="s.png")
    assert sketch.face_found is None  # the upload answered before the face was looked for
    wait_for(lambda: WitnessSketch.objects.get(pk=sketch.pk).face_found is not None, 60, "face found", worker)
    sketch.refresh_from_db()
    assert sketch.face_found and sketch.face_crop_sha256 and len(sketch.face_descriptor) == 128
    client.force_login(artist)
    status = client.get(reverse("composites_status", args=[case.pk, sketch.pk])).json()
    assert (status["face"]["looking"], status["face"]["found"], status["face"]["box"]) == (False, True, sketch.face_box)
