"""Shared fixtures: one case with a member in each role, and users outside it."""

import pytest
from django.db.backends.base.operations import BaseDatabaseOperations

from accounts.roles import GlobalRole
from audit.models import AuditEvent
from cases.models import CaseMembership
from forensics.celery import app as celery_app
from inversion import STYLES, cards, inference

from . import triggers
from .browser import browser, server  # noqa: F401  (fixtures of the browser tests)
from .factories import CaseFactory, MembershipFactory, UserFactory
from .inversion_fixtures import write_random_weights
from .workers import (  # noqa: F401  (fixtures of the worker tests)
    connect_deployment,
    deployment,
    shared_deployment,
    worker_redis_url,
    worker_weights,
)

Role = CaseMembership.Role


@pytest.fixture(autouse=True, scope="session")
def flush_past_the_audit_triggers():
    """Let the teardown of transactional tests empty the audit tables, as the database owner would.

    The append-only triggers make ``flush`` fail, as they should in
    production; here they are switched off around the flush only.
    """
    original = BaseDatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        vendor = self.connection.vendor
        return original(
            self, [*triggers.statements(vendor, on=False), *sql_list, *triggers.statements(vendor, on=True)]
        )

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseDatabaseOperations, "execute_sql_flush", execute_sql_flush)
        yield


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}},
    }


@pytest.fixture
def lead(db):
    return UserFactory(username="lead", groups=[GlobalRole.INVESTIGATOR])


@pytest.fixture
def case(lead):
    case = CaseFactory(reference="2026-CID-0042", title="Street robbery", created_by=lead)
    MembershipFactory(case=case, user=lead, role=Role.CASE_LEAD)
    return case


@pytest.fixture
def artist(case):
    user = UserFactory(username="artist", groups=[GlobalRole.FORENSIC_ARTIST])
    MembershipFactory(case=case, user=user, role=Role.FORENSIC_ARTIST)
    return user


@pytest.fixture
def investigator(case):
    user = UserFactory(username="investigator", groups=[GlobalRole.INVESTIGATOR])
    MembershipFactory(case=case, user=user, role=Role.INVESTIGATOR)
    return user


@pytest.fixture
def outsider(db):
    """A forensic artist who is not a member of ``case``."""
    return UserFactory(username="outsider", groups=[GlobalRole.FORENSIC_ARTIST])


@pytest.fixture
def auditor(db):
    return UserFactory(username="auditor", groups=[GlobalRole.AUDITOR])


@pytest.fixture
def admin(db):
    return UserFactory(username="admin", is_staff=True, is_superuser=True)


class AuditLog:
    """The audit events written since ``mark()``."""

    def __init__(self) -> None:
        self.mark()

    def mark(self) -> None:
        self.start = AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first() or 0

    def new(self) -> list[AuditEvent]:
        return list(AuditEvent.objects.filter(sequence__gt=self.start))


@pytest.fixture
def audit_log(db) -> AuditLog:
    return AuditLog()


@pytest.fixture
def random_weights(tmp_path_factory, monkeypatch):
    """Random-weight networks of every style, with matching cards, in place
    of the shipped ones."""
    folder = tmp_path_factory.mktemp("weights")
    for style in STYLES:
        write_random_weights(folder, style)
    monkeypatch.setattr(cards, "WEIGHTS_DIR", folder)
    inference.reset_models()
    yield folder
    inference.reset_models()


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with an empty cache where the cache is this process's (SQLite reuses the ids
    of a rolled-back test; PostgreSQL, with Redis as the cache in CI, never does)."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    if isinstance(caches["default"], LocMemCache):
        caches["default"].clear()
    yield


@pytest.fixture(autouse=True)
def jobs_in_process(request):
    """Jobs sent by the code under test run in-process, as on a laptop, also where REDIS_URL is
    set (CI): a test's transaction never commits, so a job sent after commit would never run.
    The worker tests point Celery at a real broker themselves (``workers.connect_deployment``)."""
    if request.node.get_closest_marker("broker_settings"):
        yield
        return
    was = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = was


@pytest.fixture
def eager_jobs(jobs_in_process):
    """Composites render in-process (every test's default now; kept for the tests that say so)."""
