"""The audit chain's state for auditors: the last verification, a button to
verify now, and every file that failed its custody check."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from .. import audit, integrity
from ..models import AuditChainHead
from .audit_log import require_auditor

CUSTODY_FAILURES_SHOWN = 50


@login_required
def audit_chain(request: HttpRequest) -> HttpResponse:
    require_auditor(request)
    if request.method == "POST":
        report = integrity.verify_chain()
        integrity.record_verification(report, user=request.user, request=request, source="auditor")
        if report.intact and report.protected:
            messages.success(request, report.summary())
        else:
            messages.error(request, report.summary())
        return redirect("audit_chain")
    audit.record(audit.Action.AUDIT_VIEWED, request=request, object_type="auditchain")
    return render(
        request,
        "cases/audit_chain.html",
        {
            "head": AuditChainHead.objects.filter(pk=1).first(),
            "last": integrity.last_verification(),
            "failures": integrity.custody_failures().select_related("case")[:CUSTODY_FAILURES_SHOWN],
        },
    )
