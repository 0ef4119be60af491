"""Chain of custody for stored files.

Every evidence file (sketch, composite, candidate photo, export) is named by
its SHA-256, written once and never overwritten or deleted through the app.
``store`` writes a file under its content name and refuses to let a
different file hide behind that name; ``open_verified`` re-hashes a stored
file on every download and export and refuses to hand out bytes that no
longer match the hash recorded at upload. A mismatch is an
``integrity_failed`` audit event, committed even though the read fails, so
the auditor sees it.
"""

import hashlib

from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage
from django.db import models, transaction
from django.db.models.fields.files import FieldFile
from django.http import HttpRequest

import audit

from .models import Case


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
    if storage.exists(name):
        _check_stored(storage, name, digest, user=user, request=request, case=case)
        return False
    saved = storage.save(name, ContentFile(data))
    if saved != name:
        # Another writer stored the same name in between and the storage kept
        # both. Ours is a spare copy, not evidence: remove it, check theirs.
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
    is audited the same way. Call it outside any transaction
    (``RuntimeError`` otherwise): the event must be committed even though
    the caller's work fails.
    """
    _require_no_transaction()
    name = field_file.name
    try:
        with field_file.storage.open(name, "rb") as stored:
            data = stored.read()
    except FileNotFoundError:
        _record_failure(name, expected_sha256, None, user=user, request=request, case=case, obj=obj)
        raise CustodyError(_message(name, missing=True), missing=True) from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        _record_failure(name, expected_sha256, actual, user=user, request=request, case=case, obj=obj)
        raise CustodyError(_message(name))
    return data


def _check_stored(storage: Storage, name: str, digest: str, **who) -> None:
    with storage.open(name, "rb") as stored:
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
