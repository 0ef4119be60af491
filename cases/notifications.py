"""What a user hears of the work they started: their work queue, the count of
finished items they have not seen, and an e-mail when a composite is done or
has failed, for those who ask for it (``accounts.WorkPreference``).

Deny by default, as everywhere: an item counts, shows and is e-mailed about
only while its case is one the user may see (``Case.objects.visible_to``),
so a member removed from a case hears no more of it.

Items are the composites the user requested. Nothing else they start has a
status to follow: case exports and press sheets are made while they wait,
and the face a worker finds after an upload shows on the sketch's page.
"""

import logging
from datetime import UTC, datetime

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import DateTimeField, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from accounts.models import WorkPreference

from .models import Case, Composite

log = logging.getLogger(__name__)

Status = Composite.Status
FINISHED = (Status.DONE, Status.FAILED)
#: When a user who never opened their work page last saw it: everything finished is unseen.
NEVER = datetime(1970, 1, 1, tzinfo=UTC)


def work_of(user) -> QuerySet[Composite]:
    """The composites ``user`` requested, in cases they may still see, newest first."""
    return (
        Composite.objects.filter(requested_by=user, sketch__case__in=Case.objects.visible_to(user))
        .select_related("sketch__case")
        .order_by("-created_at", "-pk")
    )


def unseen_count(user) -> int:
    """How many of ``user``'s items finished after they last opened their work page: one query."""
    if not user.is_authenticated:
        return 0
    seen_at = WorkPreference.objects.filter(user=user).values("work_seen_at")[:1]
    since = Coalesce(Subquery(seen_at), Value(NEVER, output_field=DateTimeField()))
    return work_of(user).filter(status__in=FINISHED, finished_at__gt=since).count()


def preference(user) -> WorkPreference:
    """The user's preferences; the defaults (unsaved) when they have none yet."""
    return WorkPreference.objects.filter(user=user).first() or WorkPreference(user=user)


def mark_seen(user) -> None:
    """The user has their work in front of them: everything finished until now is seen."""
    WorkPreference.objects.update_or_create(user=user, defaults={"work_seen_at": timezone.now()})


def set_email(user, wanted: bool) -> None:
    WorkPreference.objects.update_or_create(user=user, defaults={"email_when_finished": wanted})


def composite_finished(composite: Composite) -> None:
    """Called in the transaction that makes ``composite`` done or failed: once that commits,
    e-mail whoever requested it, if they asked for e-mail and may still see its case.

    A mail server that does not answer is logged and never fails the job.
    """
    transaction.on_commit(lambda: _email(composite.pk), robust=True)


def _email(composite_pk: int) -> None:
    composite = Composite.objects.select_related("sketch__case", "requested_by").filter(pk=composite_pk).first()
    if composite is None or composite.status not in FINISHED:
        return
    user = composite.requested_by
    wanted = WorkPreference.objects.filter(user=user, email_when_finished=True).exists()
    if not (wanted and user.is_active and user.email):
        return
    if not Case.objects.visible_to(user).filter(pk=composite.sketch.case_id).exists():
        return
    subject, body = message(composite)
    try:
        send_mail(subject, body, None, [user.email])
    except Exception:
        log.exception(
            "could not e-mail %s that composite %s is %s", user.get_username(), composite.pk, composite.status
        )


def message(composite: Composite) -> tuple[str, str]:
    """The e-mail about ``composite``: its case reference, number, style and outcome, and a link.

    Nothing of the witness or the case's notes: e-mail leaves the system.
    """
    case = composite.sketch.case
    what = f"{composite.get_style_display()} composite {composite.pk} of case {case.reference}"
    link = settings.EMAIL_SITE_URL + reverse("sketch_detail", args=[case.pk, composite.sketch_id]) + "#composites"
    if composite.status == Status.DONE:
        subject = f"{what} is done"
        outcome = "is done."
    else:
        subject = f"{what} failed"
        outcome = f"failed: {composite.error_message or 'no reason was given'}"
    body = (
        f"The {what[0].lower() + what[1:]} that you requested {outcome}\n\n"
        f"See it here: {link}\n"
        f"Your work: {settings.EMAIL_SITE_URL}{reverse('work')}\n\n"
        "You get these e-mails because you asked for them on your work page; you can turn them off there.\n"
    )
    return subject, body
