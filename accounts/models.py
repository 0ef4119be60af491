"""API tokens: a named, expiring credential for the REST API, kept only as a digest."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


def single_line(value: str) -> None:
    """Refuse control characters (line breaks, tabs, NUL, escape codes): a token's name is shown on one line."""
    if any(ord(character) < 32 or ord(character) == 127 for character in value):
        raise ValidationError("Use one line of ordinary text: no line breaks, tabs or other control characters.")


class ApiTokenQuerySet(models.QuerySet):
    def owned_by(self, user) -> "ApiTokenQuerySet":
        return self.filter(owner=user)

    def active(self) -> "ApiTokenQuerySet":
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


class ApiToken(models.Model):
    """A user's credential for the REST API (``Authorization: Token <secret>``).

    The secret is shown once, when the token is made (``accounts.tokens.issue``);
    only its SHA-256 (``digest``) and its first characters (``prefix``, so
    users can tell tokens apart) are kept. Statuses, derived from the dates:
    active → revoked (by its owner, or an administrator; ``tokens.revoke``),
    active → expired (at ``expires_at``). Neither is ever undone: a new
    token is made instead.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    class Lifetime(models.IntegerChoices):
        """How long a new token lasts, in days; 90 at most."""

        WEEK = 7, "7 days"
        MONTH = 30, "30 days"
        QUARTER = 90, "90 days"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(
        max_length=100, validators=[single_line], help_text="What the token is for, e.g. the script that uses it."
    )
    prefix = models.CharField(max_length=16, help_text="The secret's first characters, to tell tokens apart.")
    digest = models.CharField(max_length=64, unique=True, help_text="The SHA-256 of the secret, in hex.")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = "API token"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "created_at"], name="apitoken_owner_created_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def status(self) -> Status:
        if self.revoked_at is not None:
            return self.Status.REVOKED
        if self.expires_at <= timezone.now():
            return self.Status.EXPIRED
        return self.Status.ACTIVE

    def get_status_display(self) -> str:
        return self.Status(self.status).label

    def audit_details(self) -> dict:
        """How the audit trail names this token: never by its secret."""
        return {"id": self.pk, "name": self.name, "prefix": self.prefix}


class WorkPreference(models.Model):
    """What a user has seen of the work they started, and whether they want e-mail about it.

    ``work_seen_at`` is when they last opened their work page: finished work
    after it counts as unseen in the navigation bar. With
    ``email_when_finished`` a worker e-mails them when a composite they
    requested is done or has failed. One row per user, made when first needed;
    no row means nothing seen yet and no e-mail.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="work_preference")
    work_seen_at = models.DateTimeField(null=True, blank=True, help_text="When the user last opened their work page.")
    email_when_finished = models.BooleanField(
        default=False, help_text="E-mail the user when work they started is done or has failed."
    )

    class Meta:
        ordering = ["user"]

    def __str__(self) -> str:
        return f"Work preferences of {self.user}"
