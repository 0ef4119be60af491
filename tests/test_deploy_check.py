"""Production settings pass ``manage.py check --deploy`` and every response carries the security headers."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "sketches.example.org",
    "HTTPS": "1",
}


def run_in_production(tmp_path, *arguments: str, **environ: str) -> subprocess.CompletedProcess:
    """Run ``python ...`` in a fresh process with only the production variables set."""
    keep = {"PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV"}
    env = {key: value for key, value in os.environ.items() if key in keep}
    env.update(PRODUCTION, DATA_DIR=str(tmp_path), **environ)
    return subprocess.run([sys.executable, *arguments], cwd=ROOT, env=env, capture_output=True, text=True)


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = run_in_production(tmp_path, "manage.py", "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_fails_when_served_over_plain_http(tmp_path):
    result = run_in_production(tmp_path, "manage.py", "check", "--deploy", "--fail-level", "WARNING", HTTPS="0")

    assert result.returncode != 0
    assert "SESSION_COOKIE_SECURE" in result.stderr


def test_production_cookies_are_secure_and_https_is_enforced(tmp_path):
    names = [
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SESSION_COOKIE_HTTPONLY",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "X_FRAME_OPTIONS",
        "DEBUG",
    ]
    code = f"import json, forensics.settings as s; print(json.dumps({{n: getattr(s, n) for n in {names!r}}}))"

    result = run_in_production(tmp_path, "-c", code)

    assert json.loads(result.stdout) == {
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 365 * 24 * 60 * 60,
        "X_FRAME_OPTIONS": "DENY",
        "DEBUG": False,
    }


@pytest.mark.parametrize("url", ["/accounts/login/", "/cases/", "/no-such-page/"])
def test_every_response_carries_the_security_headers(client, db, url):
    response = client.get(url)

    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "object-src 'none'" in policy
    assert "unsafe-eval" not in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"


def test_https_responses_tell_browsers_to_stay_on_https(client, db, settings):
    settings.SECURE_HSTS_SECONDS = 31_536_000

    response = client.get(reverse("login"), secure=True)

    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def test_plain_http_is_redirected_to_https_except_the_health_check(client, db, settings):
    settings.SECURE_SSL_REDIRECT = True

    response = client.get(reverse("login"))

    assert response.status_code == 301
    assert response.headers["Location"].startswith("https://")
    assert client.get(reverse("healthz")).status_code != 301
