"""Importing photos into a gallery: from the browser (files or a zip) and ``manage.py import_gallery``.

Every photo passes the upload validator sketches pass
(``cases.uploads.validate_upload``) and is stored through custody under its
SHA-256 (``cases.services.store_upload``). A photo whose SHA-256 the gallery
holds already is a duplicate, reported and not stored again; a refused file
is reported with the validator's message and nothing is kept of it. Each
batch is one ``gallery_imported`` audit event with its counts and a manifest
hash: the SHA-256 over the sorted SHA-256s of the photos it added.
"""

import csv
import hashlib
import io
import tarfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import HttpRequest

import audit
from cases import services as case_services
from cases.sending import send_after_commit
from cases.uploads import UploadRejected, validate_upload

from .access import require_admin
from .models import Gallery, GalleryPhoto, ImportBatch, gallery_photo_upload_to

#: Most files one archive may hold (a zip of a million empty entries is refused, not walked).
ARCHIVE_MAX_MEMBERS = 20_000
#: Photos per ``leads.derive_photos`` job.
DERIVE_BATCH = 25
#: What an archive member may be called to be looked at (``__MACOSX`` and dot files are not photos).
SKIPPED_PREFIXES = ("__MACOSX/", ".")


class ArchiveRefused(Exception):
    """An archive that cannot be read, or that holds too many files; the message says which."""


@dataclass
class Incoming:
    """One file to import: its name, its bytes (read when it is imported), its reference in the source."""

    filename: str
    read: Callable[[], bytes]
    reference: str = ""


@dataclass
class Outcome:
    filename: str
    outcome: str  # added, duplicate, refused
    message: str = ""
    sha256: str = ""
    photo: int | None = None

    def as_dict(self) -> dict:
        return {key: value for key, value in vars(self).items() if value not in ("", None)}


def manifest_sha256(digests: Iterable[str]) -> str:
    """SHA-256 over the sorted SHA-256s (hex, one a line) of the photos a batch added."""
    return hashlib.sha256("".join(f"{digest}\n" for digest in sorted(digests)).encode()).hexdigest()


def reference_from(filename: str) -> str:
    """A photo's reference from its file name: the name without folder or extension."""
    return PurePosixPath(filename).stem[:200]


def import_photos(
    gallery: Gallery,
    files: Iterable[Incoming],
    *,
    user,
    source: str,
    request: HttpRequest | None = None,
    progress: Callable[[Outcome], None] | None = None,
) -> ImportBatch:
    """Import ``files`` into ``gallery`` as one batch, audited; the photos are sent to workers after commit.

    Raises ``custody.StorageUnavailable`` when the store does not answer;
    then nothing of the batch is kept (files this call wrote are removed).
    """
    require_admin(user, request, object_id=str(gallery.pk))
    known = set(GalleryPhoto.objects.filter(gallery=gallery).values_list("sha256", flat=True))
    outcomes: list[Outcome] = []
    photos: list[GalleryPhoto] = []
    written: list[str] = []
    try:
        for incoming in files:
            outcome = _accept(gallery, incoming, known, photos, written, user=user, request=request)
            outcomes.append(outcome)
            if progress is not None:
                progress(outcome)
        with transaction.atomic():
            batch = ImportBatch.objects.create(
                gallery=gallery,
                imported_by=user if user.is_authenticated else None,
                source=source,
                added=len(photos),
                duplicates=sum(o.outcome == "duplicate" for o in outcomes),
                refused=sum(o.outcome == "refused" for o in outcomes),
                manifest_sha256=manifest_sha256(photo.sha256 for photo in photos),
            )
            for photo in photos:
                photo.batch = batch
            GalleryPhoto.objects.bulk_create(photos)
            created = {photo.sha256: photo.pk for photo in photos}
            for outcome in outcomes:
                outcome.photo = created.get(outcome.sha256) if outcome.outcome == "added" else None
            batch.outcomes = [outcome.as_dict() for outcome in outcomes]
            batch.save(update_fields=["outcomes"])
            audit.record(
                audit.Action.GALLERY_IMPORTED,
                user=user,
                request=request,
                object_type="gallery",
                object_id=gallery.pk,
                details={
                    "gallery": gallery.name,
                    "batch": batch.pk,
                    "source": source,
                    "added": batch.added,
                    "duplicates": batch.duplicates,
                    "refused": batch.refused,
                    "manifest_sha256": batch.manifest_sha256,
                    "refusals": [
                        {"filename": o.filename, "message": o.message} for o in outcomes if o.outcome == "refused"
                    ][:100],
                },
            )
    except Exception:
        stored = set(GalleryPhoto.objects.filter(image__in=written).values_list("image", flat=True))
        for name in written:
            if name not in stored:
                default_storage.delete(name)
        raise
    from .tasks import derive_photos

    pks = [photo.pk for photo in photos]
    for start in range(0, len(pks), DERIVE_BATCH):
        send_after_commit(derive_photos, *pks[start : start + DERIVE_BATCH])
    return batch


def _accept(gallery, incoming: Incoming, known: set, photos: list, written: list, *, user, request) -> Outcome:
    """Validate and store one file; a new ``GalleryPhoto`` (not saved) joins ``photos``."""
    name = PurePosixPath(incoming.filename).name[:255]
    try:
        upload = io.BytesIO(incoming.read())
        upload.name = name
        image = validate_upload(upload)
    except UploadRejected as rejection:
        return Outcome(name, "refused", rejection.message, rejection.details.get("sha256", ""))
    except ArchiveRefused as refusal:
        return Outcome(name, "refused", str(refusal))
    if image.sha256 in known:
        return Outcome(name, "duplicate", "The gallery holds this photo already.", image.sha256)
    photo = GalleryPhoto(
        gallery=gallery,
        added_by=user if user.is_authenticated else None,
        original_filename=name,
        reference=(incoming.reference or reference_from(name))[:200],
        sha256=image.sha256,
        size=image.size,
        width=image.width,
        height=image.height,
    )
    photo.image.name = gallery_photo_upload_to(photo, f"upload.{image.extension}")
    if case_services.store_upload(
        photo.image.name, image.data, user=user, case=None, object_type="galleryphoto", filename=name, request=request
    ):
        written.append(photo.image.name)
    known.add(image.sha256)
    photos.append(photo)
    return Outcome(name, "added", "", image.sha256)


def _photo_member(name: str) -> bool:
    return not any(part.startswith(".") for part in PurePosixPath(name).parts) and not name.startswith("__MACOSX/")


def _limited(read: Callable[[int], bytes]) -> bytes:
    """At most one byte past the upload limit, so the validator refuses an oversize member by its size."""
    return read(settings.UPLOAD_MAX_BYTES + 1)


def zip_members(archive) -> Iterator[Incoming]:
    """The files of a zip (a path or a file object), in name order; ``ArchiveRefused`` if it cannot be read.

    The archive stays open while its members are read (they may be listed first and read later).
    """
    try:
        opened = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ArchiveRefused(f"This is not a zip file that can be read: {error}") from error
    members = [info for info in opened.infolist() if not info.is_dir() and _photo_member(info.filename)]
    if len(members) > ARCHIVE_MAX_MEMBERS:
        raise ArchiveRefused(f"The zip holds {len(members)} files; import at most {ARCHIVE_MAX_MEMBERS} at a time.")
    for info in sorted(members, key=lambda info: info.filename):

        def read(info=info) -> bytes:
            try:
                with opened.open(info) as member:
                    return _limited(member.read)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError) as error:
                raise ArchiveRefused(f"This file cannot be read from the zip: {error}") from error

        yield Incoming(info.filename, read)


def tar_members(path: Path) -> Iterator[Incoming]:
    """The regular files of a tar (compressed or not), in name order; links and devices are left out."""
    try:
        opened = tarfile.open(path)  # noqa: SIM115  (open while the members are read)
        members = [m for m in opened.getmembers() if m.isfile() and _photo_member(m.name)]
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ArchiveRefused(f"This is not a tar file that can be read: {error}") from error
    if len(members) > ARCHIVE_MAX_MEMBERS:
        raise ArchiveRefused(f"The tar holds {len(members)} files; import at most {ARCHIVE_MAX_MEMBERS} at a time.")
    for member in sorted(members, key=lambda member: member.name):

        def read(member=member) -> bytes:
            try:
                return _limited(opened.extractfile(member).read)
            except (tarfile.TarError, OSError, EOFError) as error:
                raise ArchiveRefused(f"This file cannot be read from the tar: {error}") from error

        yield Incoming(member.name, read)


def folder_members(folder: Path) -> Iterator[Incoming]:
    """The files under ``folder`` (not following links), in path order; hidden ones are left out."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        relative = path.relative_to(folder).as_posix()
        if _photo_member(relative):
            yield Incoming(relative, lambda path=path: _read_file(path))


def _read_file(path: Path) -> bytes:
    with path.open("rb") as opened:
        return _limited(opened.read)


def members_of(path: Path) -> Iterator[Incoming]:
    """The files of a folder, a zip or a tar at ``path``."""
    if path.is_dir():
        return folder_members(path)
    if zipfile.is_zipfile(path):
        return zip_members(path)
    if tarfile.is_tarfile(path):
        return tar_members(path)
    raise ArchiveRefused(f"{path} is not a folder, a zip or a tar file.")


def with_references(files: Iterable[Incoming], references: dict[str, str]) -> Iterator[Incoming]:
    """``files`` with the reference ``references`` gives each file name (its base name), else the name's stem."""
    for incoming in files:
        name = PurePosixPath(incoming.filename).name
        incoming.reference = references.get(incoming.filename) or references.get(name) or ""
        yield incoming


def read_references(text: str) -> dict[str, str]:
    """filename,reference rows (a header row "filename,reference" is skipped) as a dict."""
    references = {}
    for row in csv.reader(io.StringIO(text)):
        if len(row) < 2 or not row[0].strip():
            continue
        filename, reference = row[0].strip(), row[1].strip()
        if (filename.lower(), reference.lower()) == ("filename", "reference"):
            continue
        references[filename] = reference[:200]
    return references
