"""Evidence on a real S3 server: SeaweedFS started by the tests (tests/s3.py),
through django-storages exactly as ``STORAGE_BACKEND=s3`` configures it.

Uploads (page and API), composites rendered by the pipeline, candidate
photos, the case export and the custody re-hash all run against the bucket;
so do two outages, in which the tests kill the SeaweedFS process and start it
again: an upload answers 503 and leaves nothing behind, and a render waits
for the store and finishes once.
"""

import hashlib
import io
import uuid
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEvent
from cases import custody, pipeline, tasks
from cases.models import CandidatePhoto, Composite, WitnessSketch
from cases.pipeline import rendering

from . import s3, state
from .web import add_sketch, face_png
from .workers import Deployment, derived_in_process, missing_services, wait_for

Action = AuditEvent.Action
Status = Composite.Status

BUCKET = "evidence"

seaweedfs = s3.seaweedfs  # the session's SeaweedFS server (a fixture)


@pytest.fixture(scope="session")
def bucket_storage(seaweedfs) -> dict:
    """``STORAGES["default"]`` for the tests' bucket, as forensics/settings.py builds it."""
    return seaweedfs.storage(seaweedfs.create_bucket(BUCKET))


@pytest.fixture(autouse=True)
def evidence_in_the_bucket(media_in_tmp, settings, bucket_storage) -> str:
    """Every test here stores evidence in the bucket (after conftest's ``media_in_tmp``, which this
    replaces), under a folder of its own; the folder's name."""
    folder = f"test-{uuid.uuid4().hex[:12]}"
    options = {**bucket_storage["OPTIONS"], "location": folder}
    settings.STORAGES = {**settings.STORAGES, "default": {**bucket_storage, "OPTIONS": options}}
    return folder


class BucketFolder:
    """One test's folder in the bucket, read and written behind the application's back."""

    def __init__(self, server: s3.SeaweedFS, folder: str) -> None:
        self.server, self.folder, self.client = server, folder, server.client()

    def key(self, name: str) -> str:
        return f"{self.folder}/{name}"

    def names(self, prefix: str = "") -> list[str]:
        return [key.removeprefix(f"{self.folder}/") for key in self.server.keys(BUCKET, self.key(prefix))]

    def read(self, name: str) -> bytes:
        return self.client.get_object(Bucket=BUCKET, Key=self.key(name))["Body"].read()

    def write(self, name: str, data: bytes) -> None:
        self.client.put_object(Bucket=BUCKET, Key=self.key(name), Body=data)

    def delete(self, name: str) -> None:
        self.client.delete_object(Bucket=BUCKET, Key=self.key(name))


@pytest.fixture
def in_bucket(seaweedfs, evidence_in_the_bucket) -> BucketFolder:
    return BucketFolder(seaweedfs, evidence_in_the_bucket)


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def sketch(case, artist) -> WitnessSketch:
    return add_sketch(case, artist, style="line")


@pytest.fixture
def composite(sketch, artist, random_weights, eager_jobs) -> Composite:
    """A composite of ``sketch`` rendered by the pipeline, in this process."""
    composite = Composite.objects.create(sketch=sketch, style="line", requested_by=artist)
    tasks.render(composite.pk)
    composite.refresh_from_db()
    assert composite.status == Status.DONE, composite.error_message
    return composite


@pytest.fixture
def candidate(client, case, investigator) -> CandidatePhoto:
    client.force_login(investigator)
    response = client.post(
        reverse("candidate_add", args=[case.pk]),
        {"image": SimpleUploadedFile("suspect.png", face_png(3), content_type="image/png"), "label": "PNC record"},
    )
    assert response.status_code == 302, response.content
    client.logout()
    return CandidatePhoto.objects.get(case=case)


def upload(data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile("sketch.png", data, content_type="image/png")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def audit_chain_intact() -> bool:
    call_command("verify_audit", "--no-record")  # raises CommandError when it is not
    return True


# Evidence in the bucket


def test_a_sketch_uploaded_on_the_page_is_stored_in_the_bucket_and_served_back(client, case, artist, in_bucket):
    data = face_png(11)
    client.force_login(artist)

    response = client.post(reverse("sketch_upload", args=[case.pk]), {"image": upload(data), "style": "line"})

    assert response.status_code == 302, response.content
    sketch = WitnessSketch.objects.get(case=case)
    assert sketch.original.name == f"sketches/{sha256(data)}.png"
    assert in_bucket.read(sketch.original.name) == data
    served = client.get(reverse("sketch_image", args=[case.pk, sketch.pk]))
    assert served.status_code == 200
    assert b"".join(served) == data


def test_a_sketch_uploaded_through_the_api_is_stored_in_the_bucket_and_served_back(api, case, artist, in_bucket):
    data = face_png(12)
    api.force_authenticate(artist)

    response = api.post(reverse("api:sketch_list", args=[case.pk]), {"image": upload(data)}, format="multipart")

    assert response.status_code == 201, response.content
    assert response.json()["sha256"] == sha256(data)
    sketch = WitnessSketch.objects.get(pk=response.json()["id"])
    assert in_bucket.read(sketch.original.name) == data
    served = api.get(reverse("api:sketch_image", args=[case.pk, sketch.pk]))
    assert served.status_code == 200
    assert b"".join(served) == data


def test_the_pipeline_reads_the_sketch_from_the_bucket_and_stores_the_composite_there(
    api, case, investigator, composite, in_bucket
):
    assert composite.image.name == f"composites/{composite.output_sha256}.png"
    assert in_bucket.names("composites/") == [composite.image.name]
    assert sha256(in_bucket.read(composite.image.name)) == composite.output_sha256
    api.force_authenticate(investigator)
    served = api.get(reverse("api:composite_image", args=[case.pk, composite.pk]))
    assert served.status_code == 200
    assert sha256(b"".join(served)) == composite.output_sha256


def test_a_candidate_photo_is_stored_in_the_bucket_and_served_back(client, case, investigator, candidate, in_bucket):
    assert in_bucket.read(candidate.image.name) == face_png(3)
    assert candidate.sha256 == sha256(face_png(3))

    client.force_login(investigator)
    served = client.get(reverse("candidate_image", args=[case.pk, candidate.pk]))
    assert served.status_code == 200
    assert b"".join(served) == face_png(3)


def test_the_case_export_bundles_every_file_from_the_bucket_checked_against_its_sha256(
    client, case, investigator, sketch, composite, candidate, audit_log
):
    client.force_login(investigator)

    response = client.get(reverse("case_export", args=[case.pk]))

    assert response.status_code == 200
    bundle = zipfile.ZipFile(io.BytesIO(b"".join(response)))
    recorded = {
        f"sketches/sketch-{sketch.pk}-{sketch.original.name.rsplit('/', 1)[-1]}": sketch.sha256,
        f"composites/composite-{composite.pk}-{composite.output_sha256}.png": composite.output_sha256,
        f"candidates/candidate-{candidate.pk}-{candidate.image.name.rsplit('/', 1)[-1]}": candidate.sha256,
    }
    assert {name: sha256(bundle.read(name)) for name in recorded} == recorded
    assert Action.CASE_EXPORTED in [event.action for event in audit_log.new()]


# Custody: the bucket's objects are re-hashed on every read


def test_an_object_altered_in_the_bucket_is_refused_on_download_and_export_and_audited(
    client, case, investigator, sketch, in_bucket, audit_log
):
    altered = in_bucket.read(sketch.original.name)[:-20] + b"\x00" * 20
    in_bucket.write(sketch.original.name, altered)
    client.force_login(investigator)

    download = client.get(reverse("sketch_image", args=[case.pk, sketch.pk]), {"download": "1"})
    export = client.get(reverse("case_export", args=[case.pk]))

    assert download.status_code == export.status_code == 409
    assert b"no longer matches the fingerprint" in download.content
    failures = [event for event in audit_log.new() if event.action == Action.INTEGRITY_FAILED]
    assert [(event.details["expected_sha256"], event.details["actual_sha256"]) for event in failures] == [
        (sketch.sha256, sha256(altered))
    ] * 2
    assert in_bucket.read(sketch.original.name) == altered  # left as found, for the investigation


def test_an_object_deleted_from_the_bucket_is_reported_missing_and_audited(sketch, investigator, in_bucket, audit_log):
    in_bucket.delete(sketch.original.name)

    with pytest.raises(custody.CustodyError, match="is missing from storage") as error:
        custody.open_verified(sketch.original, sketch.sha256, user=investigator, obj=sketch)

    assert error.value.missing
    (event,) = audit_log.new()
    assert (event.action, event.details["problem"]) == (Action.INTEGRITY_FAILED, "missing")


def test_the_same_content_stored_twice_is_one_object(db, in_bucket):
    data = face_png(21)
    name = f"sketches/{sha256(data)}.png"

    assert custody.store(name, data) is True
    assert custody.store(name, data) is False

    assert in_bucket.names("sketches/") == [name]


def test_a_different_object_under_a_content_name_is_never_overwritten(db, in_bucket, audit_log):
    data = face_png(22)
    name = f"sketches/{sha256(data)}.png"
    in_bucket.write(name, b"forged")

    with pytest.raises(custody.CustodyError):
        custody.store(name, data)

    assert in_bucket.read(name) == b"forged"
    assert in_bucket.names("sketches/") == [name]
    assert [event.action for event in audit_log.new()] == [Action.INTEGRITY_FAILED]


# The store goes down


@pytest.mark.parametrize("through", ["page", "api"])
def test_an_upload_while_the_store_is_down_is_a_503_that_leaves_nothing_behind(
    through, client, api, case, artist, sketch, seaweedfs, audit_log
):
    client.force_login(artist)
    api.force_authenticate(artist)

    def send():
        if through == "page":
            return client.post(reverse("sketch_upload", args=[case.pk]), {"image": upload(face_png(31))})
        return api.post(reverse("api:sketch_list", args=[case.pk]), {"image": upload(face_png(31))}, format="multipart")

    before = state.snapshot()
    audit_log.mark()

    with seaweedfs.down():
        response = send()

    assert response.status_code == 503
    if through == "page":
        assert "Evidence storage is unavailable at the moment" in response.content.decode()
    else:
        assert response.json() == {"message": custody.UNAVAILABLE_MESSAGE}
    assert state.changes(before, state.snapshot()) == []  # no row, no file
    (event,) = audit_log.new()
    assert (event.action, event.outcome, event.user, event.case) == (Action.UPLOAD_REJECTED, "failed", artist, case)
    assert event.details["reason"] == "storage_unavailable"
    assert audit_chain_intact()

    assert send().status_code in (201, 302)  # the store is back: the same upload goes through
    assert WitnessSketch.objects.filter(sha256=sha256(face_png(31))).count() == 1


def test_reading_evidence_while_the_store_is_down_is_a_clear_503(client, api, case, investigator, sketch, seaweedfs):
    client.force_login(investigator)
    api.force_authenticate(investigator)
    with seaweedfs.down():
        download = client.get(reverse("sketch_image", args=[case.pk, sketch.pk]), {"download": "1"})
        exported = client.get(reverse("case_export", args=[case.pk]))
        through_api = api.get(reverse("api:sketch_image", args=[case.pk, sketch.pk]))
    for response in (download, exported):
        assert response.status_code == 503 and response["Retry-After"] == "30"
        assert "Evidence storage is not answering" in response.content.decode()
    assert through_api.status_code == 503 and "not answering" in through_api.json()["message"]
    assert client.get(reverse("sketch_image", args=[case.pk, sketch.pk]), {"download": "1"}).status_code == 200


def composite_trail(composite: Composite) -> list[tuple[str, dict]]:
    events = AuditEvent.objects.filter(object_type="composite", object_id=str(composite.pk)).order_by("sequence")
    return [(event.action, event.details) for event in events]


def test_a_render_that_meets_the_store_down_is_requeued_and_finishes_once_when_it_is_back(
    sketch, artist, seaweedfs, in_bucket, random_weights, monkeypatch
):
    composite = Composite.objects.create(sketch=sketch, style="line", requested_by=artist)
    note_pending = rendering.note_pending

    def store_goes_down_before_the_output_is_stored(job, name):
        noted = note_pending(job, name)
        seaweedfs.stop()
        return noted

    monkeypatch.setattr(rendering, "note_pending", store_goes_down_before_the_output_is_stored)
    with pytest.raises(pipeline.Interrupted) as interrupted:
        pipeline.render(composite.pk, batch_size=1)  # what tasks.render retries with backoff
    monkeypatch.undo()
    seaweedfs.start()

    assert interrupted.value.composite_ids == [composite.pk]
    assert Composite.objects.get(pk=composite.pk).status == Status.REQUESTED
    pipeline.render(composite.pk, batch_size=1)

    composite.refresh_from_db()
    assert composite.status == Status.DONE, composite.error_message
    assert composite.attempts == 2
    assert in_bucket.names("composites/") == [composite.image.name]
    data = custody.open_verified(composite.image, composite.output_sha256)
    assert sha256(data) == composite.output_sha256
    trail = composite_trail(composite)
    assert [action for action, _ in trail] == [
        Action.COMPOSITE_STARTED,
        Action.COMPOSITE_REQUESTED,
        Action.COMPOSITE_STARTED,
        Action.COMPOSITE_DONE,
    ]
    assert trail[1][1]["reason"].startswith("StorageUnavailable: storage unavailable for composites/")


# The store goes down under a real Celery worker (PostgreSQL and Redis needed)


@pytest.fixture(scope="module")
def s3_deployment(seaweedfs, worker_redis_url, worker_weights, tmp_path_factory, django_db_setup):
    """Workers configured by the environment for a bucket of their own, as production's are."""
    bucket = seaweedfs.create_bucket("worker-evidence")
    deployment = Deployment(worker_redis_url, worker_weights, tmp_path_factory.mktemp("s3-workers"))
    deployment.env.update(seaweedfs.environ(bucket))
    yield deployment
    deployment.kill_workers()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(bool(missing_services()), reason=missing_services() or "services present")
def test_a_worker_waits_out_a_store_outage_and_renders_the_composite_once(
    api, case, artist, s3_deployment, connect_deployment, settings, seaweedfs
):
    deployment = connect_deployment(s3_deployment)
    settings.STORAGES = {**settings.STORAGES, "default": seaweedfs.storage(deployment.env["S3_BUCKET"])}
    worker = deployment.worker()
    with derived_in_process():  # the face found, as a worker would have before anyone asks for composites
        sketch = add_sketch(case, artist, style="line")
    api.force_authenticate(artist)

    with seaweedfs.down():
        response = api.post(reverse("api:composite_request", args=[case.pk, sketch.pk]), {"style": "line"})
        assert response.status_code == 202, response.content
        composite = Composite.objects.get(pk=response.json()["id"])

        def interrupted() -> bool:
            return any("requeued_after_attempt" in details for _, details in composite_trail(composite))

        wait_for(interrupted, 60, "the worker met the outage and put the composite back", worker)

    wait_for(lambda: Composite.objects.get(pk=composite.pk).status in (Status.DONE, Status.FAILED), 90, "done", worker)
    composite.refresh_from_db()
    assert composite.status == Status.DONE, composite.error_message
    assert "retrying in" in worker.output()  # the task's backoff, not a new request
    actions = [action for action, _ in composite_trail(composite)]
    assert actions[:3] == [Action.COMPOSITE_REQUESTED, Action.COMPOSITE_STARTED, Action.COMPOSITE_REQUESTED]
    assert actions[-2:] == [Action.COMPOSITE_STARTED, Action.COMPOSITE_DONE]
    assert actions.count(Action.COMPOSITE_DONE) == 1
    assert composite.attempts == actions.count(Action.COMPOSITE_STARTED) >= 2
    assert seaweedfs.keys(deployment.env["S3_BUCKET"], "composites/") == [composite.image.name]
    data = custody.open_verified(composite.image, composite.output_sha256)
    assert sha256(data) == composite.output_sha256
