"""The custody sweep: every stored file re-hashed on a schedule, each failure audited once,
its progress and last result on the auditor's integrity page, one sweep at a time."""

import hashlib
import threading
import tracemalloc
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone
from storages.backends.s3 import S3File

from audit.models import AuditEvent
from cases import custody, custody_sweep
from cases.models import CandidatePhoto, Composite, CustodySweep, WitnessSketch
from forensics.celery import app as celery_app

from . import s3
from .factories import png_bytes

Action = AuditEvent.Action
Status = CustodySweep.Status


def stored(folder: str, data: bytes, extension: str = "png") -> tuple[str, str]:
    """Store ``data`` under its content name in ``folder``; the name and the SHA-256."""
    digest = hashlib.sha256(data).hexdigest()
    name = f"{folder}/{digest}.{extension}"
    custody.store(name, data)
    return name, digest


def add_sketch(case, user, data: bytes, *, working_copy: bytes | None = None) -> WitnessSketch:
    name, digest = stored("sketches", data)
    sketch = WitnessSketch.objects.create(
        case=case, uploaded_by=user, original=name, sha256=digest, size=len(data), width=64, height=48, style="line"
    )
    if working_copy is not None:
        sketch.working_copy, sketch.working_copy_sha256 = stored("derived", working_copy)
        sketch.save(update_fields=["working_copy", "working_copy_sha256"])
    return sketch


def add_candidate(case, user, data: bytes) -> CandidatePhoto:
    name, digest = stored("candidates", data)
    return CandidatePhoto.objects.create(
        case=case, uploaded_by=user, image=name, sha256=digest, size=len(data), width=64, height=48, label="PNC record"
    )


def add_composite(sketch: WitnessSketch, user, data: bytes) -> Composite:
    name, digest = stored("composites", data)
    return Composite.objects.create(
        sketch=sketch, style="line", requested_by=user, status=Composite.Status.DONE, image=name, output_sha256=digest
    )


def alter(name: str) -> str:
    """Change one byte of a stored file behind the application's back; the new SHA-256."""
    path = Path(default_storage.path(name))
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def evidence(case, artist, investigator):
    """A sketch with its working copy, a composite of it, a candidate photo; a sketch and a composite
    not yet holding derived files or output (nothing to check)."""
    sketch = add_sketch(case, artist, png_bytes(color="white"), working_copy=png_bytes(32, 24, color="white"))
    bare = add_sketch(case, artist, png_bytes(color="gray"))
    Composite.objects.create(sketch=bare, style="line", requested_by=artist)  # requested: no file yet
    return {
        "sketch": sketch,
        "bare": bare,
        "composite": add_composite(sketch, artist, png_bytes(96, 96, color="black")),
        "candidate": add_candidate(case, investigator, png_bytes(50, 50, color="silver")),
    }


@pytest.fixture
def save_every_file(monkeypatch):
    monkeypatch.setattr(custody_sweep, "PROGRESS_EVERY", 1)


def sweep_events(audit_log) -> list[AuditEvent]:
    return [event for event in audit_log.new() if event.action != Action.AUDIT_VIEWED]


# What it finds


def test_a_sweep_over_intact_files_records_no_failure_and_counts_every_file(evidence, audit_log):
    sweep = custody_sweep.run()

    assert (sweep.status, sweep.files_checked, sweep.files_total, sweep.failures) == (Status.DONE, 5, 5, 0)
    files = [
        evidence["sketch"].original,
        evidence["sketch"].working_copy,
        evidence["bare"].original,
        evidence["composite"].image,
        evidence["candidate"].image,
    ]
    assert sweep.bytes_checked == sum(default_storage.size(file.name) for file in files)
    started, finished = audit_log.new()
    assert (started.action, started.details) == (
        Action.CUSTODY_SWEEP_STARTED,
        {"sweep": sweep.pk, "source": "schedule", "files_total": 5},
    )
    assert (finished.action, finished.outcome, finished.object_type, finished.object_id) == (
        Action.CUSTODY_SWEEP_FINISHED,
        "success",
        "custodysweep",
        str(sweep.pk),
    )
    assert finished.details | {"seconds": 0} == {
        "sweep": sweep.pk,
        "source": "schedule",
        "status": "done",
        "files_checked": 5,
        "files_total": 5,
        "bytes_checked": sweep.bytes_checked,
        "failures": 0,
        "error": "",
        "seconds": 0,
    }


def test_an_altered_and_a_missing_file_are_each_recorded_once_naming_the_object(evidence, case, audit_log):
    sketch, candidate = evidence["sketch"], evidence["candidate"]
    altered_sha256 = alter(sketch.original.name)
    default_storage.delete(candidate.image.name)

    sweep = custody_sweep.run()

    assert (sweep.status, sweep.files_checked, sweep.failures) == (Status.DONE, 5, 2)
    failures = [event for event in audit_log.new() if event.action == Action.INTEGRITY_FAILED]
    assert [(event.object_type, event.object_id, event.case, event.outcome) for event in failures] == [
        ("witnesssketch", str(sketch.pk), case, "failed"),
        ("candidatephoto", str(candidate.pk), case, "failed"),
    ]
    assert failures[0].details == {
        "file": sketch.original.name,
        "expected_sha256": sketch.sha256,
        "actual_sha256": altered_sha256,
        "problem": "altered",
    }
    assert failures[1].details == {
        "file": candidate.image.name,
        "expected_sha256": candidate.sha256,
        "actual_sha256": None,
        "problem": "missing",
    }
    finished = AuditEvent.objects.get(action=Action.CUSTODY_SWEEP_FINISHED)
    assert (finished.outcome, finished.details["failures"]) == ("failed", 2)


def test_an_altered_working_copy_and_composite_are_found_too(evidence, audit_log):
    sketch, composite = evidence["sketch"], evidence["composite"]
    alter(sketch.working_copy.name)
    alter(composite.image.name)

    sweep = custody_sweep.run()

    assert sweep.failures == 2
    failures = AuditEvent.objects.filter(action=Action.INTEGRITY_FAILED)
    assert sorted((event.object_type, event.details["file"]) for event in failures) == [
        ("composite", composite.image.name),
        ("witnesssketch", sketch.working_copy.name),
    ]


def test_a_store_outage_interrupts_the_sweep_and_blames_no_file(evidence, monkeypatch, audit_log):
    opened = []
    real_open = FileSystemStorage.open

    def store_goes_down_after_two_files(self, name, mode="rb"):
        opened.append(name)
        if len(opened) > 2:
            raise ConnectionRefusedError(111, "Connection refused")
        return real_open(self, name, mode)

    monkeypatch.setattr(FileSystemStorage, "open", store_goes_down_after_two_files)

    sweep = custody_sweep.run()

    assert (sweep.status, sweep.files_checked, sweep.failures) == (Status.INTERRUPTED, 2, 0)
    assert sweep.last_error.startswith("The evidence store did not answer: storage unavailable for")
    assert not AuditEvent.objects.filter(action=Action.INTEGRITY_FAILED).exists()
    finished = AuditEvent.objects.get(action=Action.CUSTODY_SWEEP_FINISHED)
    assert (finished.outcome, finished.details["status"]) == ("failed", "interrupted")
    monkeypatch.undo()
    assert custody_sweep.run().status == Status.DONE  # the store is back: the next sweep runs


def test_a_large_file_is_hashed_in_chunks_in_flat_memory(case, artist):
    data = bytes(range(256)) * (96 * 1024 * 4)  # 96 MiB
    sketch = add_sketch(case, artist, data)
    del data

    tracemalloc.start()
    try:
        sweep = custody_sweep.run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert (sweep.status, sweep.failures, sweep.bytes_checked) == (Status.DONE, 0, sketch.size)
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes while hashing {sketch.size}"


# The auditor's page


def test_the_integrity_page_shows_a_running_sweeps_progress_and_follows_it(
    evidence, client, auditor, save_every_file, audit_log
):
    client.force_login(auditor)
    pages = []

    def look(sweep):
        if sweep.files_checked == 2:
            pages.append(client.get(reverse("audit_chain")))

    custody_sweep.run(report=look)

    (page,) = pages
    html = page.content.decode()
    assert page.status_code == 200
    assert '<progress id="custody-sweep-progress" value="2" max="5"' in html
    assert "2 of 5 files checked" in html
    assert page["Refresh"] == "20"

    done = client.get(reverse("audit_chain"))
    assert "Refresh" not in done
    assert "checked 5 files" in done.content.decode() and "all intact" in done.content.decode()
    assert "<progress" not in done.content.decode()


def test_the_integrity_page_shows_how_the_last_sweep_ended(evidence, client, auditor):
    default_storage.delete(evidence["candidate"].image.name)
    custody_sweep.run()
    client.force_login(auditor)

    html = client.get(reverse("audit_chain")).content.decode()

    assert "1 failed</span>, listed below" in html
    assert evidence["candidate"].image.name in html  # in the list of files that failed


def test_the_integrity_page_says_when_no_sweep_has_run(client, auditor):
    client.force_login(auditor)
    assert "No custody sweep has run yet." in client.get(reverse("audit_chain")).content.decode()


@pytest.mark.parametrize("who", ["investigator", "artist", "lead"])
def test_the_integrity_page_refuses_non_auditors(who, request, client, evidence, audit_log):
    user = request.getfixturevalue(who)
    CustodySweep.objects.create(status=Status.RUNNING, source="schedule", files_total=5, files_checked=2)
    client.force_login(user)

    response = client.get(reverse("audit_chain"))

    assert response.status_code == 403
    assert b"progress" not in response.content
    (event,) = [event for event in audit_log.new() if event.action == Action.ACCESS_DENIED]
    assert (event.action, event.user, event.details["ability"]) == (Action.ACCESS_DENIED, user, "view_audit")


# Celery beat and the command


def test_celery_beat_runs_the_sweep_daily_by_default(evidence):
    entry = settings.CELERY_BEAT_SCHEDULE["custody-sweep"]
    assert entry["task"] == "cases.custody_sweep"
    assert entry["schedule"] == settings.CUSTODY_SWEEP_INTERVAL == 24 * 60 * 60
    assert entry["options"]["queue"] == settings.INVERSION_QUEUE  # a queue the workers consume

    celery_app.loader.import_default_modules()  # what a worker and beat do: autodiscovery
    task = celery_app.tasks["cases.custody_sweep"]
    assert task.soft_time_limit == settings.CUSTODY_SWEEP_INTERVAL  # a sweep stops when the next is due
    sweep_id = task.apply().get()

    sweep = CustodySweep.objects.get(pk=sweep_id)
    assert (sweep.source, sweep.status, sweep.files_checked) == ("schedule", Status.DONE, 5)


def test_the_command_runs_a_sweep_and_says_what_it_found(evidence, capsys):
    call_command("sweep_custody")
    assert "Checked 5 of 5 files" in capsys.readouterr().out
    assert CustodySweep.objects.get().source == "command"

    default_storage.delete(evidence["composite"].image.name)
    with pytest.raises(CommandError, match="1 file"):
        call_command("sweep_custody")


# One at a time


def test_a_second_sweep_is_refused_while_one_runs(evidence, audit_log):
    refused = []

    def try_another(sweep):
        if sweep.files_checked == 1:
            with pytest.raises(custody_sweep.AlreadyRunning) as raised:
                custody_sweep.run()
            refused.append(raised.value)
            with pytest.raises(CommandError, match="already running"):
                call_command("sweep_custody")

    sweep = custody_sweep.run(report=try_another)

    assert refused[0].sweep.pk == sweep.pk
    assert (sweep.status, sweep.files_checked) == (Status.DONE, 5)
    assert CustodySweep.objects.count() == 1
    assert [event.action for event in audit_log.new()] == [
        Action.CUSTODY_SWEEP_STARTED,
        Action.CUSTODY_SWEEP_FINISHED,
    ]


def test_the_database_holds_one_running_sweep_at_most(db):
    CustodySweep.objects.create(status=Status.RUNNING, source="schedule")
    CustodySweep.objects.create(status=Status.DONE, source="schedule")
    with pytest.raises(IntegrityError), transaction.atomic():
        CustodySweep.objects.create(status=Status.RUNNING, source="command")


@pytest.mark.django_db(transaction=True)
def test_two_processes_cannot_sweep_at_once(case, artist):
    add_sketch(case, artist, png_bytes(color="white"))
    add_sketch(case, artist, png_bytes(color="black"))
    first_is_sweeping, may_finish = threading.Event(), threading.Event()
    outcome = {}

    def first():
        def wait(sweep):
            first_is_sweeping.set()
            may_finish.wait(10)

        try:
            outcome["first"] = custody_sweep.run(report=wait).status
        finally:
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert first_is_sweeping.wait(10)
        with pytest.raises(custody_sweep.AlreadyRunning):
            custody_sweep.run(CustodySweep.Source.COMMAND)
    finally:
        may_finish.set()
        thread.join(20)

    assert outcome["first"] == Status.DONE
    assert list(CustodySweep.objects.values_list("source", "status")) == [("schedule", "done")]


def test_a_sweep_whose_process_died_is_marked_interrupted_and_taken_over(evidence, audit_log):
    dead = CustodySweep.objects.create(status=Status.RUNNING, source="schedule", files_total=5, files_checked=3)
    CustodySweep.objects.filter(pk=dead.pk).update(updated_at=timezone.now() - custody_sweep.STALE_AFTER * 2)

    sweep = custody_sweep.run()

    dead.refresh_from_db()
    assert (dead.status, dead.last_error) == (Status.INTERRUPTED, "Its process stopped: no progress for 15 minutes.")
    assert sweep.status == Status.DONE
    ended = AuditEvent.objects.filter(action=Action.CUSTODY_SWEEP_FINISHED).order_by("sequence")
    assert [(event.details["sweep"], event.details["status"]) for event in ended] == [
        (dead.pk, "interrupted"),
        (sweep.pk, "done"),
    ]


def test_a_sweep_taken_over_stops_without_ending_twice(evidence, save_every_file, audit_log):
    def taken_over(sweep):
        if sweep.files_checked == 2:  # as the next sweep would, finding no progress for a long time
            CustodySweep.objects.filter(pk=sweep.pk).update(status=Status.INTERRUPTED, last_error="taken over")

    sweep = custody_sweep.run(report=taken_over)

    assert (sweep.status, sweep.last_error) == (Status.INTERRUPTED, "taken over")
    assert not AuditEvent.objects.filter(action=Action.CUSTODY_SWEEP_FINISHED).exists()


# On a real S3 server

seaweedfs = s3.seaweedfs  # the session's SeaweedFS server (a fixture)


@pytest.fixture
def evidence_in_a_bucket(seaweedfs, settings, case, artist):
    """The default storage is a folder of a SeaweedFS bucket, as ``STORAGE_BACKEND=s3`` configures it."""
    bucket = "sweep"
    if bucket not in [item["Name"] for item in seaweedfs.client().list_buckets()["Buckets"]]:
        seaweedfs.create_bucket(bucket)
    storage = seaweedfs.storage(bucket)
    folder = f"sweep-{timezone.now():%H%M%S%f}"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**storage, "OPTIONS": {**storage["OPTIONS"], "location": folder}},
    }
    return bucket, folder


def test_a_sweep_streams_objects_from_s3_and_finds_the_missing_one(
    evidence_in_a_bucket, seaweedfs, case, artist, monkeypatch
):
    bucket, folder = evidence_in_a_bucket
    kept = add_sketch(case, artist, png_bytes(color="white"), working_copy=png_bytes(32, 24))
    gone = add_sketch(case, artist, png_bytes(color="black"))
    seaweedfs.client().delete_object(Bucket=bucket, Key=f"{folder}/{gone.original.name}")

    def whole_object_in_memory(self):
        raise AssertionError("S3File read the whole object into memory")

    monkeypatch.setattr(S3File, "_get_file", whole_object_in_memory)

    sweep = custody_sweep.run()

    assert (sweep.status, sweep.files_checked, sweep.failures) == (Status.DONE, 3, 1)
    assert sweep.bytes_checked == kept.size + default_storage.size(kept.working_copy.name)
    (failure,) = AuditEvent.objects.filter(action=Action.INTEGRITY_FAILED)
    assert (failure.object_id, failure.details["problem"]) == (str(gone.pk), "missing")


def test_an_s3_outage_interrupts_the_sweep_and_blames_no_file(evidence_in_a_bucket, seaweedfs, case, artist):
    add_sketch(case, artist, png_bytes(color="white"))

    with seaweedfs.down():
        sweep = custody_sweep.run()

    assert (sweep.status, sweep.failures) == (Status.INTERRUPTED, 0)
    assert "The evidence store did not answer" in sweep.last_error
    assert not AuditEvent.objects.filter(action=Action.INTEGRITY_FAILED).exists()
    assert custody_sweep.run().status == Status.DONE
