"""Users in the Django admin (every change audited), and their second factors:
seen, and removed when a user loses their phone (they then enrol again);
never added or edited here, so no secret is shown or typed in the admin.
API tokens are seen, and revoked, here; their owners make them."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.admin import AuditedAdmin, ReadOnly

from . import tokens
from .models import ApiToken

User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class AuditedUserAdmin(AuditedAdmin, UserAdmin):
    pass


class SecondFactorAdmin(AuditedAdmin):
    list_display = ["user", "name", "confirmed", "created_at", "last_used_at"]
    search_fields = ["user__username"]
    fields = ["user", "name", "confirmed", "created_at", "last_used_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


for model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, SecondFactorAdmin)


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnly, AuditedAdmin):
    """Every user's tokens, read-only; an administrator may revoke any of them (audited, naming who did)."""

    list_display = ["name", "owner", "prefix", "status", "created_at", "expires_at", "last_used_at", "revoked_by"]
    list_select_related = ["owner", "revoked_by"]
    search_fields = ["owner__username", "name", "prefix"]
    date_hierarchy = "created_at"
    fields = [
        "owner",
        "name",
        "prefix",
        "status",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    ]
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(description="status")
    def status(self, token: ApiToken) -> str:
        return token.get_status_display()

    @admin.action(description="Revoke the selected API tokens", permissions=["revoke"])
    def revoke(self, request, queryset) -> None:
        revoked = sum(tokens.revoke(token, by=request.user, request=request) for token in queryset)
        self.message_user(request, f"{revoked} token{'s' if revoked != 1 else ''} revoked.")

    def has_revoke_permission(self, request) -> bool:
        return request.user.is_superuser
