"""The auditor's pages: the log with filters and paging, CSV and JSON Lines
exports (streamed), and the chain's integrity. Reading, exporting and
verifying are audited too."""

import csv
import json
from collections.abc import Iterator

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import date
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import content_disposition_header
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from . import integrity, naming, sweeps, trail
from .actions import READS, Action
from .forms import AuditFilterForm
from .models import AuditChainHead, AuditEvent

PAGE_SIZE = 50
#: The log counts the matching events only this many pages past the one shown (#13): an exact count of
#: a trail of millions would take seconds on every view; beyond that it says "more than".
PAGES_COUNTED_AHEAD = 10
CUSTODY_FAILURES_SHOWN = 50
#: How often the page reloads while a custody sweep runs, to show its progress.
SWEEP_REFRESH_SECONDS = 20
EXPORT_FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
EXPORT_CHUNK = 2000


class CountedAheadPaginator(Paginator):
    """A paginator that counts the rows only up to ``PAGES_COUNTED_AHEAD`` pages past ``number``.

    ``count`` is exact when fewer rows match; otherwise it is one more than it counted and
    ``more`` is true, so the page can say "more than" and still offer the next pages."""

    def __init__(self, object_list, per_page: int, number) -> None:
        super().__init__(object_list, per_page)
        try:
            self.wanted = max(1, int(number))
        except (TypeError, ValueError):
            self.wanted = 1
        self.limit = (self.wanted + PAGES_COUNTED_AHEAD) * per_page

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.limit + 1].count()

    @property
    def more(self) -> bool:
        return self.count > self.limit


def require_auditor(request: HttpRequest) -> None:
    if not trail.can_view_audit(request.user):
        trail.record_denial(request.user, request, ability="view_audit", reason="role")
        raise PermissionDenied("Only auditors and administrators may read the audit log.")


#: One row of the log. Built with ``format_html`` rather than the template engine: fifty rows of eight
#: cells were 40 % of the page's time (#13). Every value is escaped.
ROW = (
    '<tr{}><td>{}</td><td><time datetime="{}">{}</time></td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td>'
    '<td><span class="outcome outcome-{}">{}</span></td><td><code class="details" title="{}">{}</code></td></tr>'
)


def rows_html(events, named: dict) -> str:
    """The table rows of ``events``, with each object's name from ``named`` (``naming.names``)."""

    def cells(event: AuditEvent) -> tuple:
        when, role = timezone.localtime(event.timestamp), role_label(event.role)
        details = json.dumps(event.details, ensure_ascii=False)
        return (
            mark_safe(' class="read"') if event.action in READS else "",
            event.sequence,
            date(when, "c"),
            date(when, "Y-m-d H:i:s"),
            event.username or "-",
            format_html('<br><span class="meta">{}</span>', role) if role else "",
            event.get_action_display(),
            event.case.reference if event.case else "-",
            named.get((event.object_type, event.object_id)) or "-",
            event.outcome,
            event.get_outcome_display(),
            details,
            details,
        )

    return format_html_join("\n", ROW, (cells(event) for event in events))


def role_label(role: str) -> str:
    """``case_lead`` as "Case lead"; global roles ("Auditor, admin") as they are."""
    return role.replace("_", " ").capitalize() if "_" in role else role


@login_required
@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    require_auditor(request)
    query = request.GET.copy()
    if "kind" not in query and "action" not in query:
        query["kind"] = "changes"  # page views are many; the page starts with what changed
    form = AuditFilterForm(query)
    events = form.filter(AuditEvent.objects.select_related("case").order_by("-sequence"))
    paginator = CountedAheadPaginator(events, PAGE_SIZE, request.GET.get("page"))
    page = paginator.get_page(request.GET.get("page"))
    trail.record(
        Action.AUDIT_VIEWED,
        request=request,
        object_type="auditevent",
        details={"filters": form.applied(), "page": page.number},
    )
    query.pop("page", None)
    return render(
        request,
        "audit/audit_list.html",
        {
            "form": form,
            "page": page,
            "rows": rows_html(page.object_list, naming.names(page.object_list)),
            "query": query.urlencode(),
            "reads": READS,
            "total": paginator.limit if paginator.more else paginator.count,
            "more": paginator.more,
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


class _Line:
    """A file-like object whose ``write`` returns what it was given, for ``csv.writer``."""

    def write(self, value: str) -> str:
        return value


def csv_lines(events) -> Iterator[str]:
    writer = csv.DictWriter(_Line(), fieldnames=[*trail.HASHED_FIELDS, "hash"])
    yield writer.writeheader()
    for event in events.iterator(chunk_size=EXPORT_CHUNK):
        row = trail.event_dict(event)
        yield writer.writerow(spreadsheet_safe({**row, "details": json.dumps(row["details"], sort_keys=True)}))


def jsonl_lines(events) -> Iterator[str]:
    for event in events.iterator(chunk_size=EXPORT_CHUNK):
        yield json.dumps(trail.event_dict(event), ensure_ascii=False) + "\n"


@login_required
@require_GET
def audit_export(request: HttpRequest, format: str) -> HttpResponse:
    """The filtered trail, oldest first, streamed a chunk of events at a time (constant memory)."""
    require_auditor(request)
    form = AuditFilterForm(request.GET or None)
    events = form.filter(AuditEvent.objects.order_by("sequence"))
    exported = trail.record(
        Action.AUDIT_EXPORTED,
        request=request,
        object_type="auditevent",
        details={"filters": form.applied(), "format": format, "events": events.count()},
    )
    # What was counted, not what was appended meanwhile (this export's own event included).
    events = events.filter(sequence__lt=exported.sequence)
    lines = csv_lines(events) if format == "csv" else jsonl_lines(events)
    response = StreamingHttpResponse((line.encode() for line in lines), content_type=EXPORT_FORMATS[format])
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = content_disposition_header(True, f"audit-{stamp}.{format}")
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
def audit_chain(request: HttpRequest) -> HttpResponse:
    """The chain's state: its head, the last verification, a button to verify
    now, the custody sweep (its progress while it runs, else how the last one
    ended), and every file that failed its custody check."""
    require_auditor(request)
    if request.method == "POST":
        report = integrity.verify_chain()
        integrity.record_verification(report, user=request.user, request=request, source="auditor")
        if report.intact and report.protected:
            messages.success(request, report.summary())
        else:
            messages.error(request, report.summary())
        return redirect("audit_chain")
    trail.record(Action.AUDIT_VIEWED, request=request, object_type="auditchain")
    head = AuditChainHead.objects.filter(pk=1).first()
    last = integrity.last_verification()
    checked = last.details.get("head", {}).get("sequence", 0) if last else 0
    sweep = sweeps.latest()
    response = render(
        request,
        "audit/audit_chain.html",
        {
            "head": head,
            "last": last,
            "since_last": (head.sequence - checked) if head and last else 0,
            "sweep": sweep,
            "sweep_refresh": SWEEP_REFRESH_SECONDS,
            "failures": integrity.custody_failures().select_related("case")[:CUSTODY_FAILURES_SHOWN],
            "export_keys": export_keys(),
        },
    )
    if sweep is not None and sweep.running:
        response["Refresh"] = str(SWEEP_REFRESH_SECONDS)  # the page follows the sweep's progress by itself
    return response


def export_keys() -> list[dict]:
    """The keys that sign case bundles, newest first, as ``create_export_key`` recorded them in
    the trail (``admin_action``, object type ``exportkey``): made, and retired by a rotation.
    An examiner checks a bundle's signer against these fingerprints."""
    listed: dict[str, dict] = {}
    recorded = AuditEvent.objects.filter(action=Action.ADMIN_ACTION, object_type="exportkey").order_by("sequence")
    for event in recorded:
        key = listed.setdefault(event.object_id, {"fingerprint": event.object_id, "created": None, "retired": None})
        key["public_key"] = event.details.get("public_key", "")
        key["algorithm"] = event.details.get("algorithm", "")
        if event.details.get("operation") == "export_key_created":
            key["created"] = event
        elif event.details.get("operation") == "export_key_retired":
            key["retired"] = event
    return sorted(listed.values(), key=lambda key: key["created"].sequence if key["created"] else 0, reverse=True)
