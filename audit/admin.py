"""The audit trail in the Django admin: read-only. ``AuditedAdmin`` records
what staff change through the admin in the trail; other apps' admins use it."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from . import trail
from .actions import Action
from .models import AuditEvent


class AuditedAdmin(admin.ModelAdmin):
    """Records every change made through the admin as an ``admin_action`` audit event."""

    def _audit(self, request: HttpRequest, obj, operation: str, message="") -> None:
        trail.record(
            Action.ADMIN_ACTION,
            request=request,
            obj=obj,
            details={"operation": operation, "object": str(obj)[:200], "message": str(message)[:1000]},
        )

    def log_addition(self, request, obj, message):
        self._audit(request, obj, "add", message)
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        self._audit(request, obj, "change", message)
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            self._audit(request, obj, "delete")
        return super().log_deletions(request, queryset)


class ReadOnly:
    """Seen here, never added, edited or deleted: the app's own pages and services are the only write path.

    A mixin for model admins and inlines alike.
    """

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(ReadOnly, admin.ModelAdmin):
    pass


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["sequence", "timestamp", "username", "action", "outcome", "case", "object_type", "object_id"]
    list_filter = ["action", "outcome"]
    search_fields = ["username", "object_id", "request_id", "case__reference"]
    date_hierarchy = "timestamp"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("case")
