"""The case domain: cases, who may work on them, the evidence, and the audit trail."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Style(models.TextChoices):
    """How a sketch is drawn; each style has its own trained network."""

    LINE = "line", "Line"
    GRAYSCALE = "grayscale", "Grayscale"
    COLOR = "color", "Colour"


class CaseQuerySet(models.QuerySet):
    def visible_to(self, user) -> "CaseQuerySet":
        """Cases the user may know exist: their memberships; every case for superusers."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self.all()
        return self.filter(memberships__user=user).distinct()


class Case(models.Model):
    """An investigation that witness sketches and composites belong to.

    Status transitions (``Case.TRANSITIONS``)::

        open ──► closed ──► archived
          ▲        │
          └────────┘ (reopened)
        open ──► archived

    Archived is final. Cases are closed or archived, never deleted through
    the app.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"
        ARCHIVED = "archived", "Archived"

    TRANSITIONS = {
        Status.OPEN: {Status.CLOSED, Status.ARCHIVED},
        Status.CLOSED: {Status.OPEN, Status.ARCHIVED},
        Status.ARCHIVED: set(),
    }

    reference = models.CharField(max_length=40, unique=True, help_text="The case number, e.g. 2026-CID-0042.")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CaseQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "-created_at"], name="case_status_created_idx")]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    def can_become(self, status: str) -> bool:
        return status in self.TRANSITIONS[self.Status(self.status)]


class MembershipQuerySet(models.QuerySet):
    def visible_to(self, user) -> "MembershipQuerySet":
        return self.filter(case__in=Case.objects.visible_to(user))


class CaseMembership(models.Model):
    """A user's role on one case. No membership, no access: deny by default."""

    class Role(models.TextChoices):
        FORENSIC_ARTIST = "forensic_artist", "Forensic artist"
        INVESTIGATOR = "investigator", "Investigator"
        CASE_LEAD = "case_lead", "Case lead"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="case_memberships")
    role = models.CharField(max_length=32, choices=Role.choices)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["case", "role", "user__username"]
        constraints = [models.UniqueConstraint(fields=["user", "case"], name="membership_user_case_unique")]

    def __str__(self) -> str:
        return f"{self.user} - {self.get_role_display()} on {self.case.reference}"


def sketch_upload_to(sketch: "WitnessSketch", filename: str) -> str:
    """Name the stored file by its content: ``sketches/<sha256>.<ext>``."""
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"sketches/{sketch.sha256}.{extension}"


class EvidenceQuerySet(models.QuerySet):
    case_path = "case"

    def visible_to(self, user) -> models.QuerySet:
        return self.filter(**{f"{self.case_path}__in": Case.objects.visible_to(user)})


class WitnessSketch(models.Model):
    """A sketch drawn from a witness's description, stored exactly as uploaded.

    The file is named by its SHA-256 and never overwritten. A revised
    drawing is a new sketch that ``revises`` the earlier one; earlier
    revisions stay.
    """

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="sketches")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    original = models.FileField(upload_to=sketch_upload_to, max_length=200)
    original_filename = models.CharField(max_length=255, blank=True, help_text="The file name as uploaded.")
    sha256 = models.CharField(max_length=64, db_index=True)
    size = models.PositiveBigIntegerField(help_text="Bytes.")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    style = models.CharField(max_length=16, choices=Style.choices)
    witness_reference = models.CharField(max_length=100, blank=True)
    interview_notes = models.TextField(blank=True)
    revises = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="revisions")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = EvidenceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["case", "-created_at"], name="sketch_case_created_idx")]

    def __str__(self) -> str:
        return f"Sketch {self.pk} ({self.get_style_display()}) in {self.case.reference}"


def composite_upload_to(composite: "Composite", filename: str) -> str:
    """Name the stored file by its content: ``composites/<sha256>.png``."""
    return f"composites/{composite.output_sha256}.png"


class CompositeQuerySet(EvidenceQuerySet):
    case_path = "sketch__case"

    def outstanding(self) -> "CompositeQuerySet":
        return self.filter(status__in=[Composite.Status.REQUESTED, Composite.Status.RUNNING])


class Composite(models.Model):
    """A photo-like image generated from a witness sketch, with how it was made.

    Status transitions (``Composite.TRANSITIONS``)::

        requested ──► running ──► done
                         │
                         ├──► failed
                         └──► requested   (worker lost; picked up again)

    ``done`` and ``failed`` are final; a new attempt is a new composite.
    Release for dissemination is a separate flag on a ``done`` composite.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    TRANSITIONS = {
        Status.REQUESTED: {Status.RUNNING, Status.FAILED},
        Status.RUNNING: {Status.DONE, Status.FAILED, Status.REQUESTED},
        Status.DONE: set(),
        Status.FAILED: set(),
    }

    sketch = models.ForeignKey(WitnessSketch, on_delete=models.PROTECT, related_name="composites")
    style = models.CharField(max_length=16, choices=Style.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    image = models.FileField(upload_to=composite_upload_to, max_length=200, blank=True)
    output_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    reused_from = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="An earlier composite of the same sketch bytes, weights and parameters whose output was reused.",
    )

    # Provenance
    model_name = models.CharField(max_length=100, blank=True)
    weights_sha256 = models.CharField(max_length=64, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    device = models.CharField(max_length=64, blank=True)
    batch_size = models.PositiveSmallIntegerField(null=True, blank=True)
    code_version = models.CharField(max_length=64, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error_message = models.TextField(blank=True)

    # Release for dissemination
    released = models.BooleanField(default=False)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    release_reason = models.TextField(blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = CompositeQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="composite_status_created_idx"),
            models.Index(fields=["sketch", "style"], name="composite_sketch_style_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(released=False) | Q(status="done"), name="composite_released_only_when_done"
            )
        ]

    def __str__(self) -> str:
        return f"Composite {self.pk} ({self.get_style_display()}, {self.get_status_display()})"

    @property
    def case(self) -> Case:
        return self.sketch.case

    def can_become(self, status: str) -> bool:
        return status in self.TRANSITIONS[self.Status(self.status)]


def candidate_upload_to(photo: "CandidatePhoto", filename: str) -> str:
    """Name the stored file by its content: ``candidates/<sha256>.<ext>``."""
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"candidates/{photo.sha256}.{extension}"


class CandidatePhoto(models.Model):
    """A photo of a possible suspect, added to a case as evidence to set beside composites.

    The face-recognition distance between a composite and a candidate is a
    lead for investigators, never an identification.
    """

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="candidate_photos")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    image = models.FileField(upload_to=candidate_upload_to, max_length=200)
    original_filename = models.CharField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64, db_index=True)
    size = models.PositiveBigIntegerField(help_text="Bytes.")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    label = models.CharField(max_length=200, help_text="Where the photo comes from, e.g. custody record 2026/1187.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = EvidenceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["case", "-created_at"], name="candidate_case_created_idx")]

    def __str__(self) -> str:
        return f"Candidate photo {self.pk} ({self.label}) in {self.case.reference}"


class AuditEventQuerySet(models.QuerySet):
    def for_case(self, case: Case) -> "AuditEventQuerySet":
        return self.filter(case=case)


class AuditEvent(models.Model):
    """One entry of the append-only audit trail, written only by ``cases.audit.record``.

    Each event's ``hash`` is the SHA-256 of its canonical content, which
    includes ``prev_hash``, the hash of the event before it: altering,
    removing or reordering an event breaks the chain.
    """

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
        EVIDENCE_VIEWED = "evidence_viewed", "Evidence viewed"
        EVIDENCE_DOWNLOADED = "evidence_downloaded", "Evidence downloaded"
        INTEGRITY_FAILED = "integrity_failed", "File integrity check failed"
        COMPARISON_VIEWED = "comparison_viewed", "Comparison viewed"
        CASE_EXPORTED = "case_exported", "Case exported"
        AUDIT_VIEWED = "audit_viewed", "Audit log viewed"
        AUDIT_EXPORTED = "audit_exported", "Audit log exported"
        AUDIT_VERIFIED = "audit_verified", "Audit chain verified"
        ACCESS_DENIED = "access_denied", "Access denied"
        ADMIN_ACTION = "admin_action", "Admin action"
        SECOND_FACTOR_ENROLLED = "second_factor_enrolled", "Second factor enrolled"

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        DENIED = "denied", "Denied"
        FAILED = "failed", "Failed"

    sequence = models.PositiveBigIntegerField(unique=True)
    timestamp = models.DateTimeField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    username = models.CharField(max_length=150, blank=True, help_text="The user name at the time of the event.")
    role = models.CharField(max_length=100, blank=True)
    action = models.CharField(max_length=32, choices=Action.choices)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    case = models.ForeignKey(Case, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_events")
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["sequence"]
        indexes = [
            models.Index(fields=["timestamp"], name="audit_timestamp_idx"),
            models.Index(fields=["case", "timestamp"], name="audit_case_timestamp_idx"),
            models.Index(fields=["user", "timestamp"], name="audit_user_timestamp_idx"),
            models.Index(fields=["action", "timestamp"], name="audit_action_timestamp_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.timestamp:%Y-%m-%d %H:%M:%S} {self.username or '-'} {self.action}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise ValueError("Audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit events are append-only")


class AuditChainHead(models.Model):
    """The single row holding the latest sequence number and hash.

    ``audit.record`` locks it for the rest of the writing transaction, so
    concurrent writers append one after another: no forks, no gaps.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    sequence = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["id"]
        constraints = [models.CheckConstraint(condition=Q(id=1), name="audit_chain_head_single_row")]

    def __str__(self) -> str:
        return f"Audit chain head #{self.sequence}"


class TOTPDevice(models.Model):
    """A user's authenticator app (RFC 6238 time-based one-time codes), the second login factor.

    Created when the user types the first code from it (``totp.enrol``);
    ``last_step`` is the 30-second step of the last code accepted, so no
    code works twice.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="totp_device")
    secret = models.CharField(max_length=32, help_text="Base32, as the authenticator app is given it.")
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_step = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        state = "confirmed" if self.confirmed_at else "not confirmed"
        return f"Authenticator of {self.user} ({state})"
