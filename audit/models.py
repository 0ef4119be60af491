"""The audit trail's tables. They keep the names they had when the trail
lived in the ``cases`` app (``cases_auditevent``, ``cases_auditchainhead``),
so an installation upgraded from that layout keeps its rows and its chain."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from .actions import Action, Outcome


class AuditEventQuerySet(models.QuerySet):
    def for_case(self, case) -> "AuditEventQuerySet":
        return self.filter(case=case)


class AuditEvent(models.Model):
    """One entry of the append-only audit trail, written only by ``audit.record``.

    Each event's ``hash`` is the SHA-256 of its canonical content, which
    includes ``prev_hash``, the hash of the event before it: altering,
    removing or reordering an event breaks the chain.
    """

    Action = Action
    Outcome = Outcome

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
    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, null=True, blank=True, related_name="audit_events")
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        db_table = "cases_auditevent"
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
        db_table = "cases_auditchainhead"
        ordering = ["id"]
        constraints = [models.CheckConstraint(condition=Q(id=1), name="audit_chain_head_single_row")]

    def __str__(self) -> str:
        return f"Audit chain head #{self.sequence}"
