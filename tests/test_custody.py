"""Chain of custody: files are named by content, never overwritten, and re-hashed on every read."""

import hashlib
import io
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import transaction
from django.urls import reverse

from audit.models import AuditEvent
from cases import custody, services
from cases.models import WitnessSketch

from .factories import PASSWORD, png_bytes

Action = AuditEvent.Action


@pytest.fixture
def sketch(artist, case) -> WitnessSketch:
    return services.add_sketch(case, io.BytesIO(png_bytes(80, 60)), user=artist, style="line", filename="scan.png")


def alter_on_disk(name: str) -> bytes:
    """Change one byte of a stored file behind the application's back; the new content."""
    path = Path(default_storage.path(name))
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF
    path.write_bytes(data)
    return bytes(data)


def test_an_intact_file_is_returned_byte_for_byte(sketch, investigator, audit_log):
    data = custody.open_verified(sketch.original, sketch.sha256, user=investigator, obj=sketch)

    assert hashlib.sha256(data).hexdigest() == sketch.sha256
    assert audit_log.new() == []  # the caller records the view or download


def test_a_file_altered_on_disk_is_refused_and_audited(sketch, investigator, case, audit_log):
    altered = alter_on_disk(sketch.original.name)

    with pytest.raises(custody.CustodyError, match="no longer matches the fingerprint"):
        custody.open_verified(sketch.original, sketch.sha256, user=investigator, obj=sketch)

    (event,) = audit_log.new()
    assert (event.action, event.outcome, event.user, event.case) == (
        Action.INTEGRITY_FAILED,
        "failed",
        investigator,
        case,
    )
    assert (event.object_type, event.object_id) == ("witnesssketch", str(sketch.pk))
    assert event.details == {
        "file": sketch.original.name,
        "expected_sha256": sketch.sha256,
        "actual_sha256": hashlib.sha256(altered).hexdigest(),
        "problem": "altered",
    }


def test_a_missing_file_is_refused_and_audited(sketch, investigator, audit_log):
    Path(default_storage.path(sketch.original.name)).unlink()

    with pytest.raises(custody.CustodyError, match="is missing from storage"):
        custody.open_verified(sketch.original, sketch.sha256, user=investigator, obj=sketch)

    (event,) = audit_log.new()
    assert (event.action, event.details["problem"], event.details["actual_sha256"]) == (
        Action.INTEGRITY_FAILED,
        "missing",
        None,
    )


def test_reading_inside_a_transaction_is_refused_so_a_failure_is_never_rolled_back(sketch, investigator):
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        custody.open_verified(sketch.original, sketch.sha256, user=investigator, obj=sketch)


def test_an_altered_sketch_is_not_downloaded_and_the_downloader_is_told(client, sketch, investigator, case, audit_log):
    alter_on_disk(sketch.original.name)
    client.login(username=investigator.username, password=PASSWORD)
    audit_log.mark()

    response = client.get(reverse("sketch_image", args=[case.pk, sketch.pk]), {"download": "1"})

    assert response.status_code == 409
    assert b"no longer matches the fingerprint" in response.content
    assert [event.action for event in audit_log.new()] == [Action.INTEGRITY_FAILED]


def test_storing_the_same_content_twice_writes_one_file(db):
    data = png_bytes()
    name = f"sketches/{hashlib.sha256(data).hexdigest()}.png"

    assert custody.store(name, data) is True
    assert custody.store(name, data) is False

    assert default_storage.listdir("sketches")[1] == [name.split("/")[1]]


def test_a_different_file_under_a_content_name_is_never_overwritten(sketch, artist, case, audit_log):
    altered = alter_on_disk(sketch.original.name)

    with pytest.raises(custody.CustodyError):
        services.add_sketch(case, io.BytesIO(png_bytes(80, 60)), user=artist, style="line")

    with default_storage.open(sketch.original.name) as stored:
        assert stored.read() == altered  # left as found, for the investigation
    assert WitnessSketch.objects.count() == 1
    assert [event.action for event in audit_log.new()] == [Action.INTEGRITY_FAILED]


def test_a_name_that_is_not_the_content_hash_is_refused(db):
    with pytest.raises(ValueError, match="not named by its content"):
        custody.store("sketches/innocent.png", png_bytes())


class RacingStorage(FileSystemStorage):
    """Another writer stores the same content between ``store``'s check and its save."""

    def __init__(self, *args, rival: bytes, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rival = rival

    def exists(self, name: str) -> bool:
        if self.rival:
            rival, self.rival = self.rival, b""
            self.save(name, ContentFile(rival))
            return False
        return super().exists(name)


def test_a_storage_that_renames_instead_of_overwriting_is_caught(tmp_path):
    data = png_bytes()
    storage = RacingStorage(location=tmp_path, rival=data)
    name = f"sketches/{hashlib.sha256(data).hexdigest()}.png"

    assert custody.store(name, data, storage=storage) is False

    assert [path.name for path in (tmp_path / "sketches").iterdir()] == [name.split("/")[1]]


def test_a_different_file_winning_the_race_is_a_custody_failure(tmp_path, db, audit_log):
    data = png_bytes()
    storage = RacingStorage(location=tmp_path, rival=b"forged")
    name = f"sketches/{hashlib.sha256(data).hexdigest()}.png"

    with pytest.raises(custody.CustodyError):
        custody.store(name, data, storage=storage)

    assert [path.name for path in (tmp_path / "sketches").iterdir()] == [name.split("/")[1]]
    assert [event.action for event in audit_log.new()] == [Action.INTEGRITY_FAILED]
