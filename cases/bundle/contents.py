"""What a case bundle holds, each file as a source of bytes that can be read twice.

The builder (``builder.CaseBundle``) reads every source once to measure it
and once to send it, so each one is a function returning a fresh iterator:
stored evidence is read from storage a piece at a time and checked against
its recorded SHA-256 (``verified_chunks``); the audit events and the chain
proof are read from the database up to the chain head taken when the export
began, so both readings give the same bytes.
"""

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db.models import Model
from django.db.models.fields.files import FieldFile
from django.http import HttpRequest

from audit.models import AuditEvent
from audit.trail import GENESIS_HASH, event_dict

from .. import custody
from ..custody_sweep import _chunks as stored_chunks  # S3 objects streamed from their body, not read whole
from ..models import CandidatePhoto, Case, Composite, Morph, WitnessSketch
from ..provenance import candidate_provenance, case_summary, composite_provenance, sketch_provenance

#: Bytes of text gathered from the database, or of zip output held, before they are handed on.
CHUNK = 512 * 1024
HERE = Path(__file__).resolve().parent
EVENTS_FILE = "audit-events.jsonl"
PROOF_FILE = "audit-chain.json"
CHAIN_FORMAT = "case-bundle-chain/1"


@dataclass(frozen=True)
class Head:
    """The audit chain's head when the export began: the bundle covers the chain up to here."""

    sequence: int
    hash: str


@dataclass(frozen=True)
class Entry:
    """One file of the bundle: where it goes, what it is, and its bytes (a fresh iterator per call)."""

    path: str
    kind: str
    chunks: Callable[[], Iterable[bytes]]
    compress: bool = True
    object: dict[str, Any] | None = None


@dataclass(frozen=True)
class Reader:
    """Who reads the stored files, for the ``integrity_failed`` event a mismatch records."""

    user: Any
    request: HttpRequest | None
    case: Case


def verified_chunks(field_file: FieldFile, expected_sha256: str, reader: Reader, obj: Model) -> Iterator[bytes]:
    """The stored file a piece at a time; raises ``CustodyError`` after the last piece if it no
    longer hashes to ``expected_sha256``, or at once if it is missing.

    Either way the failure is recorded by ``custody.open_verified``, the one
    place that audits a custody failure: it reads the file again, finds the
    same mismatch, records ``integrity_failed`` and raises.
    """
    name, digest = field_file.name, hashlib.sha256()
    try:
        with custody.storage_call(name), field_file.storage.open(name, "rb") as stored:
            for chunk in stored_chunks(stored, name):
                digest.update(chunk)
                yield chunk
    except FileNotFoundError:
        pass
    else:
        if digest.hexdigest() == expected_sha256:
            return
    custody.open_verified(
        field_file, expected_sha256, user=reader.user, request=reader.request, case=reader.case, obj=obj
    )
    raise custody.CustodyError(f"The stored file {name} changed while it was being read; it is not exported.")


def evidence(case: Case, reader: Reader) -> tuple[list[Entry], dict[str, Any]]:
    """The case's evidence files in bundle order, and their provenance (``provenance.json``'s lists).

    Each provenance entry's ``file`` is the file's path in the bundle
    (``bundle_path`` too, as before); ``stored_as`` is its name in storage,
    which ``integrity_failed`` events name.
    """
    entries: list[Entry] = []
    provenance: dict[str, list] = {"sketches": [], "composites": [], "morphs": [], "candidate_photos": []}

    def add(path, kind, field_file, sha256, obj, record, listing):
        entries.append(
            Entry(
                path,
                kind,
                lambda: verified_chunks(field_file, sha256, reader, obj),
                compress=False,  # images: compressed already
                object={"type": obj._meta.model_name, "id": obj.pk},
            )
        )
        provenance[listing].append({**record, "file": path, "bundle_path": path, "stored_as": field_file.name})

    sketches = WitnessSketch.objects.filter(case=case).select_related("uploaded_by").order_by("pk")
    for sketch in sketches:
        path = f"sketches/sketch-{sketch.pk}-{basename(sketch.original)}"
        kind = "revision" if sketch.revises_id else "sketch"
        add(path, kind, sketch.original, sketch.sha256, sketch, sketch_provenance(sketch), "sketches")
    composites = (
        Composite.objects.filter(sketch__case=case)
        .select_related("sketch", "requested_by", "released_by")
        .order_by("pk")
    )
    for composite in composites:
        record = composite_provenance(composite)
        if composite.status == Composite.Status.DONE and composite.image:
            path = f"composites/composite-{composite.pk}-{composite.output_sha256}.png"
            add(path, "composite", composite.image, composite.output_sha256, composite, record, "composites")
        else:
            provenance["composites"].append(record)  # no image: its provenance says why
    morphs = Morph.objects.filter(case=case).select_related("requested_by").prefetch_related("sources")
    for morph in morphs.order_by("pk"):
        record = morph_provenance(morph)
        if morph.status == Morph.Status.DONE and morph.image:
            path = f"morphs/morph-{morph.pk}-{morph.output_sha256}.png"
            add(path, "morph", morph.image, morph.output_sha256, morph, record, "morphs")
        else:
            provenance["morphs"].append(record)
    photos = CandidatePhoto.objects.filter(case=case).select_related("uploaded_by").order_by("pk")
    for photo in photos:
        path = f"candidates/candidate-{photo.pk}-{basename(photo.image)}"
        add(path, "candidate_photo", photo.image, photo.sha256, photo, candidate_provenance(photo), "candidate_photos")
    return entries, {"case": case_summary(case), **provenance}


def basename(field_file: FieldFile) -> str:
    return field_file.name.rsplit("/", 1)[-1]


def case_events(case: Case, head: Head):
    return AuditEvent.objects.for_case(case).filter(sequence__lte=head.sequence).order_by("sequence")


def events_chunks(case: Case, head: Head) -> Iterator[bytes]:
    """``audit-events.jsonl``: the case's events up to ``head``, one JSON object a line, as the
    auditor's JSON Lines export writes them."""
    lines = (json.dumps(event_dict(event), ensure_ascii=False) + "\n" for event in case_events(case, head).iterator())
    return batched(lines)


def proof_chunks(case: Case, head: Head) -> Iterator[bytes]:
    """``audit-chain.json``: every position of the chain from #1 to ``head``, accounted for.

    In sequence order, each link is an event of the case (its sequence,
    ``prev_hash`` and ``hash``) or a run of other cases' events, withheld:
    its first and last sequence numbers, the hash it starts from
    (``enters``: the hash before its first event) and the hash of its last
    event (``leaves``: the next event's ``prev_hash``, or the head's hash).
    docs/EVIDENCE.md explains what this proves.
    """
    rows = case_events(case, head).values_list("sequence", "prev_hash", "hash").iterator(chunk_size=2000)

    def links() -> Iterator[dict]:
        position, running = 0, GENESIS_HASH
        for sequence, prev_hash, hash_ in rows:
            if sequence > position + 1:
                yield withheld(position + 1, sequence - 1, running, prev_hash)
            yield {"event": sequence, "prev_hash": prev_hash, "hash": hash_}
            position, running = sequence, hash_
        if position < head.sequence:
            yield withheld(position + 1, head.sequence, running, head.hash)

    def text() -> Iterator[str]:
        header = {
            "format": CHAIN_FORMAT,
            "case_id": case.pk,
            "genesis_hash": GENESIS_HASH,
            "head": {"sequence": head.sequence, "hash": head.hash},
        }
        yield json.dumps(header)[:-1] + ',\n"links": ['
        for number, link in enumerate(links()):
            yield ("\n" if number == 0 else ",\n") + json.dumps(link)
        yield "\n]}\n"

    return batched(text())


def withheld(first: int, last: int, enters: str, leaves: str) -> dict:
    return {"withheld": {"first": first, "last": last, "events": last - first + 1}, "enters": enters, "leaves": leaves}


def batched(pieces: Iterable[str]) -> Iterator[bytes]:
    """UTF-8 text in chunks of about ``CHUNK`` bytes."""
    buffer, size = [], 0
    for piece in pieces:
        data = piece.encode()
        buffer.append(data)
        size += len(data)
        if size >= CHUNK:
            yield b"".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield b"".join(buffer)


def packaged(name: str) -> bytes:
    """A file shipped with this package into every bundle (``verify_bundle.py``, ``VERIFY.md``)."""
    return (HERE / name).read_bytes()


def morph_provenance(morph: Morph) -> dict[str, Any]:
    """A morph as the bundle records it: its sources (composite and sketch hashes), method and release."""
    return {
        "id": morph.pk,
        "style": morph.style,
        "status": morph.status,
        "sha256": morph.output_sha256 or None,
        "sources": morph.provenance.get("sources") or [{"composite": c.pk} for c in morph.sources.all()],
        "method": morph.provenance.get("method"),
        "requested_by": morph.requested_by.get_username(),
        "created_at": morph.created_at.isoformat(),
        "finished_at": morph.finished_at.isoformat() if morph.finished_at else None,
        "released": morph.released,
        "release_reason": morph.release_reason,
        "error": morph.error_message,
    }
