"""The case bundle: what a court or a records system asks for (``cases.bundle``)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

import audit

from ..access import Ability, get_case_for
from ..bundle import CaseBundle
from ..custody import CustodyError
from ..evidence import altered_response


@login_required
@require_GET
def case_export(request: HttpRequest, pk: int) -> HttpResponse:
    """A zip an examiner can verify offline: the evidence files, ``provenance.json``, the case's
    audit events with their chain proof, the signed ``manifest.json``, ``VERIFY.md`` and
    ``verify_bundle.py``.

    Every stored file is re-hashed before the first byte is sent (a missing
    or altered one: 409, audited) and again as it is streamed. The export is
    recorded with the manifest's and the zip's SHA-256 before streaming.
    """
    case = get_case_for(request.user, pk, request, ability=Ability.EXPORT_CASE)
    bundle = CaseBundle(case, user=request.user, request=request)
    try:
        bundle.measure()
    except CustodyError as error:
        return altered_response(request, error)
    # A store that does not answer is a 503 from forensics.middleware.StorageUnavailableMiddleware.
    audit.record(audit.Action.CASE_EXPORTED, request=request, obj=case, details=bundle.export_details())
    response = StreamingHttpResponse(bundle.stream(), content_type="application/zip")
    stamp = bundle.exported_at.strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = content_disposition_header(True, f"{case.reference}-{stamp}.zip")
    response["Content-Length"] = str(bundle.size)
    response["Cache-Control"] = "private, no-store"
    response["X-Bundle-SHA256"] = bundle.sha256
    response["X-Manifest-SHA256"] = bundle.manifest_sha256
    return response
