"""A gallery search end to end through real ``celery worker`` processes, Redis and PostgreSQL,
on real hand-drawn CUFS data: the gallery's faces are derived by the workers, the sketch is
uploaded through the services and derived by them, and the search they run ranks the true
person first. The harness is in ``workers.py``."""

import io
import tarfile
from pathlib import Path

import pytest

from cases import services as case_services
from cases.models import WitnessSketch
from forensics.celery import app as celery_app
from leads import imports, services
from leads.models import GalleryPhoto, LeadSearch

from .workers import missing_services, reset_connections, wait_for

CUFS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "cufs-train.tar.gz"
#: The person searched for, and ten others (their sketches drawn by artists from these photos).
TRUE_PERSON = "CUHK_student_02.png"
OTHERS = [f"CUHK_student_{n:02d}.png" for n in (0, 1, 3, 4, 5, 6, 7, 8, 9, 10)]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(bool(missing_services()), reason=missing_services() or "services present"),
    pytest.mark.skipif(not CUFS.is_file(), reason=f"needs the CUFS pairs at {CUFS} (the shared data folder)"),
]


def cufs(member: str) -> bytes:
    with tarfile.open(CUFS) as archive:
        return archive.extractfile(member).read()


@pytest.fixture
def leads_deployment(deployment):
    """The deployment, with this process sending the leads app's jobs to its queue too."""
    celery_app.conf.task_routes = {**celery_app.conf.task_routes, "leads.*": {"queue": deployment.queue}}
    reset_connections()
    return deployment


def test_workers_rank_the_true_person_of_a_cufs_pair_first(case, lead, investigator, admin, leads_deployment):
    worker = leads_deployment.worker()
    gallery = services.create_gallery(user=admin, name="CUFS students", source="CUFS train", legal_basis="Tests")
    services.grant_search(gallery, investigator.username, user=admin)
    photos = [imports.Incoming(name, lambda name=name: cufs(f"train_photos/{name}")) for name in [TRUE_PERSON, *OTHERS]]
    batch = imports.import_photos(gallery, photos, user=admin, source="command")
    sketch = case_services.add_sketch(
        case, io.BytesIO(cufs(f"train_sketches/{TRUE_PERSON}")), user=lead, style="grayscale", filename="sketch.png"
    )
    assert batch.added == 11

    looked_at = GalleryPhoto.objects.filter(gallery=gallery, face_found__isnull=False)
    wait_for(lambda: looked_at.count() == 11, 180, "the workers looked at every gallery photo", worker)
    wait_for(lambda: WitnessSketch.objects.get(pk=sketch.pk).face_found is not None, 60, "sketch derived", worker)
    assert GalleryPhoto.objects.searchable().count() == 11
    search = services.request_search(
        WitnessSketch.objects.get(pk=sketch.pk), gallery.pk, user=investigator, reason="End-to-end check"
    )
    wait_for(lambda: LeadSearch.objects.get(pk=search.pk).finished, 60, "the workers ran the search", worker)

    search.refresh_from_db()
    assert search.status == LeadSearch.Status.DONE, search.error_message
    top = search.results.select_related("photo").order_by("rank").first()
    assert top.photo.reference == Path(TRUE_PERSON).stem
    assert search.gallery_size == 11 and search.results.count() == 11
    assert search.probes[0]["sha256"] == sketch.sha256
