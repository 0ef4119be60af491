"""Django admin for staff: cases, memberships and evidence, read-only.

Case status, memberships and evidence change only through the pages and the
API, which go through ``cases.services`` and its rules (transitions, a case
keeps a case lead, every change audited). The admin shows them; it is not a
second write path around those rules.
"""

from django.contrib import admin

from audit.admin import ReadOnly, ReadOnlyAdmin

from .models import CandidatePhoto, Case, CaseMembership, Composite, WitnessSketch

admin.site.site_header = "Sketch inversion - administration"
admin.site.site_title = "Sketch inversion admin"


class MembershipInline(ReadOnly, admin.TabularInline):
    model = CaseMembership
    fk_name = "case"
    extra = 0
    fields = ["user", "role", "granted_by", "created_at"]
    readonly_fields = fields


@admin.register(Case)
class CaseAdmin(ReadOnlyAdmin):
    list_display = ["reference", "title", "status", "created_by", "created_at"]
    list_filter = ["status"]
    search_fields = ["reference", "title"]
    inlines = [MembershipInline]


@admin.register(CaseMembership)
class CaseMembershipAdmin(ReadOnlyAdmin):
    list_display = ["case", "user", "role", "granted_by", "created_at"]
    list_filter = ["role"]
    search_fields = ["case__reference", "user__username"]


@admin.register(WitnessSketch)
class WitnessSketchAdmin(ReadOnlyAdmin):
    list_display = ["pk", "case", "style", "uploaded_by", "sha256", "created_at"]
    list_filter = ["style"]
    search_fields = ["case__reference", "sha256", "witness_reference"]


@admin.register(Composite)
class CompositeAdmin(ReadOnlyAdmin):
    list_display = ["pk", "sketch", "style", "status", "released", "requested_by", "created_at"]
    list_filter = ["status", "style", "released"]
    search_fields = ["sketch__case__reference", "output_sha256", "weights_sha256"]


@admin.register(CandidatePhoto)
class CandidatePhotoAdmin(ReadOnlyAdmin):
    list_display = ["pk", "case", "label", "uploaded_by", "sha256", "created_at"]
    search_fields = ["case__reference", "sha256", "label"]
