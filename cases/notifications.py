"""What a user hears of the work they started: their work queue, the count of
finished items they have not seen, and an e-mail when an item is done or has
failed, for those who ask for it (``accounts.WorkPreference``). E-mail is
sent for composites (``composite_finished``, called by ``pipeline.jobs``);
``morph_finished`` is ready for the morph job to call in the same way.

Items are the composites and the morphs the user requested: the work of
this app that waits for a worker and has a status to follow. Nothing else
they start has one: case exports and press sheets are made while they
wait, and the face a worker finds after an upload shows on the sketch's
page.

Deny by default, as everywhere: an item counts, shows and is e-mailed about
only while its case is one the user may see (``Case.objects.visible_to``),
so a member removed from a case hears no more of it.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import CharField, Count, DateTimeField, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from accounts.models import WorkPreference

from .models import Case, Composite, Morph

log = logging.getLogger(__name__)

Status = Composite.Status
#: Final statuses; composites and morphs name theirs alike.
FINISHED = (Status.DONE, Status.FAILED)
#: When a user who never opened their work page last saw it: everything finished is unseen.
NEVER = datetime(1970, 1, 1, tzinfo=UTC)


def composites_of(user) -> QuerySet[Composite]:
    """The composites ``user`` requested, in cases they may still see."""
    return Composite.objects.filter(requested_by=user, sketch__case__in=Case.objects.visible_to(user))


def morphs_of(user) -> QuerySet[Morph]:
    """The morphs ``user`` requested, in cases they may still see."""
    return Morph.objects.filter(requested_by=user, case__in=Case.objects.visible_to(user))


def work_of(user) -> QuerySet:
    """Every item of ``user``'s as ``{"kind", "pk", "created_at"}``, newest first: one query, to page through."""
    kind = CharField()
    composites = composites_of(user).order_by().values("pk", "created_at")
    morphs = morphs_of(user).order_by().values("pk", "created_at")
    composites = composites.annotate(kind=Value("composite", output_field=kind))
    morphs = morphs.annotate(kind=Value("morph", output_field=kind))
    return composites.union(morphs, all=True).order_by("-created_at", "-pk")


@dataclass(frozen=True)
class WorkItem:
    """A composite or a morph as the work page shows it."""

    kind: str  # "composite" or "morph"
    job: Composite | Morph

    @property
    def key(self) -> str:
        return f"{self.kind}-{self.job.pk}"

    @property
    def case(self) -> Case:
        return self.job.sketch.case if self.kind == "composite" else self.job.case

    @property
    def title(self) -> str:
        noun = "composite" if self.kind == "composite" else "morph"
        return f"{self.job.get_style_display()} {noun} {self.job.pk}"

    @property
    def source(self) -> str:
        if self.kind == "composite":
            return f"sketch {self.job.sketch_id}"
        return f"of {self.job.source_count} composites"

    @property
    def url(self) -> str:
        if self.kind == "composite":
            return reverse("sketch_detail", args=[self.case.pk, self.job.sketch_id]) + f"#composite-{self.job.pk}"
        return reverse("morph_detail", args=[self.case.pk, self.job.pk])

    @property
    def finished(self) -> bool:
        return self.job.status in FINISHED


def items(rows) -> list[WorkItem]:
    """The items of ``rows`` (from ``work_of``), in their order: one query per kind."""
    rows = list(rows)
    wanted = {kind: [row["pk"] for row in rows if row["kind"] == kind] for kind in ("composite", "morph")}
    found = {
        "composite": Composite.objects.select_related("sketch__case").in_bulk(wanted["composite"]),
        "morph": Morph.objects.select_related("case").annotate(source_count=Count("sources")).in_bulk(wanted["morph"]),
    }
    return [WorkItem(row["kind"], found[row["kind"]][row["pk"]]) for row in rows if row["pk"] in found[row["kind"]]]


#: How long the menu's count of unseen work may lag behind (a few seconds; the work page itself is live).
UNSEEN_SECONDS = 10


def unseen_key(user_id: int) -> str:
    return f"unseen-work:{user_id}"


def unseen_count(user) -> int:
    """How many of ``user``'s items finished after they last opened their work page.

    Every full page shows it in the menu, so it is kept for ``UNSEEN_SECONDS`` in this process's
    cache: building the query costs more than most pages' own work (#13). Opening the work page
    clears it, and so does a composite or morph of theirs finishing (``composite_finished``), through
    the shared cache (Redis) where workers are separate processes.
    """
    if not user.is_authenticated:
        return 0
    key = unseen_key(user.pk)
    count = cache.get(key)
    if count is None:
        count = _unseen_count(user)
        cache.set(key, count, UNSEEN_SECONDS)
    return count


def _unseen_count(user) -> int:
    seen_at = WorkPreference.objects.filter(user=user).values("work_seen_at")[:1]
    since = Coalesce(Subquery(seen_at), Value(NEVER, output_field=DateTimeField()))
    composites = composites_of(user).filter(status__in=FINISHED, finished_at__gt=since).order_by().values("pk")
    morphs = morphs_of(user).filter(status__in=FINISHED, finished_at__gt=since).order_by().values("pk")
    return composites.union(morphs, all=True).count()


def preference(user) -> WorkPreference:
    """The user's preferences; the defaults (unsaved) when they have none yet."""
    return WorkPreference.objects.filter(user=user).first() or WorkPreference(user=user)


def mark_seen(user) -> None:
    """The user has their work in front of them: everything finished until now is seen."""
    WorkPreference.objects.update_or_create(user=user, defaults={"work_seen_at": timezone.now()})
    cache.delete(unseen_key(user.pk))


def set_email(user, wanted: bool) -> None:
    WorkPreference.objects.update_or_create(user=user, defaults={"email_when_finished": wanted})


def composite_finished(composite: Composite) -> None:
    """Called in the transaction that makes ``composite`` done or failed (``pipeline.jobs``):
    once that commits, e-mail whoever requested it, if they asked for e-mail and may still see its case.

    A mail server that does not answer is logged and never fails the job.
    """
    forget_unseen_count(composite.requested_by_id)
    if wants_email(composite.requested_by_id):
        transaction.on_commit(lambda: _email("composite", composite.pk), robust=True)


def morph_finished(morph: Morph) -> None:
    """As ``composite_finished``, for a morph (to be called where ``cases.morphs`` finishes or fails one)."""
    forget_unseen_count(morph.requested_by_id)
    if wants_email(morph.requested_by_id):
        transaction.on_commit(lambda: _email("morph", morph.pk), robust=True)


def forget_unseen_count(user_id: int | None) -> None:
    """The user's menu counts again: now, and once the finishing transaction commits (a page read in
    between would have kept the count from before)."""
    if user_id is not None:
        cache.delete(unseen_key(user_id))
        transaction.on_commit(lambda: cache.delete(unseen_key(user_id)), robust=True)


def wants_email(user_id: int) -> bool:
    """Whether the user asked for e-mail (asked in the job's transaction, and again before sending)."""
    return WorkPreference.objects.filter(user_id=user_id, email_when_finished=True).exists()


def _email(kind: str, pk: int) -> None:
    if kind == "composite":
        job = Composite.objects.select_related("sketch__case", "requested_by").filter(pk=pk).first()
    else:
        job = Morph.objects.select_related("case", "requested_by").annotate(source_count=Count("sources")).filter(pk=pk)
        job = job.first()
    if job is None or job.status not in FINISHED:
        return
    item, user = WorkItem(kind, job), job.requested_by
    if not (wants_email(user.pk) and user.is_active and user.email):
        return
    if not Case.objects.visible_to(user).filter(pk=item.case.pk).exists():
        return
    subject, body = message(item)
    try:
        send_mail(subject, body, None, [user.email])
    except Exception:
        log.exception("could not e-mail %s that %s is %s", user.get_username(), item.title, job.status)


def message(item: WorkItem) -> tuple[str, str]:
    """The e-mail about ``item``: its case reference, what it is, its outcome, and a link.

    Nothing of the witness or the case's notes: e-mail leaves the system.
    """
    what = f"{item.title} of case {item.case.reference}"
    if item.job.status == Status.DONE:
        subject, outcome = f"{what} is done", "is done."
    else:
        subject, outcome = f"{what} failed", f"failed: {item.job.error_message or 'no reason was given'}"
    body = (
        f"The {what[0].lower() + what[1:]} that you requested {outcome}\n\n"
        f"See it here: {settings.EMAIL_SITE_URL}{item.url}\n"
        f"Your work: {settings.EMAIL_SITE_URL}{reverse('work')}\n\n"
        "You get these e-mails because you asked for them on your work page; you can turn them off there.\n"
    )
    return subject, body
