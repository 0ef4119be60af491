"""With a broker configured (production), the web process never imports PyTorch, dlib or OpenCV:
derived data, descriptors and composites are made by workers (``web_tier_probe.py``)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

REPO = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0] + "/13"


def redis_missing() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        return f"needs Redis as the broker: {error}"
    return ""


@pytest.mark.slow
@pytest.mark.skipif(bool(redis_missing()), reason=redis_missing() or "Redis is up")
def test_no_page_or_api_endpoint_imports_torch_dlib_or_opencv(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "1",
        "ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(REPO),
    }
    env.pop("REDIS_URL", None)  # preparing runs the workers' jobs in-process
    prepared = probe(["prepare"], env)
    ids = json.loads(prepared.splitlines()[-1])

    visited = json.loads(probe(["visit", json.dumps(ids)], env | {"REDIS_URL": REDIS_URL}).splitlines()[-1])
    redis.Redis.from_url(REDIS_URL).flushdb()  # the jobs the visit sent, for no worker

    answers = visited["answers"]
    assert answers.pop("similarity shown"), "the comparison gave no similarity from the stored descriptors"
    failures = {url: status for url, status in answers.items() if status >= 400}
    assert not failures, failures
    assert answers["upload"] == 302 and answers["request"] == 302
    assert visited["imported"] == []


def probe(arguments: list[str], env: dict) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "tests.web_tier_probe", *arguments],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout
