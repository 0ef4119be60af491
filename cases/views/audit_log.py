"""The audit log for auditors and admins: filters, paging, CSV and JSON Lines
exports. Reading the log and exporting it are audited too."""

import csv
import io
import json

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from .. import audit
from ..access import can_view_audit, record_denial
from ..forms import AuditFilterForm
from ..models import AuditEvent, CaseMembership
from ..provenance import audit_event_dict

PAGE_SIZE = 50
ROLE_LABELS = dict(CaseMembership.Role.choices)
EXPORT_FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


def require_auditor(request: HttpRequest) -> None:
    if not can_view_audit(request.user):
        record_denial(request.user, request, case=None, object_id="", ability="view_audit", reason="role")
        raise PermissionDenied("Only auditors and administrators may read the audit log.")


@login_required
@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    require_auditor(request)
    form = AuditFilterForm(request.GET or None)
    events = form.filter(AuditEvent.objects.select_related("case").order_by("-sequence"))
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    audit.record(
        audit.Action.AUDIT_VIEWED,
        request=request,
        object_type="auditevent",
        details={"filters": form.applied(), "page": page.number},
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "cases/audit_list.html",
        {
            "form": form,
            "page": page,
            "rows": [
                (event, ROLE_LABELS.get(event.role, event.role), json.dumps(event.details, ensure_ascii=False))
                for event in page.object_list
            ],
            "query": query.urlencode(),
            "total": page.paginator.count,
        },
    )


def spreadsheet_safe(row: dict) -> dict:
    """Cells a spreadsheet would run as a formula (a typed user name or a user
    agent can start with ``=``) get a leading apostrophe (OWASP's CSV
    injection advice). The JSON Lines export keeps every value exact, for
    checking hashes."""
    return {
        key: "'" + value if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
        for key, value in row.items()
    }


@login_required
@require_GET
def audit_export(request: HttpRequest, format: str) -> HttpResponse:
    require_auditor(request)
    form = AuditFilterForm(request.GET or None)
    events = list(form.filter(AuditEvent.objects.order_by("sequence")))
    audit.record(
        audit.Action.AUDIT_EXPORTED,
        request=request,
        object_type="auditevent",
        details={"filters": form.applied(), "format": format, "events": len(events)},
    )
    rows = [audit_event_dict(event) for event in events]
    if format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=[*audit.HASHED_FIELDS, "hash"])
        writer.writeheader()
        for row in rows:
            writer.writerow(spreadsheet_safe({**row, "details": json.dumps(row["details"], sort_keys=True)}))
        body = buffer.getvalue()
    else:
        body = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    response = HttpResponse(body, content_type=EXPORT_FORMATS[format])
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{format}"'
    response["Cache-Control"] = "private, no-store"
    return response
