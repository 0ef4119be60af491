"""Galleries of photos, who may search them, and the searches made of them."""

from django.conf import settings
from django.db import models
from django.db.models import Count, Max, Q

from cases.models import CandidatePhoto, Case, WitnessSketch, WorkingCopy, single_line


def is_admin(user) -> bool:
    """Administrators make galleries, import photos and grant searches."""
    return user.is_authenticated and user.is_active and (user.is_staff or user.is_superuser)


class GalleryQuerySet(models.QuerySet):
    def searchable_by(self, user) -> "GalleryQuerySet":
        """Galleries ``user`` may know exist and search: every one for administrators, else their grants."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if is_admin(user):
            return self.all()
        return self.filter(grants__user=user)


class Gallery(models.Model):
    """A collection of photos an agency holds (arrest records, known offenders, persons of interest).

    Not part of any case. Administrators make it and its photos; the
    investigators it is granted to (``GalleryGrant``) may search it with a
    case's sketch, and see only the shortlist a search gives them.
    """

    name = models.CharField(max_length=200, unique=True, validators=[single_line])
    description = models.TextField(blank=True)
    source = models.TextField(help_text="Where the photos come from, e.g. the custody imaging system, 2019-2026.")
    legal_basis = models.TextField(help_text="The law or policy under which they may be searched.")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = GalleryQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "galleries"

    def __str__(self) -> str:
        return self.name


class GalleryGrant(models.Model):
    """Leave for one user to search one gallery. No grant, no gallery: deny by default."""

    gallery = models.ForeignKey(Gallery, on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gallery_grants")
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["gallery", "user__username"]
        constraints = [models.UniqueConstraint(fields=["gallery", "user"], name="gallery_grant_unique")]

    def __str__(self) -> str:
        return f"{self.user} may search {self.gallery}"


class ImportBatch(models.Model):
    """One import of photos into a gallery: from the browser (one request) or ``import_gallery``.

    ``outcomes`` lists every file with what became of it (added, duplicate,
    refused with the validator's message); ``manifest_sha256`` is the
    SHA-256 over the sorted SHA-256s of the photos it added.
    """

    class Source(models.TextChoices):
        BROWSER = "browser", "Browser"
        COMMAND = "command", "manage.py import_gallery"

    gallery = models.ForeignKey(Gallery, on_delete=models.PROTECT, related_name="batches")
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    source = models.CharField(max_length=16, choices=Source.choices)
    added = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    refused = models.PositiveIntegerField(default=0)
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    outcomes = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "import batches"

    def __str__(self) -> str:
        return f"Import {self.pk} into {self.gallery}: {self.added} added"


def gallery_photo_upload_to(photo: "GalleryPhoto", filename: str) -> str:
    """Name the stored file by its content: ``galleries/<sha256>.<ext>``."""
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"galleries/{photo.sha256}.{extension}"


class GalleryPhotoQuerySet(models.QuerySet):
    def current(self) -> "GalleryPhotoQuerySet":
        """Photos not removed."""
        return self.filter(removed_at__isnull=True)

    def searchable(self) -> "GalleryPhotoQuerySet":
        """Photos a search compares: not removed, with a face described."""
        return self.current().filter(face_found=True, face_descriptor__isnull=False)

    def progress(self) -> dict[str, int]:
        """How far the workers have got with the current photos, by ``GalleryPhoto.Status``; one query."""
        current = Q(removed_at__isnull=True)
        counts = self.aggregate(
            total=Count("pk", filter=current),
            waiting=Count("pk", filter=current & Q(face_found__isnull=True)),
            ready=Count("pk", filter=current & Q(face_found=True)),
            no_face=Count("pk", filter=current & Q(face_found=False, derive_error="")),
            failed=Count("pk", filter=current & Q(face_found=False) & ~Q(derive_error="")),
            removed=Count("pk", filter=Q(removed_at__isnull=False)),
        )
        counts["looked_at"] = counts["total"] - counts["waiting"]
        return counts

    def signature(self) -> tuple[int, int, int]:
        """(searchable count, highest id, removed count): what changes when the index must. One query."""
        answer = self.aggregate(
            count=Count("pk", filter=Q(removed_at__isnull=True, face_found=True, face_descriptor__isnull=False)),
            highest=Max("pk"),
            removed=Count("pk", filter=Q(removed_at__isnull=False)),
        )
        return answer["count"], answer["highest"] or 0, answer["removed"]


class GalleryPhoto(WorkingCopy):
    """A photo in a gallery, stored exactly as imported and named by its SHA-256.

    Status (``status``), from what the ``leads.derive_photos`` job wrote::

        waiting ──► ready          (a face found and described)
           ├──────► no face        (none found)
           └──────► failed         (the stored file could not be read; ``derive_error`` says why)

    Removal is soft: the row and its file stay, so past searches stay
    explainable; ``removed_at`` leaves it out of new searches.
    """

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting for a worker"
        READY = "ready", "Ready"
        NO_FACE = "no_face", "No face found"
        FAILED = "failed", "Failed"

    gallery = models.ForeignKey(Gallery, on_delete=models.PROTECT, related_name="photos")
    batch = models.ForeignKey(ImportBatch, on_delete=models.PROTECT, null=True, blank=True, related_name="photos")
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    image = models.FileField(upload_to=gallery_photo_upload_to, max_length=200)
    original_filename = models.CharField(max_length=255, blank=True)
    reference = models.CharField(
        max_length=200, blank=True, help_text="The photo's reference in its source, e.g. a custody record number."
    )
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField(help_text="Bytes.")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    removal_reason = models.TextField(blank=True)

    objects = GalleryPhotoQuerySet.as_manager()

    class Meta:
        ordering = ["gallery", "pk"]
        indexes = [
            models.Index(fields=["gallery", "removed_at", "face_found"], name="galleryphoto_searchable_idx"),
            models.Index(fields=["face_found", "created_at"], name="galleryphoto_waiting_idx"),
        ]
        constraints = [models.UniqueConstraint(fields=["gallery", "sha256"], name="galleryphoto_once_per_gallery")]

    def __str__(self) -> str:
        return f"Photo {self.pk} ({self.reference or self.original_filename}) in {self.gallery}"

    @property
    def evidence_file(self):
        return self.image

    @property
    def case(self) -> None:
        """A gallery photo belongs to no case (``cases.derived.save`` asks)."""
        return None

    @property
    def status(self) -> str:
        if self.face_found is None:
            return self.Status.WAITING
        if self.face_found:
            return self.Status.READY
        return self.Status.FAILED if self.derive_error else self.Status.NO_FACE

    def get_status_display(self) -> str:
        return self.Status(self.status).label


class LeadSearchQuerySet(models.QuerySet):
    def outstanding(self) -> "LeadSearchQuerySet":
        return self.filter(status__in=[LeadSearch.Status.WAITING, LeadSearch.Status.RUNNING])


class LeadSearch(models.Model):
    """A gallery searched with a case's sketch and its finished composites, kept with the case.

    Everything needed to explain and repeat it is recorded: the probes and
    their SHA-256s, the gallery's size then, the recognizer and its weights'
    SHA-256, the fusion rule and its version, and every result with its
    scores (``LeadResult``).

    Status transitions::

        waiting ──► running ──► done
                       │
                       └──► failed
        waiting ──► failed

    ``done`` and ``failed`` are final; a new search is a new row.
    """

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting for a worker"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    #: Shortlist sizes an investigator may ask for.
    DEFAULT_SHORTLIST, MAX_SHORTLIST = 20, 100

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="lead_searches")
    sketch = models.ForeignKey(WitnessSketch, on_delete=models.PROTECT, related_name="lead_searches")
    gallery = models.ForeignKey(Gallery, on_delete=models.PROTECT, related_name="searches")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=500, validators=[single_line])
    shortlist_size = models.PositiveSmallIntegerField(default=DEFAULT_SHORTLIST)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.WAITING)

    # What it was run with
    probes = models.JSONField(default=list, blank=True, help_text="Each probe: kind, type, id, SHA-256.")
    skipped_probes = models.JSONField(default=list, blank=True, help_text="Probes left out, and why.")
    gallery_size = models.PositiveIntegerField(null=True, blank=True, help_text="Photos compared.")
    recognizer = models.JSONField(default=dict, blank=True)
    fusion = models.JSONField(default=dict, blank=True)
    error_message = models.TextField(blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = LeadSearchQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["case", "-created_at"], name="leadsearch_case_created_idx"),
            models.Index(fields=["status", "created_at"], name="leadsearch_status_created_idx"),
        ]

    def __str__(self) -> str:
        return f"Search {self.pk} of {self.gallery} with sketch {self.sketch_id} ({self.get_status_display()})"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


class LeadResult(models.Model):
    """One photo of a search's shortlist, with its scores and what the investigator made of it.

    Decision transitions::

        open ──► added       (put onto the case as a candidate photo)
          └────► dismissed   (with a note)
    """

    class Decision(models.TextChoices):
        OPEN = "open", "Not yet looked at"
        ADDED = "added", "Added to the case"
        DISMISSED = "dismissed", "Dismissed"

    search = models.ForeignKey(LeadSearch, on_delete=models.PROTECT, related_name="results")
    photo = models.ForeignKey(GalleryPhoto, on_delete=models.PROTECT, related_name="lead_results")
    rank = models.PositiveSmallIntegerField()
    fused_distance = models.FloatField()
    distances = models.JSONField(default=list, help_text="The distance of each probe, in the search's probe order.")
    photo_sha256 = models.CharField(max_length=64)
    decision = models.CharField(max_length=16, choices=Decision.choices, default=Decision.OPEN)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)
    candidate = models.ForeignKey(
        CandidatePhoto, on_delete=models.PROTECT, null=True, blank=True, related_name="lead_results"
    )

    class Meta:
        ordering = ["search", "rank"]
        constraints = [models.UniqueConstraint(fields=["search", "rank"], name="leadresult_rank_unique")]

    def __str__(self) -> str:
        return f"Lead {self.rank} of search {self.search_id}: photo {self.photo_id} ({self.fused_distance:.3f})"

    @property
    def case(self) -> Case:
        return self.search.case
