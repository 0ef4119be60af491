"""``GET /healthz``: can this instance take work?"""

import os

import redis
from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from inversion import STYLES

from .bundle import keys


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def check_broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "eager"
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


def check_storage() -> str:
    if isinstance(default_storage, FileSystemStorage):  # the folder must be writable
        os.makedirs(default_storage.location, exist_ok=True)
        if not os.access(default_storage.location, os.W_OK):
            raise PermissionError(f"{default_storage.location} is not writable")
    default_storage.exists("healthz")  # on S3: the bucket answers with these credentials
    return "ok"


def model_weights() -> dict[str, str]:
    """Which trained networks are installed. Missing weights do not make the instance unhealthy."""
    return {
        style: "present" if (settings.INVERSION_WEIGHTS_DIR / f"{style}.pt").is_file() else "missing"
        for style in STYLES
    }


def export_keys() -> list[dict] | str:
    """The public keys that sign case bundles, newest first (the current one unretired); public by nature."""
    try:
        return [key.as_dict() for key in keys.public_keys()]
    except keys.ExportKeyError as error:
        return f"error: {type(error).__name__}"  # the message names paths: for the operator, not the public


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {}
    for name, check in (("database", check_database), ("broker", check_broker), ("storage", check_storage)):
        try:
            checks[name] = check()
        except Exception as error:  # a failed check is reported, not raised
            checks[name] = f"error: {type(error).__name__}"
    healthy = all(not value.startswith("error") for value in checks.values())
    body = {
        "status": "ok" if healthy else "unavailable",
        **checks,
        "model_weights": model_weights(),
        "export_keys": export_keys(),
    }
    return JsonResponse(body, status=200 if healthy else 503)
