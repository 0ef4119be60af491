"""The composite pipeline through real ``celery worker`` processes, Redis and PostgreSQL.

Each test starts its own worker on a queue of its own, in a Redis database
of its own, against pytest-django's test database (committed data:
``transaction=True``), with a random-weight network.
"""

import hashlib
import io
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import kombu.pools
import pytest
import redis
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection, transaction
from PIL import Image

from audit.models import AuditEvent
from cases import composite_png, services
from cases.models import Composite, WitnessSketch
from forensics import celery_app
from inversion import STYLES, inference

from .inversion_fixtures import generated_face, write_random_weights

Status = Composite.Status
Action = AuditEvent.Action

REDIS_BASE = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]
DATABASE_URL = os.environ.get("DATABASE_URL", "")
RUN_LOCK = "forensics:pipeline-tests"


def _missing_services() -> str:
    if not DATABASE_URL.startswith(("postgres://", "postgresql://")):
        return "needs DATABASE_URL pointing at PostgreSQL: worker processes must see the test database"
    try:
        redis.Redis.from_url(REDIS_BASE + "/0", socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        return f"needs Redis at {REDIS_BASE}: {error}"
    return ""


pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(bool(_missing_services()), reason=_missing_services() or "services present"),
]


@pytest.fixture(scope="module")
def redis_url():
    """A Redis database no one else is using, held for this module."""
    for db in range(15, 0, -1):
        client = redis.Redis.from_url(f"{REDIS_BASE}/{db}")
        if client.dbsize() == 0 and client.set(RUN_LOCK, os.getpid(), nx=True, ex=3600):
            yield f"{REDIS_BASE}/{db}"
            client.flushdb()
            return
    pytest.skip("no empty Redis database (1-15) to run the worker tests in")


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    """The line network only: the tests draw line sketches, and workers start sooner."""
    folder = tmp_path_factory.mktemp("weights")
    write_random_weights(folder, "line")
    return folder


def _reset_connections() -> None:
    kombu.pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    celery_app.amqp.flush_routes()
    celery_app.amqp.__dict__.pop("router", None)


class Worker:
    """``celery -A forensics worker`` in its own process group, logging to a file."""

    OPTIONS = [
        "--concurrency",
        "1",
        "--loglevel",
        "INFO",
        "--without-heartbeat",
        "--without-gossip",
        "--without-mingle",
    ]

    def __init__(self, env: dict[str, str], queue: str, log: Path) -> None:
        self.log = log
        self.output_file = log.open("ab")
        command = [sys.executable, "-m", "celery", "-A", "forensics", "worker", "-Q", queue, "-n", f"{queue}@%h"]
        self.process = subprocess.Popen(
            [*command, *self.OPTIONS],
            env=env,
            stdout=self.output_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> None:
        """Until the worker consumes and its process has loaded the networks (or said which are missing)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.output()
            if " ready." in text and text.count("inversion worker pid ") >= len(STYLES):
                return
            assert self.process.poll() is None, f"worker exited:\n{text}"
            time.sleep(0.2)
        raise AssertionError(f"worker not ready after {timeout} s:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL the worker and its pool process, as a machine loss would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.output_file.close()


class Deployment:
    """Workers on a queue of their own, sharing one DATA_DIR, against the test database."""

    def __init__(self, redis_url: str, weights: Path, folder: Path) -> None:
        self.queue = f"inversion-test-{uuid.uuid4().hex[:8]}"
        self.redis_url = redis_url
        self.folder = folder
        self.media = folder / "media"
        database = connection.settings_dict
        self.env = {
            **os.environ,
            "DATABASE_URL": (
                f"postgres://{database['USER']}:{database['PASSWORD'] or ''}@{database['HOST']}"
                f":{database['PORT'] or 5432}/{database['NAME']}"
            ),
            "REDIS_URL": redis_url,
            "INVERSION_QUEUE": self.queue,
            "INVERSION_WEIGHTS_DIR": str(weights),
            "DATA_DIR": str(folder),
            "SECRET_KEY": "tests-only-secret-key-not-for-production",
            "INVERSION_BATCH_SIZE": "8",
            "LOG_LEVEL": "INFO",
        }
        self.workers: list[Worker] = []

    def start_worker(self) -> Worker:
        worker = Worker(self.env, self.queue, self.folder / f"worker-{len(self.workers)}.log")
        self.workers.append(worker)
        worker.wait_ready()
        return worker

    def worker(self) -> Worker:
        """The running worker, started on first use."""
        running = [worker for worker in self.workers if worker.process.poll() is None]
        return running[-1] if running else self.start_worker()

    def kill_workers(self) -> None:
        for worker in self.workers:
            worker.kill()  # a graceful stop takes seconds, and is not what these tests are about


@pytest.fixture(scope="module")
def shared_deployment(redis_url, weights, tmp_path_factory, django_db_setup):
    """One worker for the tests that do not stop it or its broker: workers take seconds to start."""
    deployment = Deployment(redis_url, weights, tmp_path_factory.mktemp("shared"))
    yield deployment
    deployment.kill_workers()


@pytest.fixture
def connect(settings):
    """Point this process at a deployment: its media folder, and its queue in Redis."""
    conf = celery_app.conf
    saved = {key: conf[key] for key in ("broker_url", "task_always_eager", "task_routes")}

    def connect(deployment: Deployment) -> Deployment:
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": deployment.media},
            },
        }
        routes = {"inversion.tasks.*": {"queue": deployment.queue}}
        conf.update(broker_url=deployment.redis_url, task_always_eager=False, task_routes=routes)
        _reset_connections()
        return deployment

    yield connect
    conf.update(saved)
    _reset_connections()


@pytest.fixture
def shared(shared_deployment, connect) -> Deployment:
    return connect(shared_deployment)


def face_png(seed: int, size: int = 128) -> bytes:
    image = Image.fromarray(generated_face(seed)).resize((size, size), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def upload(case, artist, data: bytes):
    return services.add_sketch(case, io.BytesIO(data), user=artist, style="line", filename="sketch.png")


def wait_for(condition, timeout: float, what: str, worker: Worker | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout} s" + (f"; worker log:\n{worker.output()}" if worker else ""))


def finished(*composites: Composite) -> bool:
    pks = [c.pk for c in composites]
    return Composite.objects.filter(pk__in=pks, status__in=[Status.DONE, Status.FAILED]).count() == len(pks)


def stored_composites() -> list[str]:
    return default_storage.listdir("composites")[1] if default_storage.exists("composites") else []


def trail(composite: Composite) -> list[tuple[str, dict]]:
    events = AuditEvent.objects.filter(object_type="composite", object_id=str(composite.pk))
    return [(event.action, event.details) for event in events]


def test_a_worker_renders_a_requested_composite_with_its_provenance(case, artist, shared):
    worker = shared.worker()
    sketch = upload(case, artist, face_png(1))

    composite = services.request_composite(sketch, "line", user=artist)

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


def test_a_worker_killed_mid_job_loses_nothing_and_writes_one_file_per_composite(case, artist, shared):
    # Big scans: face detection keeps the worker busy for seconds.
    sketches = [upload(case, artist, face_png(seed, size=1600)) for seed in range(4)]
    worker = shared.worker()
    files_before = set(stored_composites())
    with transaction.atomic():  # sent together on commit, so the worker claims them as one batch
        composites = [services.request_composite(sketch, "line", user=artist) for sketch in sketches]
    wait_for(lambda: Composite.objects.filter(status=Status.RUNNING).exists(), 30, "a composite running", worker)

    worker.kill()
    assert not finished(*composites), "the job ended before the worker was killed; use bigger sketches"

    shared.worker()  # a new one
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


def test_jobs_lost_by_redis_are_sent_again_by_the_recovery_sweep(case, artist, shared):
    shared.kill_workers()  # jobs wait in Redis while no worker is up...
    composites = [
        services.request_composite(upload(case, artist, face_png(seed)), "line", user=artist) for seed in (1, 2)
    ]
    broker = redis.Redis.from_url(shared.redis_url)
    assert broker.llen(shared.queue) == 2
    broker.flushdb()  # ...and Redis loses them
    worker = shared.worker()
    time.sleep(2)
    assert Composite.objects.filter(status=Status.REQUESTED).count() == 2  # nothing came

    call_command("recover_composites", "--older-than", "0")

    wait_for(lambda: finished(*composites), 60, "composites rendered after the sweep", worker)
    assert set(Composite.objects.values_list("status", flat=True)) == {Status.DONE}


def test_duplicate_requests_run_the_network_once(case, artist, shared):
    worker = shared.worker()
    sketch = upload(case, artist, face_png(4))
    files_before = set(stored_composites())
    both = [services.request_composite(sketch, "line", user=artist) for _ in range(2)]
    wait_for(lambda: finished(*both), 60, "both composites finished", worker)

    first, again = Composite.objects.filter(pk__in=[c.pk for c in both]).order_by("pk")
    assert first.status == again.status == Status.DONE
    assert again.reused_from_id == first.pk and again.output_sha256 == first.output_sha256
    assert set(stored_composites()) - files_before == {first.image.name.split("/")[1]}
    done = AuditEvent.objects.get(object_id=str(again.pk), action=Action.COMPOSITE_DONE)
    assert done.details["network_run"] is False and done.details["reused_from"] == first.pk


def test_a_corrupt_sketch_fails_clearly_and_the_worker_keeps_going(case, artist, shared):
    worker = shared.worker()
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

    failing = services.request_composite(bad, "line", user=artist)
    wait_for(lambda: finished(failing), 60, "corrupt composite finished", worker)
    after = services.request_composite(upload(case, artist, face_png(5)), "line", user=artist)
    wait_for(lambda: finished(after), 60, "next composite rendered", worker)

    failing.refresh_from_db()
    assert failing.status == Status.FAILED
    assert failing.error_message.startswith("The sketch file is damaged or not an image we can read")
    assert [action for action, _ in trail(failing)][-1] == Action.COMPOSITE_FAILED
    assert Composite.objects.get(pk=after.pk).status == Status.DONE
    assert worker.process.poll() is None
