"""Evidence files leave the server only through these helpers: each read is
checked against the SHA-256 recorded when the file was stored, and audited.

There is no public media URL; every image a page shows comes from a view
that has already called ``get_case_for``.
"""

import mimetypes

from django.db.models import Model
from django.db.models.fields.files import FieldFile
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import content_disposition_header

import audit

from . import custody
from .models import Case


def read_verified(
    field_file: FieldFile, expected_sha256: str, *, request: HttpRequest, case: Case, obj: Model
) -> bytes:
    """The file's bytes, checked against ``expected_sha256`` by ``custody.open_verified``.

    A missing or altered file is recorded as ``integrity_failed`` and raises
    ``CustodyError``: altered evidence is never served.
    """
    return custody.open_verified(field_file, expected_sha256, user=request.user, request=request, case=case, obj=obj)


def image_response(data: bytes, name: str, *, download_as: str = "") -> HttpResponse:
    """An evidence image, never cached by shared caches; an attachment when ``download_as`` is given."""
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = HttpResponse(data, content_type=content_type)
    response["Cache-Control"] = "private, no-store"
    if download_as:
        response["Content-Disposition"] = content_disposition_header(True, download_as)
    return response


def altered_response(request: HttpRequest, error: custody.CustodyError) -> HttpResponse:
    return render(request, "cases/evidence_altered.html", {"message": str(error)}, status=409)


def record_view(request: HttpRequest, obj: Model, case: Case, *, sha256: str, download: bool = False, **details):
    audit.record(
        audit.Action.EVIDENCE_DOWNLOADED if download else audit.Action.EVIDENCE_VIEWED,
        request=request,
        obj=obj,
        case=case,
        details={"sha256": sha256, **details},
    )
