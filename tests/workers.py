"""Real ``celery worker`` processes for the pipeline tests, against Redis and
pytest-django's PostgreSQL test database.

Each test module gets a Redis database of its own, and each deployment a
queue of its own, so runs do not see each other's jobs. The fixtures are
registered in ``conftest.py``.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import kombu.pools
import pytest
import redis
from django.db import connection

from forensics import celery_app
from inversion import STYLES

from .inversion_fixtures import write_random_weights

REDIS_BASE = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]
DATABASE_URL = os.environ.get("DATABASE_URL", "")
RUN_LOCK = "forensics:pipeline-tests"


def missing_services() -> str:
    """Why worker tests cannot run here, or ``""`` when they can."""
    if not DATABASE_URL.startswith(("postgres://", "postgresql://")):
        return "needs DATABASE_URL pointing at PostgreSQL: worker processes must see the test database"
    try:
        redis.Redis.from_url(REDIS_BASE + "/0", socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        return f"needs Redis at {REDIS_BASE}: {error}"
    return ""


def reset_connections() -> None:
    """Forget this process's broker connections and routes, after the Celery settings changed."""
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


@contextlib.contextmanager
def derived_in_process():
    """Jobs run here for the block, as if a worker had already done them: an upload's face is
    found before the test asks for composites, and no derive job is left in the queue."""
    was = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = was


def wait_for(condition: Callable[[], bool], timeout: float, what: str, worker: Worker | None = None) -> None:
    """Poll ``condition`` until it holds; fail saying ``what`` did not happen (with the worker's log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout} s" + (f"; worker log:\n{worker.output()}" if worker else ""))


@pytest.fixture(scope="module")
def worker_redis_url():
    """A Redis database no one else is using, held for this module."""
    for db in range(15, 0, -1):
        client = redis.Redis.from_url(f"{REDIS_BASE}/{db}")
        if client.dbsize() == 0 and client.set(RUN_LOCK, os.getpid(), nx=True, ex=3600):
            yield f"{REDIS_BASE}/{db}"
            client.flushdb()
            return
    pytest.skip("no empty Redis database (1-15) to run the worker tests in")


@pytest.fixture(scope="module")
def worker_weights(tmp_path_factory) -> Path:
    """The line network only: the tests draw line sketches, and workers start sooner."""
    folder = tmp_path_factory.mktemp("weights")
    write_random_weights(folder, "line")
    return folder


@pytest.fixture(scope="module")
def shared_deployment(worker_redis_url, worker_weights, tmp_path_factory, django_db_setup):
    """One worker for the tests that do not stop it or its broker: workers take seconds to start."""
    deployment = Deployment(worker_redis_url, worker_weights, tmp_path_factory.mktemp("shared"))
    yield deployment
    deployment.kill_workers()


@pytest.fixture
def connect_deployment(settings):
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
        routes = {pattern: {"queue": deployment.queue} for pattern in settings.CELERY_TASK_ROUTES}  # every job
        conf.update(broker_url=deployment.redis_url, task_always_eager=False, task_routes=routes)
        reset_connections()
        return deployment

    yield connect
    conf.update(saved)
    reset_connections()


@pytest.fixture
def deployment(shared_deployment, connect_deployment) -> Deployment:
    """The shared deployment, with this process connected to it."""
    return connect_deployment(shared_deployment)
