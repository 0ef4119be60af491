"""Evidence files leave the server only through these helpers.

Downloads of originals, exports and workers read a file checked against the
SHA-256 recorded when it was stored (``read_verified``), and each download is
audited. Images shown on a page are streamed as stored (``inline_image``):
the page's own ``evidence_viewed`` event lists every item it showed, with its
SHA-256 (``record_page_view``), and the periodic custody sweep re-hashes
every file. There is no public media URL; every image comes from a view that
has already called ``get_case_for``.
"""

import mimetypes

from django.db.models import Model
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, HttpRequest, HttpResponse
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


def inline_image(field_file: FieldFile, expected_sha256: str, *, request: HttpRequest, case: Case, obj: Model):
    """A stored image for a page's ``<img>``, streamed as stored; its identity never changes, so
    the browser keeps it. A missing file is a custody failure, audited (409)."""
    try:
        stored = field_file.storage.open(field_file.name, "rb")
    except FileNotFoundError:
        try:
            read_verified(field_file, expected_sha256, request=request, case=case, obj=obj)
        except custody.CustodyError as error:
            return altered_response(request, error)
        raise
    content_type = mimetypes.guess_type(field_file.name)[0] or "application/octet-stream"
    response = FileResponse(stored, content_type=content_type)
    response["Cache-Control"] = "private, max-age=86400, immutable"
    response["ETag"] = f'"{expected_sha256}"'
    return response


def record_page_view(request: HttpRequest, case: Case, obj: Model, *, page: str, shown: list[Model]) -> None:
    """One ``evidence_viewed`` event for a page: every evidence item it showed, with its SHA-256."""
    record_page_items(request, case, obj, page=page, items=[shown_item(item) for item in shown])


def record_page_items(request: HttpRequest, case: Case, obj: Model, *, page: str, items: list[dict]) -> None:
    """``record_page_view`` with the items already described by ``shown_item``."""
    details = {"page": page, "items": items}
    audit.record(audit.Action.EVIDENCE_VIEWED, request=request, obj=obj, case=case, details=details)


def shown_item(item: Model) -> dict:
    sha256 = getattr(item, "output_sha256", None) or getattr(item, "sha256", "")
    return {"type": item._meta.model_name, "id": item.pk, "sha256": sha256}


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
