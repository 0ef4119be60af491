"""Django admin for staff: users, cases and memberships. Audit events are read-only."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from . import audit
from .models import AuditEvent, Case, CaseMembership, Composite, TOTPDevice, WitnessSketch

admin.site.site_header = "Sketch inversion - administration"
admin.site.site_title = "Sketch inversion admin"


class AuditedAdmin(admin.ModelAdmin):
    """Records every change made through the admin as an ``admin_action`` audit event."""

    def _audit(self, request: HttpRequest, obj, operation: str, message="") -> None:
        audit.record(
            audit.Action.ADMIN_ACTION,
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


class MembershipInline(admin.TabularInline):
    model = CaseMembership
    fk_name = "case"
    extra = 0
    autocomplete_fields = ["user"]
    readonly_fields = ["granted_by", "created_at"]


@admin.register(Case)
class CaseAdmin(AuditedAdmin):
    list_display = ["reference", "title", "status", "created_by", "created_at"]
    list_filter = ["status"]
    search_fields = ["reference", "title"]
    readonly_fields = ["created_by", "created_at", "updated_at"]
    inlines = [MembershipInline]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        for membership in formset.save(commit=False):
            if membership.granted_by_id is None:
                membership.granted_by = request.user
            membership.save()
        formset.save_m2m()
        for membership in formset.deleted_objects:
            membership.delete()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # cases are closed or archived, never deleted


@admin.register(CaseMembership)
class CaseMembershipAdmin(AuditedAdmin):
    list_display = ["case", "user", "role", "granted_by", "created_at"]
    list_filter = ["role"]
    search_fields = ["case__reference", "user__username"]
    autocomplete_fields = ["case", "user"]
    readonly_fields = ["granted_by", "created_at"]

    def save_model(self, request, obj, form, change):
        obj.granted_by = request.user
        super().save_model(request, obj, form, change)


class EvidenceAdmin(admin.ModelAdmin):
    """Evidence is viewed here, never edited or deleted."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WitnessSketch)
class WitnessSketchAdmin(EvidenceAdmin):
    list_display = ["pk", "case", "style", "uploaded_by", "sha256", "created_at"]
    list_filter = ["style"]
    search_fields = ["case__reference", "sha256", "witness_reference"]


@admin.register(Composite)
class CompositeAdmin(EvidenceAdmin):
    list_display = ["pk", "sketch", "style", "status", "released", "requested_by", "created_at"]
    list_filter = ["status", "style", "released"]
    search_fields = ["sketch__case__reference", "output_sha256", "weights_sha256"]


@admin.register(AuditEvent)
class AuditEventAdmin(EvidenceAdmin):
    list_display = ["sequence", "timestamp", "username", "action", "outcome", "case", "object_type", "object_id"]
    list_filter = ["action", "outcome"]
    search_fields = ["username", "object_id", "request_id", "case__reference"]
    date_hierarchy = "timestamp"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("case")


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class AuditedUserAdmin(AuditedAdmin, UserAdmin):
    pass


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(AuditedAdmin):
    """Authenticators are seen, and removed when a user loses one (they then set up a new one), never edited."""

    list_display = ["user", "confirmed_at", "created_at"]
    search_fields = ["user__username"]
    fields = ["user", "confirmed_at", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
