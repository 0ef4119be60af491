"""Build a case bundle as a zip that is streamed as it is written, in constant memory.

Two passes over the same files, in the same order, give the same bytes:

1. ``measure()``, before the response starts: every stored file is re-hashed
   against the SHA-256 recorded when it was stored (a missing or altered
   file is a ``CustodyError``, audited, and nothing is sent); every file's
   size and SHA-256 go into ``manifest.json``, which is signed; the whole
   zip is written into a hash, never kept, giving its size and SHA-256.
2. ``stream()``, while the response is sent: the zip is written again and
   handed out a piece at a time, each stored file re-hashed once more as it
   goes. A file that no longer matches (changed between the passes) raises
   after its last byte has gone and before the next file: the manifest and
   the zip's central directory are written last, so the client holds a
   truncated zip without a manifest, which neither opens nor verifies. The
   final piece is held back until the whole zip is known to hash to what
   pass 1 measured, so a complete download is always byte for byte the
   bundle the ``case_exported`` event names.

Entries are written with fixed dates and attributes, images stored and text
deflated; zip64 extensions are always on, so a file's size never changes
how its header is written.
"""

import base64
import datetime
import hashlib
import json
import uuid
import zipfile
from collections.abc import Iterator
from typing import Any

from django.utils import timezone

from audit.actions import Action
from audit.models import AuditChainHead, AuditEvent
from audit.trail import GENESIS_HASH

from ..models import Case
from ..pipeline import code_version
from . import contents, keys
from .contents import EVENTS_FILE, PROOF_FILE, Entry, Head, Reader

FORMAT = "case-bundle/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
UNSIGNED_WARNING = (
    "UNSIGNED: this instance had no export key when the bundle was made (an administrator creates one with "
    "`manage.py create_export_key`). The files, the audit events and the chain proof can be checked against "
    "each other, but nothing here shows who made the bundle: ask the instance to match this manifest's "
    "SHA-256 with the case_exported event in its audit trail (`manage.py verify_bundle`)."
)


class BundleChanged(Exception):
    """What was sent differs from what was measured before sending: the stream is cut short."""


class _Pipe:
    """A write-only, unseekable file for ``zipfile``: whatever is written waits here until taken."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.size = 0

    def write(self, data) -> int:
        self.pieces.append(bytes(data))
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.pieces, self.size = b"".join(self.pieces), [], 0
        return data


class CaseBundle:
    """One export of one case: plan it, ``measure()`` it, record it, then ``stream()`` it."""

    def __init__(self, case: Case, *, user, request=None) -> None:
        self.case, self.user = case, user
        self.bundle_id = str(uuid.uuid4())
        self.exported_at = timezone.now().astimezone(datetime.UTC).replace(microsecond=0)
        row = AuditChainHead.objects.filter(pk=1).first()
        self.head = Head(row.sequence, row.hash) if row else Head(0, GENESIS_HASH)
        self.key = keys.signing_key()  # taken once: both passes sign, or neither
        self.evidence, provenance = contents.evidence(case, Reader(user, request, case))
        self.counts = {name: len(provenance[name]) for name in ("sketches", "composites", "morphs", "candidate_photos")}
        provenance |= {"bundle_id": self.bundle_id, "exported_by": user.get_username(), "exported_at": self.when}
        self.provenance = (json.dumps(provenance, indent=2, ensure_ascii=False) + "\n").encode()
        self.signed_by: keys.PublicKey | None = None
        self.manifest = b""
        self.closing: list[tuple[str, bytes]] = []
        self.measured: dict[str, tuple[str, int]] = {}
        self.sha256, self.size = "", 0

    @property
    def when(self) -> str:
        return self.exported_at.isoformat()

    def entries(self) -> list[Entry]:
        packaged = contents.packaged
        return [
            Entry("VERIFY.md", "instructions", lambda: [self.instructions()]),
            Entry("verify_bundle.py", "verifier", lambda: [packaged("verify_bundle.py")]),
            *self.evidence,
            Entry("provenance.json", "provenance", lambda: [self.provenance]),
            Entry(EVENTS_FILE, "audit_events", lambda: contents.events_chunks(self.case, self.head)),
            Entry(PROOF_FILE, "chain_proof", lambda: contents.proof_chunks(self.case, self.head)),
        ]

    def instructions(self) -> bytes:
        text = contents.packaged("VERIFY.md")
        if self.key is None:
            return f"> **{UNSIGNED_WARNING}**\n\n".encode() + text
        return text

    # The two passes

    def measure(self) -> None:
        """Pass 1: re-hash every file, write and sign the manifest, and hash the whole zip."""
        digest, size = hashlib.sha256(), 0
        for piece in self._zip(first=True):
            digest.update(piece)
            size += len(piece)
        self.sha256, self.size = digest.hexdigest(), size

    def stream(self) -> Iterator[bytes]:
        """Pass 2: the zip, a piece at a time; its last piece only if it is exactly what pass 1 measured."""
        if not self.sha256:
            raise RuntimeError("measure() the bundle before streaming it")
        digest, held = hashlib.sha256(), b""
        for piece in self._zip(first=False):
            if held:
                yield held
            digest.update(piece)
            held = piece
        if digest.hexdigest() != self.sha256:
            raise BundleChanged(f"the bundle of case {self.case.pk} came out different from what was measured")
        yield held

    def _zip(self, *, first: bool) -> Iterator[bytes]:
        pipe = _Pipe()
        with zipfile.ZipFile(pipe, "w") as archive:
            for entry in self.entries():
                digest, size = hashlib.sha256(), 0
                with archive.open(self._info(entry.path, entry.compress), "w", force_zip64=True) as member:
                    for chunk in entry.chunks():
                        member.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
                        if pipe.size >= contents.CHUNK:
                            yield pipe.take()
                measured = (digest.hexdigest(), size)
                if first:
                    self.measured[entry.path] = measured
                elif self.measured[entry.path] != measured:
                    raise BundleChanged(f"{entry.path} changed between measuring the bundle and sending it")
                yield pipe.take()
            if first:
                self._seal()
            for path, data in self.closing:
                archive.writestr(self._info(path, compress=True), data)
                yield pipe.take()
        yield pipe.take()

    def _info(self, path: str, compress: bool) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(path, date_time=self.exported_at.timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        info.create_system = 3  # Unix, wherever it is made
        return info

    # The manifest

    def _seal(self) -> None:
        """Write the manifest from what pass 1 measured, and sign it with the export key if there is one."""
        key = self.key
        manifest = self.manifest_content(key[1] if key else None)
        self.manifest = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
        self.closing = [(MANIFEST, self.manifest)]
        if key is not None:
            private, self.signed_by = key
            signature = {
                "algorithm": keys.ALGORITHM,
                "fingerprint": self.signed_by.fingerprint,
                "signature": base64.b64encode(private.sign(self.manifest)).decode(),
            }
            self.closing.append((SIGNATURE, (json.dumps(signature, indent=2) + "\n").encode()))

    def manifest_content(self, key: keys.PublicKey | None) -> dict[str, Any]:
        files = []
        for entry in self.entries():
            sha256, size = self.measured[entry.path]
            listed = {"path": entry.path, "kind": entry.kind, "size": size, "sha256": sha256}
            files.append(listed | ({"object": entry.object} if entry.object else {}))
        manifest = {
            "format": FORMAT,
            "bundle_id": self.bundle_id,
            "case": {
                "id": self.case.pk,
                "reference": self.case.reference,
                "title": self.case.title,
                "status": self.case.status,
            },
            "exported_by": self.user.get_username(),
            "exported_at": self.when,
            "code_version": code_version(),
            "audit_chain": {
                "genesis_hash": GENESIS_HASH,
                "head": {"sequence": self.head.sequence, "hash": self.head.hash},
                "case_events": contents.case_events(self.case, self.head).count(),
                "event_hash": "audit-event/1: SHA-256 of the canonical JSON in VERIFY.md and docs/EVIDENCE.md",
                "events_file": EVENTS_FILE,
                "proof_file": PROOF_FILE,
                "last_verified": self.last_verified(),
            },
            "signature": None,
            "files": files,
        }
        if key is None:
            manifest["warning"] = UNSIGNED_WARNING
        else:
            manifest["signature"] = {
                "algorithm": keys.ALGORITHM,
                "public_key": key.public_key,
                "fingerprint": key.fingerprint,
                "file": SIGNATURE,
            }
        return manifest

    def last_verified(self) -> dict | None:
        """The instance's last full check of the chain (``verify_audit``) before the export, if any."""
        event = (
            AuditEvent.objects.filter(action=Action.AUDIT_VERIFIED, sequence__lte=self.head.sequence)
            .order_by("-sequence")
            .first()
        )
        if event is None:
            return None
        return {
            "sequence": event.sequence,
            "at": event.timestamp.isoformat(),
            "intact": bool(event.details.get("intact")),
            "head": event.details.get("head"),
        }

    @property
    def manifest_sha256(self) -> str:
        return hashlib.sha256(self.manifest).hexdigest()

    def export_details(self) -> dict[str, Any]:
        """What the ``case_exported`` event records: enough to recognise this bundle later."""
        return {
            "bundle_id": self.bundle_id,
            "manifest_sha256": self.manifest_sha256,
            "sha256": self.sha256,
            "size": self.size,
            "signed_by": self.signed_by.fingerprint if self.signed_by else None,
            "head": {"sequence": self.head.sequence, "hash": self.head.hash},
            "files": len(self.measured),
            **self.counts,
        }
