"""GET /healthz tells an operator or a load balancer whether this instance can take work."""

from unittest import mock

import pytest
from django.db.utils import OperationalError


@pytest.fixture
def weights_dir(settings, tmp_path):
    settings.INVERSION_WEIGHTS_DIR = tmp_path / "weights"
    settings.INVERSION_WEIGHTS_DIR.mkdir()
    return settings.INVERSION_WEIGHTS_DIR


def test_healthy_laptop_default_answers_200_with_every_check(client, db, weights_dir, settings, tmp_path):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.EXPORT_KEY_DIR = tmp_path / "export-keys"  # not a developer's own key

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "broker": "eager",
        "storage": "ok",
        "model_weights": {"line": "missing", "grayscale": "missing", "color": "missing"},
        "export_keys": [],
    }


def test_installed_weights_are_reported(client, db, weights_dir):
    (weights_dir / "line.pt").write_bytes(b"weights")

    assert client.get("/healthz").json()["model_weights"]["line"] == "present"


def test_needs_no_login(client, db):
    assert client.get("/healthz").status_code == 200


def test_unreachable_broker_answers_503(client, db, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["broker"] == "error: ConnectionError"
    assert response.json()["status"] == "unavailable"


def test_database_down_answers_503(client, db):
    with mock.patch("cases.health.check_database", side_effect=OperationalError("down")):
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["database"] == "error: OperationalError"


def test_reachable_redis_broker_is_ok(client, db, settings):
    import redis

    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.ConnectionError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = url

    assert client.get("/healthz").json()["broker"] == "ok"
