"""What an audit event records, and how it ended. Importable before the models are loaded."""

from django.db import models

#: The Django group whose members read the audit trail (with superusers).
AUDITOR_GROUP = "Auditor"


class Action(models.TextChoices):
    LOGIN_SUCCEEDED = "login_succeeded", "Login succeeded"
    LOGIN_FAILED = "login_failed", "Login failed"
    LOGOUT = "logout", "Logout"
    PASSWORD_CHANGED = "password_changed", "Password changed"
    CASE_CREATED = "case_created", "Case created"
    CASE_UPDATED = "case_updated", "Case updated"
    CASE_CLOSED = "case_closed", "Case closed"
    CASE_REOPENED = "case_reopened", "Case reopened"
    CASE_ARCHIVED = "case_archived", "Case archived"
    MEMBERSHIP_GRANTED = "membership_granted", "Membership granted"
    MEMBERSHIP_CHANGED = "membership_changed", "Membership role changed"
    MEMBERSHIP_REVOKED = "membership_revoked", "Membership revoked"
    SKETCH_UPLOADED = "sketch_uploaded", "Sketch uploaded"
    CANDIDATE_ADDED = "candidate_added", "Candidate photo added"
    UPLOAD_REJECTED = "upload_rejected", "Upload rejected"
    COMPOSITE_REQUESTED = "composite_requested", "Composite requested"
    COMPOSITE_STARTED = "composite_started", "Composite started"
    COMPOSITE_DONE = "composite_done", "Composite done"
    COMPOSITE_FAILED = "composite_failed", "Composite failed"
    COMPOSITE_RELEASED = "composite_released", "Composite released"
    PRESS_SHEET_MADE = "press_sheet_made", "Press sheet made"
    MORPH_REQUESTED = "morph_requested", "Morph requested"
    MORPH_DONE = "morph_done", "Morph done"
    MORPH_FAILED = "morph_failed", "Morph failed"
    MORPH_RELEASED = "morph_released", "Morph released"
    EVIDENCE_VIEWED = "evidence_viewed", "Evidence viewed"
    EVIDENCE_DOWNLOADED = "evidence_downloaded", "Evidence downloaded"
    INTEGRITY_FAILED = "integrity_failed", "File integrity check failed"
    CUSTODY_SWEEP_STARTED = "custody_sweep_started", "Custody sweep started"
    CUSTODY_SWEEP_FINISHED = "custody_sweep_finished", "Custody sweep finished"
    COMPARISON_VIEWED = "comparison_viewed", "Comparison viewed"
    CASE_EXPORTED = "case_exported", "Case exported"
    AUDIT_VIEWED = "audit_viewed", "Audit log viewed"
    AUDIT_EXPORTED = "audit_exported", "Audit log exported"
    AUDIT_VERIFIED = "audit_verified", "Audit chain verified"
    ACCESS_DENIED = "access_denied", "Access denied"
    ADMIN_ACTION = "admin_action", "Admin action"
    SECOND_FACTOR_ENROLLED = "second_factor_enrolled", "Second factor enrolled"
    API_TOKEN_CREATED = "api_token_created", "API token created"
    API_TOKEN_REVOKED = "api_token_revoked", "API token revoked"
    API_TOKEN_USED = "api_token_used", "API token used"
    API_TOKEN_REFUSED = "api_token_refused", "API token refused"
    GALLERY_CREATED = "gallery_created", "Gallery created"
    GALLERY_GRANTED = "gallery_granted", "Gallery search granted"
    GALLERY_REVOKED = "gallery_revoked", "Gallery search revoked"
    GALLERY_IMPORTED = "gallery_imported", "Photos imported into a gallery"
    GALLERY_PHOTO_REMOVED = "gallery_photo_removed", "Photo removed from a gallery"
    LEAD_SEARCH_REQUESTED = "lead_search_requested", "Gallery search requested"
    LEAD_SEARCH_DONE = "lead_search_done", "Gallery search done"
    LEAD_SEARCH_FAILED = "lead_search_failed", "Gallery search failed"
    LEAD_ADDED = "lead_added", "Lead added to the case"
    LEAD_DISMISSED = "lead_dismissed", "Lead dismissed"


#: Actions that read rather than change: the audit log page hides them unless asked.
READS = frozenset({Action.EVIDENCE_VIEWED, Action.COMPARISON_VIEWED, Action.AUDIT_VIEWED, Action.API_TOKEN_USED})


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    DENIED = "denied", "Denied"
    FAILED = "failed", "Failed"
