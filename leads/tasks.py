"""Celery tasks of the leads app, on the workers' queue (``CELERY_TASK_ROUTES``: ``leads.*``).

``derive_photos`` looks at newly imported gallery photos as ``cases.derive``
looks at sketches (``cases.derived``); ``run_search`` runs a gallery search
(``leads.searching``). Both take primary keys, re-read the rows and are
idempotent: a job sent twice does its work once.
"""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from cases import custody, derived
from cases.tasks import MAX_RETRIES, backoff, held_jobs

from .models import GalleryPhoto, LeadSearch

log = logging.getLogger(__name__)

#: Most photos ``resend_lost_photos`` sends again per sweep.
RESEND_BATCH = 500


@shared_task(name="leads.derive_photos", bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES)
def derive_photos(self, *photo_ids: int) -> None:
    """Look at gallery photos ``photo_ids`` (positional, so that the broker's copy of the job is
    hashable for ``cases.tasks.held_jobs``) (working copy, thumbnail, face, descriptor); those already
    looked at are left alone. A store that is down is retried with backoff for the photos still waiting."""
    for photo in GalleryPhoto.objects.filter(pk__in=photo_ids, face_found__isnull=True).order_by("pk"):
        try:
            data = custody.open_verified(photo.image, photo.sha256, obj=photo)
            derived.save(photo, derived.derive(data))
        except custody.StorageUnavailable as error:
            raise self.retry(exc=error, countdown=backoff(self.request.retries)) from error
        except custody.CustodyError as error:
            derived.could_not_derive(photo, str(error))
        except derived.UNREADABLE as error:
            log.warning("gallery photo %s cannot be decoded: %s", photo.pk, error)
            derived.could_not_derive(photo, "The stored file cannot be decoded as an image, so no face can be found.")


@shared_task(name="leads.run_search", acks_late=True, reject_on_worker_lost=True)
def run_search(search_id: int) -> None:
    """Run gallery search ``search_id`` (``leads.searching.run``); any error fails it, saying why."""
    from . import searching

    try:
        searching.run(search_id)
    except Exception as error:
        log.exception("gallery search %s failed", search_id)
        search = LeadSearch.objects.filter(pk=search_id, status=LeadSearch.Status.RUNNING).first()
        if search is not None:
            searching.fail(search, f"The search could not be run ({type(error).__name__}). Run it again.")


@shared_task(name="leads.resend")
def resend() -> int:
    """Re-send lost jobs of this app (for ``CELERY_BEAT_SCHEDULE``, beside ``inversion.tasks.resend``)."""
    return len(resend_lost_photos()) + len(resend_lost_searches())


def resend_lost_photos(waited: timedelta | None = None) -> list[int]:
    """Photos still waiting for a worker after ``waited`` whose job the broker no longer holds: sent again."""
    held = held_jobs()
    if held is None:
        return []
    cutoff = timezone.now() - (waited if waited is not None else timedelta(seconds=settings.COMPOSITE_RESEND_AFTER))
    sent = {pk for args in held.get(derive_photos.name, set()) for pk in args}
    waiting = GalleryPhoto.objects.filter(face_found__isnull=True, removed_at__isnull=True, created_at__lte=cutoff)
    lost = [pk for pk in waiting.values_list("pk", flat=True)[:RESEND_BATCH] if pk not in sent]
    for start in range(0, len(lost), 25):
        derive_photos.delay(*lost[start : start + 25])
    return lost


def resend_lost_searches(waited: timedelta | None = None) -> list[int]:
    """Searches still waiting after ``waited`` whose job the broker no longer holds: sent again."""
    held = held_jobs()
    if held is None:
        return []
    cutoff = timezone.now() - (waited if waited is not None else timedelta(seconds=settings.COMPOSITE_RESEND_AFTER))
    sent = {args[0] for args in held.get(run_search.name, set())}
    waiting = LeadSearch.objects.filter(status=LeadSearch.Status.WAITING, created_at__lte=cutoff)
    lost = [pk for pk in waiting.values_list("pk", flat=True) if pk not in sent]
    for pk in lost:
        run_search.delay(pk)
    return lost
