"""The case domain: cases, who may work on them, the evidence, and the audit trail."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from inversion import STYLES


def has_control_characters(value: str) -> bool:
    """Line breaks, tabs, NUL, escape codes: what no one-line field may hold."""
    return any(ord(character) < 32 or ord(character) == 127 for character in value)


def single_line(value: str) -> None:
    """Refuse control characters (line breaks, tabs, NUL, escape codes) in a one-line field.

    Such a field ends up in file names, download headers, CSV cells and
    page titles, where a line break or an escape code would do harm.
    """
    if has_control_characters(value):
        raise ValidationError("Use one line of ordinary text: no line breaks, tabs or other control characters.")


#: How each of the ML package's styles is named to users.
STYLE_LABELS = {"line": "Line", "grayscale": "Grayscale", "color": "Colour"}

#: How a sketch is drawn; each style has its own trained network. The styles are ``inversion.STYLES``.
Style = models.TextChoices("Style", [(style.upper(), (style, STYLE_LABELS[style])) for style in STYLES])


class CaseQuerySet(models.QuerySet):
    def visible_to(self, user) -> "CaseQuerySet":
        """Cases the user may know exist: their memberships; every case for superusers."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self.all()
        return self.filter(memberships__user=user).distinct()

    def search(self, query: str) -> "CaseQuerySet":
        """Cases whose reference or title contains ``query`` (case-insensitive), for the page and the API.

        Characters no reference or title can hold (NUL and other control characters) match nothing.
        """
        query = query.strip()
        if not query:
            return self
        if has_control_characters(query):
            return self.none()
        return self.filter(Q(reference__icontains=query) | Q(title__icontains=query))


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

    reference = models.CharField(
        max_length=40, unique=True, validators=[single_line], help_text="The case number, e.g. 2026-CID-0042."
    )
    title = models.CharField(max_length=200, validators=[single_line])
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

    def role_of(self, user) -> str | None:
        """``user``'s role on this case (``CaseMembership.Role``), or None for a non-member.

        A case read by ``cases.access.get_case_for`` already knows its reader's role (``know_role``),
        so a page asks the database once, not once per permission check and audit event (#13)."""
        known = self.__dict__.get("_known_role")
        if known is not None and user is not None and known[0] == user.pk:
            return known[1]
        return self.memberships.filter(user=user).values_list("role", flat=True).first()

    def know_role(self, user, role: str | None) -> None:
        """Remember ``user``'s role on this instance (``role_of`` answers it without a query)."""
        self.__dict__["_known_role"] = (user.pk, role)

    def forget_role(self) -> None:
        """After a membership changed: the next ``role_of`` asks the database."""
        self.__dict__.pop("_known_role", None)


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

    class Meta:
        ordering = ["case", "role", "user__username"]
        constraints = [models.UniqueConstraint(fields=["user", "case"], name="membership_user_case_unique")]

    def __str__(self) -> str:
        return f"{self.user} - {self.get_role_display()} on {self.case.reference}"


def sketch_upload_to(sketch: "WitnessSketch", filename: str) -> str:
    """Name the stored file by its content: ``sketches/<sha256>.<ext>``."""
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"sketches/{sketch.sha256}.{extension}"


def working_copy_upload_to(evidence: "WorkingCopy", filename: str) -> str:
    """Name the stored working copy by its content: ``derived/<sha256>.png``."""
    return f"derived/{evidence.working_copy_sha256}.png"


class WorkingCopy(models.Model):
    """What a worker derives from an evidence image once, after it is stored (``cases.derived``).

    The working copy is the image at most ``derived.WORKING_SIDE`` pixels on
    its longer side, EXIF orientation applied; ``face_box`` is the face the
    aligner found, in the original's pixels; ``face_crop`` the aligned face
    and ``face_descriptor`` dlib's descriptor of it. ``face_found`` is None
    until a worker has looked (``derive_error`` says why it could not).
    Pages show and compare these, so no request decodes an original or runs
    a network.
    """

    working_copy = models.FileField(upload_to=working_copy_upload_to, max_length=200, blank=True)
    working_copy_sha256 = models.CharField(max_length=64, blank=True)
    face_box = models.JSONField(null=True, blank=True)
    face_found = models.BooleanField(null=True)
    face_crop = models.FileField(max_length=200, blank=True, help_text="The aligned face, as the network sees it.")
    face_crop_sha256 = models.CharField(max_length=64, blank=True)
    face_descriptor = models.JSONField(null=True, blank=True, help_text="dlib's 128-number face descriptor.")
    thumbnail = models.FileField(max_length=200, blank=True, help_text="At most 256 pixels a side, WebP.")
    thumbnail_sha256 = models.CharField(max_length=64, blank=True)
    derive_error = models.TextField(blank=True, help_text="Why the image could not be looked at, if it could not.")

    class Meta:
        abstract = True

    @property
    def evidence_file(self):
        """The original file, as stored (the working copy is derived from it)."""
        raise NotImplementedError


class WitnessSketch(WorkingCopy):
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
    witness_reference = models.CharField(max_length=100, blank=True, validators=[single_line])
    interview_notes = models.TextField(blank=True)
    revises = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="revisions")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["case", "-created_at"], name="sketch_case_created_idx")]

    def __str__(self) -> str:
        return f"Sketch {self.pk} ({self.get_style_display()}) in {self.case.reference}"

    @property
    def evidence_file(self):
        return self.original


def composite_upload_to(composite: "Composite", filename: str) -> str:
    """Name the stored file by its content: ``composites/<sha256>.png``."""
    return f"composites/{composite.output_sha256}.png"


class CompositeQuerySet(models.QuerySet):
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
    face_descriptor = models.JSONField(
        null=True, blank=True, help_text="dlib's descriptor of the composite's face, made once by a worker."
    )
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

    @property
    def face_located(self) -> bool:
        """Made from a face the aligner found, or from a box a person drew or confirmed.

        Only such a composite may be released: one made from the centre of
        an image with no face in it is not a likeness of anyone.
        """
        return (
            bool(self.parameters.get("box")) or self.parameters.get("pipeline", {}).get("face", {}).get("found") is True
        )

    @property
    def request_parameters(self) -> dict:
        """The parameters it was requested with (without what the pipeline added)."""
        return {key: value for key, value in self.parameters.items() if key != "pipeline"}

    def can_become(self, status: str) -> bool:
        return status in self.TRANSITIONS[self.Status(self.status)]

    def move_to(self, status: str) -> None:
        """Set ``status``, following ``TRANSITIONS``; the caller saves and audits."""
        if not self.can_become(status):
            raise ValueError(f"composite {self.pk} cannot go from {self.status} to {status}")
        self.status = status


def candidate_upload_to(photo: "CandidatePhoto", filename: str) -> str:
    """Name the stored file by its content: ``candidates/<sha256>.<ext>``."""
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"candidates/{photo.sha256}.{extension}"


class CandidatePhoto(WorkingCopy):
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
    label = models.CharField(
        max_length=200, validators=[single_line], help_text="Where the photo comes from, e.g. custody record 2026/1187."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["case", "-created_at"], name="candidate_case_created_idx")]

    def __str__(self) -> str:
        return f"Candidate photo {self.pk} ({self.label}) in {self.case.reference}"

    @property
    def evidence_file(self):
        return self.image


class CustodySweep(models.Model):
    """One run of the custody sweep, which re-hashes every stored file (``cases.custody_sweep``).

    Status transitions::

        running ──► done
           └──────► interrupted   (the store did not answer, the time limit, or its process stopped)

    Both are final; the next sweep is a new row. At most one row is
    ``running`` (the constraint ``custody_sweep_one_running``): that is what
    keeps two sweeps from running at once. Progress is saved every few
    files and every few seconds, so ``updated_at`` also tells a sweep whose
    process died (no progress for ``custody_sweep.STALE_AFTER``).
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        INTERRUPTED = "interrupted", "Interrupted"

    class Source(models.TextChoices):
        SCHEDULE = "schedule", "Celery beat"
        COMMAND = "command", "manage.py sweep_custody"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    source = models.CharField(max_length=16, choices=Source.choices)
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, help_text="When its progress was last saved.")
    finished_at = models.DateTimeField(null=True, blank=True)
    files_total = models.PositiveIntegerField(default=0, help_text="Files stored when it started.")
    files_checked = models.PositiveIntegerField(default=0)
    bytes_checked = models.PositiveBigIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0, help_text="Files missing or altered (integrity_failed).")
    last_error = models.TextField(blank=True, help_text="Why it was interrupted.")

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["-started_at"], name="custody_sweep_started_idx")]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=Q(status="running"), name="custody_sweep_one_running")
        ]

    def __str__(self) -> str:
        return (
            f"Custody sweep {self.pk} ({self.get_status_display()}, "
            f"{self.files_checked}/{self.files_total} files, {self.failures} failures)"
        )


def morph_upload_to(morph: "Morph", filename: str) -> str:
    """Name the stored file by its content: ``morphs/<sha256>.png``."""
    return f"morphs/{morph.output_sha256}.png"


class MorphQuerySet(models.QuerySet):
    def outstanding(self) -> "MorphQuerySet":
        return self.filter(status__in=[Morph.Status.REQUESTED, Morph.Status.RUNNING])


class Morph(models.Model):
    """The average of two to six finished composites of one style of one case (``cases.morphs``).

    When several witnesses saw the same person, the average of their
    composites is a better likeness than most of the composites on their own
    (Bruce et al. 2002, docs/MORPHS.md). A worker aligns the faces on their
    landmarks and averages shape and texture; the result is evidence of its
    own, stored under its SHA-256 with its provenance (every source
    composite and sketch with their hashes, the method, the code version).

    Status transitions (``Morph.TRANSITIONS``)::

        requested ──► running ──► done
            │            │
            │            ├──► failed
            │            └──► requested   (the store did not answer; tried again)
            └──► failed

    ``done`` and ``failed`` are final; a new attempt is a new morph.
    Release for dissemination is a separate flag on a ``done`` morph.
    """

    #: How many composites a morph averages.
    MIN_SOURCES, MAX_SOURCES = 2, 6

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

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="morphs")
    style = models.CharField(max_length=16, choices=Style.choices)
    sources = models.ManyToManyField(Composite, related_name="morphs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    image = models.FileField(upload_to=morph_upload_to, max_length=200, blank=True)
    output_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    provenance = models.JSONField(
        default=dict, blank=True, help_text="Every source composite and sketch with their hashes, the method, the code."
    )
    face_descriptor = models.JSONField(
        null=True, blank=True, help_text="dlib's descriptor of the morph's face, made in the same job."
    )
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

    objects = MorphQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["case", "-created_at"], name="morph_case_created_idx"),
            models.Index(fields=["status", "created_at"], name="morph_status_created_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(released=False) | Q(status="done"), name="morph_released_only_when_done")
        ]

    def __str__(self) -> str:
        return f"Morph {self.pk} ({self.get_style_display()}, {self.get_status_display()})"

    def can_become(self, status: str) -> bool:
        return status in self.TRANSITIONS[self.Status(self.status)]

    def move_to(self, status: str) -> None:
        """Set ``status``, following ``TRANSITIONS``; the caller saves and audits."""
        if not self.can_become(status):
            raise ValueError(f"morph {self.pk} cannot go from {self.status} to {status}")
        self.status = status
