"""Chain of custody for stored files.

Every evidence file (sketch, composite, candidate photo, export) is named by
its SHA-256, written once and never overwritten or deleted through the app.
``store`` writes a file under its content name and refuses to let a
different file hide behind that name; ``open_verified`` re-hashes a stored
file on every download and export and refuses to hand out bytes that no
longer match the hash recorded at upload. A mismatch is an
``integrity_failed`` audit event, committed even though the read fails, so
the auditor sees it.

A store that does not answer (S3 down, a connection refused or cut, a 5xx;
a local disk that fails) is none of these: every storage call here raises
``StorageUnavailable`` for it, and nothing is recorded against the file.
Uploads answer 503; render jobs wait and retry (``cases.pipeline``).
"""

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from botocore import exceptions as boto
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage
from django.db import models, transaction
from django.db.models.fields.files import FieldFile
from django.http import HttpRequest

import audit

from .models import Case

log = logging.getLogger(__name__)

#: What a user is told when an upload meets a storage outage.
UNAVAILABLE_MESSAGE = (
    "Evidence storage is unavailable at the moment, so nothing was stored. "
    "Try again in a few minutes; if this goes on, tell your administrator."
)


class StorageUnavailable(Exception):
    """The store did not answer, or answered that it cannot serve now.

    It passes: the same call may succeed later. The message says which file
    and what failed, for the log; tell users ``UNAVAILABLE_MESSAGE``.
    """


class CustodyError(Exception):
    """A stored file is missing or no longer matches the SHA-256 recorded for it."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


def store(
    name: str,
    data: bytes,
    *,
    storage: Storage | None = None,
    user=None,
    request: HttpRequest | None = None,
    case: Case | None = None,
) -> bool:
    """Save ``data`` under its content-addressed ``name``; True if this call wrote the file.

    When the name is taken the file there must hold the same bytes (the same
    content gives the same name); a different file is a custody failure,
    audited, and nothing is written. A storage that would rename the file to
    keep both (``get_available_name``) is caught the same way.
    """
    storage = storage or default_storage
    digest = hashlib.sha256(data).hexdigest()
    if digest not in name:
        raise ValueError(f"{name} is not named by its content's SHA-256 {digest}")
    with storage_call(name):
        taken = storage.exists(name)
    if taken:
        _check_stored(storage, name, digest, user=user, request=request, case=case)
        return False
    with storage_call(name):
        saved = storage.save(name, ContentFile(data))
    if saved != name:
        # Another writer stored the same name in between and the storage kept
        # both. Ours is a spare copy, not evidence: remove it, check theirs.
        with storage_call(saved):
            storage.delete(saved)
        _check_stored(storage, name, digest, user=user, request=request, case=case)
        return False
    return True


def open_verified(
    field_file: FieldFile,
    expected_sha256: str,
    *,
    user=None,
    request: HttpRequest | None = None,
    case: Case | None = None,
    obj: models.Model | None = None,
) -> bytes:
    """The stored file's bytes, after checking they still hash to ``expected_sha256``.

    Raises ``CustodyError`` when the file is missing or altered, after
    recording an ``integrity_failed`` event with the expected and actual
    SHA-256: every mismatch, found by a download, an export or a worker,
    is audited the same way. Raises ``StorageUnavailable``, and records
    nothing, when the store does not answer. Call it outside any transaction
    (``RuntimeError`` otherwise): the event must be committed even though
    the caller's work fails.
    """
    _require_no_transaction()
    name = field_file.name
    try:
        with storage_call(name), field_file.storage.open(name, "rb") as stored:
            data = stored.read()
    except FileNotFoundError:
        _record_failure(name, expected_sha256, None, user=user, request=request, case=case, obj=obj)
        raise CustodyError(_message(name, missing=True), missing=True) from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        _record_failure(name, expected_sha256, actual, user=user, request=request, case=case, obj=obj)
        raise CustodyError(_message(name))
    return data


@contextmanager
def storage_call(name: str) -> Iterator[None]:
    """Turn a storage backend's sign that the store is down into ``StorageUnavailable``.

    botocore's connection and HTTP client errors (refused, reset, timed
    out), an S3 answer in the 5xx range, and an ``OSError`` from a local
    disk count; a missing file (``FileNotFoundError``, S3's 404) and a
    refusal (S3's 403) do not.
    """
    try:
        yield
    except FileNotFoundError:
        raise
    except (boto.ConnectionError, boto.HTTPClientError, boto.ClientError, OSError) as error:
        if isinstance(error, boto.ClientError) and _http_status(error) < 500:
            raise
        log.warning("storage unavailable for %s: %s: %s", name, type(error).__name__, error)
        raise StorageUnavailable(f"storage unavailable for {name}: {type(error).__name__}: {error}") from error


def _http_status(error: boto.ClientError) -> int:
    return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)


def _check_stored(storage: Storage, name: str, digest: str, **who) -> None:
    with storage_call(name), storage.open(name, "rb") as stored:
        actual = hashlib.sha256(stored.read()).hexdigest()
    if actual != digest:
        _record_failure(name, digest, actual, **who)
        raise CustodyError(_message(name))


def _record_failure(
    name: str,
    expected: str,
    actual: str | None,
    *,
    user,
    request: HttpRequest | None,
    case: Case | None,
    obj: models.Model | None = None,
) -> None:
    with transaction.atomic(durable=True):
        audit.record(
            audit.Action.INTEGRITY_FAILED,
            user=user,
            request=request,
            obj=obj,
            case=case,
            object_type=None if obj is not None else "file",
            object_id=None if obj is not None else name[:64],
            outcome=audit.Outcome.FAILED,
            details={
                "file": name,
                "expected_sha256": expected,
                "actual_sha256": actual,
                "problem": "missing" if actual is None else "altered",
            },
        )


def _require_no_transaction() -> None:
    """Fail on the first call, not on the day a file is found altered, if a transaction is open."""
    with transaction.atomic(durable=True):
        pass


def _message(name: str, *, missing: bool = False) -> str:
    problem = "is missing from storage" if missing else "no longer matches the fingerprint recorded when it was stored"
    return (
        f"The stored file {name} {problem}, so it is not shown. "
        "This has been recorded in the audit trail; tell your case lead and the auditor."
    )
