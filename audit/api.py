"""``GET /api/v1/audit-events/``: the trail for auditors and administrators, filtered as on the page."""

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from . import trail
from .actions import Action
from .forms import AuditFilterForm
from .models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "sequence",
            "timestamp",
            "user",
            "username",
            "role",
            "action",
            "object_type",
            "object_id",
            "case",
            "outcome",
            "ip",
            "user_agent",
            "request_id",
            "details",
            "prev_hash",
            "hash",
        ]


class TrailPages(CursorPagination):
    """Pages of the trail by their place in the chain, newest first, followed by ``next``.

    A client walking the pages sees each event once however many are appended meanwhile (numbered
    pages shift under an append-only log), and no page counts the whole trail, which takes seconds
    when it holds millions of events (#13)."""

    ordering = "-sequence"
    page_size = 50


@extend_schema(
    parameters=[
        OpenApiParameter(name, str, description=description)
        for name, description in (
            ("user", "User name, exact"),
            ("case", "Case reference, exact"),
            ("action", "Action, e.g. composite_released"),
            ("outcome", "success, denied or failed"),
            ("since", "From this date (YYYY-MM-DD)"),
            ("until", "To this date (YYYY-MM-DD)"),
        )
    ]
)
class AuditEventList(generics.ListAPIView):
    """The audit trail, newest first, 50 events a page with ``next`` and ``previous`` links (auditors
    and administrators only). Each read is itself audited."""

    serializer_class = AuditEventSerializer
    pagination_class = TrailPages

    def get_queryset(self) -> QuerySet:
        if not trail.can_view_audit(self.request.user):
            trail.record_denial(self.request.user, self.request, ability="view_audit", reason="role")
            raise PermissionDenied("Only auditors and administrators may read the audit log.")
        form = AuditFilterForm(self.request.query_params)
        if not form.is_valid():
            raise ValidationError(form.errors)
        return form.filter(AuditEvent.objects.order_by("-sequence"))

    def list(self, request: Request, *args, **kwargs) -> Response:
        response = super().list(request, *args, **kwargs)
        trail.record(
            Action.AUDIT_VIEWED,
            request=request,
            object_type="auditevent",
            details={"filters": AuditFilterForm(request.query_params).applied(), "via": "api"},
        )
        return response
