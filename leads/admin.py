"""Django admin for staff: galleries, grants, photos and searches, read-only.

Galleries, grants, imports and removals change only through the gallery
pages, the API and ``import_gallery``, which go through ``leads.services``
(every change audited); the admin shows them.
"""

from django.contrib import admin

from audit.admin import ReadOnly, ReadOnlyAdmin

from .models import Gallery, GalleryGrant, GalleryPhoto, ImportBatch, LeadResult, LeadSearch


class GrantInline(ReadOnly, admin.TabularInline):
    model = GalleryGrant
    extra = 0
    fields = ["user", "granted_by", "created_at"]
    readonly_fields = fields


@admin.register(Gallery)
class GalleryAdmin(ReadOnlyAdmin):
    list_display = ["name", "owner", "created_at"]
    search_fields = ["name", "source"]
    inlines = [GrantInline]


@admin.register(GalleryPhoto)
class GalleryPhotoAdmin(ReadOnlyAdmin):
    list_display = ["pk", "gallery", "reference", "sha256", "face_found", "removed_at", "created_at"]
    list_filter = ["gallery", "face_found"]
    search_fields = ["reference", "sha256", "original_filename"]
    list_select_related = ["gallery"]


@admin.register(ImportBatch)
class ImportBatchAdmin(ReadOnlyAdmin):
    list_display = ["pk", "gallery", "source", "imported_by", "added", "duplicates", "refused", "created_at"]
    list_select_related = ["gallery", "imported_by"]


class ResultInline(ReadOnly, admin.TabularInline):
    model = LeadResult
    extra = 0
    fields = ["rank", "photo", "fused_distance", "decision", "decided_by"]
    readonly_fields = fields


@admin.register(LeadSearch)
class LeadSearchAdmin(ReadOnlyAdmin):
    list_display = ["pk", "case", "gallery", "sketch", "status", "requested_by", "created_at"]
    list_filter = ["status"]
    search_fields = ["case__reference", "reason"]
    list_select_related = ["case", "gallery", "requested_by", "sketch__case"]
    inlines = [ResultInline]
