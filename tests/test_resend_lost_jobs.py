"""Jobs the broker lost are sent again within a minute, not after the stall timeout.

Real Redis and a real ``celery worker`` (``workers.py``); PostgreSQL, so the
worker sees the committed rows.
"""

import io
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.core.management import call_command

from audit.models import AuditEvent
from cases import services, tasks
from cases.models import Composite, WitnessSketch

from .test_pipeline_workers import face_png, finished
from .workers import derived_in_process, missing_services, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(bool(missing_services()), reason=missing_services() or "services present"),
]

NOW = timedelta(0)


def requested(case, artist, seed: int) -> Composite:
    with derived_in_process():  # the face found, as a worker would have before anyone asks for composites
        sketch = services.add_sketch(case, io.BytesIO(face_png(seed)), user=artist, style="line", filename="s.png")
    return services.request_composite(sketch, "line", user=artist)[0]


def test_jobs_lost_by_redis_are_sent_again_and_rendered_once(case, artist, deployment, capsys):
    deployment.kill_workers()
    composites = [requested(case, artist, seed) for seed in (1, 3)]
    ids = {composite.pk for composite in composites}
    assert tasks.held_by_broker() == ids
    assert tasks.resend_lost(NOW) == []  # waiting in the queue: nothing is lost

    redis.Redis.from_url(deployment.redis_url).flushdb()
    assert tasks.held_by_broker() == set()
    assert tasks.resend_lost() == []  # younger than COMPOSITE_RESEND_AFTER: perhaps not yet sent
    call_command("recover_composites", "--older-than", "3600")
    assert "No lost jobs and no stalled composites." in capsys.readouterr().out

    assert sorted(tasks.resend_lost(NOW)) == sorted(ids)
    assert tasks.held_by_broker() == ids
    assert tasks.resend_lost(NOW) == []  # sent once, not on every sweep

    worker = deployment.worker()
    wait_for(lambda: finished(*composites), 60, "the re-sent composites rendered", worker)
    assert set(Composite.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Composite.Status.DONE}
    for pk in ids:
        assert AuditEvent.objects.filter(object_id=str(pk), action=AuditEvent.Action.COMPOSITE_DONE).count() == 1


def test_the_command_reports_what_it_re_sent(case, artist, deployment, capsys):
    deployment.kill_workers()
    composite = requested(case, artist, 6)
    redis.Redis.from_url(deployment.redis_url).flushdb()
    Composite.objects.filter(pk=composite.pk).update(
        created_at=composite.created_at - timedelta(seconds=settings.COMPOSITE_RESEND_AFTER)
    )
    call_command("recover_composites")
    assert f"Re-sent 1 job(s) the broker no longer held: {composite.pk}" in capsys.readouterr().out


def test_the_beat_schedule_checks_for_lost_jobs_every_half_minute():
    entry = settings.CELERY_BEAT_SCHEDULE["resend-lost-jobs"]
    assert entry["task"] == tasks.resend.name
    assert entry["schedule"] + settings.COMPOSITE_RESEND_AFTER <= 60


def test_an_image_whose_derive_job_was_lost_is_sent_again(case, artist, deployment):
    deployment.kill_workers()
    sketch = services.add_sketch(case, io.BytesIO(face_png(1)), user=artist, style="line", filename="s.png")
    assert ("witnesssketch", sketch.pk) in tasks.held_jobs()[tasks.derive.name]
    redis.Redis.from_url(deployment.redis_url).flushdb()
    tasks.resend_lost(NOW)
    assert ("witnesssketch", sketch.pk) in tasks.held_jobs()[tasks.derive.name]
    worker = deployment.worker()
    wait_for(lambda: WitnessSketch.objects.get(pk=sketch.pk).face_found is not None, 60, "face found", worker)


def test_the_beat_schedule_checks_for_lost_gallery_jobs_as_often():
    from leads import tasks as lead_tasks

    entry = settings.CELERY_BEAT_SCHEDULE["resend-lost-gallery-jobs"]
    assert entry["task"] == lead_tasks.resend.name
    assert entry["schedule"] == settings.CELERY_BEAT_SCHEDULE["resend-lost-jobs"]["schedule"]


def test_a_gallery_photo_whose_job_was_lost_is_sent_again(admin, deployment):
    from leads import imports
    from leads import services as lead_services
    from leads import tasks as lead_tasks
    from leads.models import GalleryPhoto

    deployment.kill_workers()
    gallery = lead_services.create_gallery(user=admin, name="Known offenders", source="PNC", legal_basis="Policy 12")
    imports.import_photos(gallery, [imports.Incoming("K-1.png", lambda: face_png(2))], user=admin, source="browser")
    photo = GalleryPhoto.objects.get(gallery=gallery)

    def held() -> bool:
        return any(photo.pk in args for args in tasks.held_jobs().get(lead_tasks.derive_photos.name, set()))

    assert held()
    redis.Redis.from_url(deployment.redis_url).flushdb()
    assert not held()
    assert lead_tasks.resend_lost_photos(NOW) == [photo.pk]
    assert held() and lead_tasks.resend_lost_photos(NOW) == []  # sent once
    worker = deployment.worker()
    wait_for(lambda: GalleryPhoto.objects.get(pk=photo.pk).face_found is not None, 60, "the face looked for", worker)
