"""Settings come from the environment; bad values name the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from forensics.settings import env_bool, env_int

ROOT = Path(__file__).resolve().parent.parent


def test_env_bool_reads_common_spellings(monkeypatch):
    monkeypatch.setenv("FLAG", "Yes")
    assert env_bool("FLAG", False) is True
    monkeypatch.setenv("FLAG", "0")
    assert env_bool("FLAG", True) is False


def test_env_bool_names_the_variable_with_a_bad_value(monkeypatch):
    monkeypatch.setenv("FLAG", "maybe")

    with pytest.raises(ImproperlyConfigured, match="FLAG"):
        env_bool("FLAG", False)


def test_env_int_names_the_variable_with_a_bad_value(monkeypatch):
    monkeypatch.setenv("SESSION_COOKIE_AGE", "eight hours")

    with pytest.raises(ImproperlyConfigured, match="SESSION_COOKIE_AGE"):
        env_int("SESSION_COOKIE_AGE", 1)


def load_settings(**environ: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in {"SECRET_KEY", "DEBUG", "DATABASE_URL"}}
    env.update(environ)
    shown = "s.DEBUG, s.CELERY_TASK_ALWAYS_EAGER, s.SESSION_ENGINE.rsplit('.', 1)[1]"
    return subprocess.run(
        [sys.executable, "-c", f"import forensics.settings as s; print({shown})"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = load_settings(DATA_DIR=str(tmp_path))

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_laptop_default_is_debug_only_when_asked_and_runs_jobs_in_process(tmp_path):
    result = load_settings(DEBUG="1", DATA_DIR=str(tmp_path), REDIS_URL="")

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "db"]


def test_sessions_are_kept_in_redis_only_where_every_process_shares_it(tmp_path):
    """A session cached in one process's memory would outlive a logout made in another."""
    result = load_settings(DEBUG="1", DATA_DIR=str(tmp_path), REDIS_URL="redis://127.0.0.1:6379/0")

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False", "cached_db"]


def test_s3_storage_needs_a_bucket(tmp_path):
    result = load_settings(DEBUG="1", DATA_DIR=str(tmp_path), STORAGE_BACKEND="s3")

    assert "S3_BUCKET" in result.stderr


@pytest.mark.broker_settings
def test_celery_runs_in_process_without_redis_and_routes_inversion_jobs_to_their_queue(settings):
    from forensics import celery_app

    assert celery_app.conf.task_always_eager is settings.CELERY_TASK_ALWAYS_EAGER
    assert celery_app.conf.task_serializer == "json"
    assert celery_app.conf.task_acks_late is True
    assert celery_app.amqp.router.route({}, "inversion.tasks.render")["queue"].name == "inversion"
