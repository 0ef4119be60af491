"""Server-rendered pages, one module per area; every view asks
``cases.access.get_case_for`` before it touches a case."""

from .cases import case_create, case_detail, case_list, case_status, membership_grant, membership_revoke
from .compare import candidate_add, candidate_image, compare
from .composites import composite_download, composite_image, composite_release
from .export import case_export
from .hints import sketch_hints
from .morphs import morph_detail, morph_image, morph_release, morph_request, morph_status
from .press import press_sheet
from .sketches import (
    composites_request,
    composites_status,
    sketch_crop,
    sketch_detail,
    sketch_image,
    sketch_suggest_style,
    sketch_upload,
)
from .work import work, work_email, work_status

__all__ = [
    "candidate_add",
    "candidate_image",
    "case_create",
    "case_detail",
    "case_export",
    "case_list",
    "case_status",
    "compare",
    "composite_download",
    "composite_image",
    "composite_release",
    "composites_request",
    "composites_status",
    "membership_grant",
    "membership_revoke",
    "morph_detail",
    "morph_image",
    "morph_release",
    "morph_request",
    "morph_status",
    "press_sheet",
    "sketch_crop",
    "sketch_detail",
    "sketch_hints",
    "sketch_image",
    "sketch_suggest_style",
    "sketch_upload",
    "work",
    "work_email",
    "work_status",
]
