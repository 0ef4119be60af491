"""A bundle checked against the live system (``manage.py verify_bundle``): which export it was,
whether it is still that export, and what changed since.

The offline checks run first (the repository's own ``verify_bundle``, not the
copy in the bundle). Then, against this system:

- the export: the ``case_exported`` event that recorded this manifest's
  SHA-256 (else the one with its bundle id, which means the manifest was
  edited), and whether the zip is byte for byte the one sent;
- the signing key: one this system made (``create_export_key``), current or retired;
- the chain up to the bundle's head, re-hashed from the database event by
  event: the case's events are the bundle's, and no withheld event belongs
  to the case (what the examiner cannot check offline);
- since the export: the case's stored files re-hashed, files added, the
  case's new events, and the whole chain verified to today's head.
"""

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from django.db.models import Model

from audit import integrity
from audit.actions import Action
from audit.models import AuditEvent
from audit.trail import event_dict

from .. import custody
from ..models import CandidatePhoto, Case, Composite, WitnessSketch
from . import verify_bundle
from .contents import Head, Reader, verified_chunks

EVIDENCE_MODELS: dict[str, type[Model]] = {
    "witnesssketch": WitnessSketch,
    "composite": Composite,
    "candidatephoto": CandidatePhoto,
}
SINCE_SHOWN = 10


@dataclass
class LiveReport:
    offline: verify_bundle.Report
    export: AuditEvent | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.offline.failures and not self.problems


def check(path: Path, out: TextIO) -> LiveReport:
    report = LiveReport(verify_bundle.verify(path, out=out))
    manifest = report.offline.manifest
    if manifest is None:
        return report
    live = _Writer(report, out)
    live.section("Against this system")
    export = find_export(report.offline.manifest_sha256, manifest.get("bundle_id"))
    report.export = export
    if export is None:
        live.failed("no export on this system recorded this manifest or its bundle id")
        return report
    case = Case.objects.filter(pk=export.case_id).first()
    said = f"export #{export.sequence}: case {case.reference if case else export.case_id}, by {export.username}"
    if export.details.get("manifest_sha256") == report.offline.manifest_sha256:
        live.passed(f"this is {said} at {export.timestamp:%Y-%m-%d %H:%M:%S} UTC; manifest.json is the one recorded")
    else:
        live.failed(f"manifest.json was edited: {said} recorded the manifest {export.details.get('manifest_sha256')}")
    if path.is_file():
        sent = export.details.get("sha256")
        if _sha256_of(path) == sent:
            live.passed("the zip is byte for byte the one sent")
        else:
            live.note(f"the zip is not byte for byte the one sent ({sent}): repacked, or changed (see above)")
    check_signer(live, manifest)
    if case is None or report.offline.links is None:
        return report
    head = manifest["audit_chain"]["head"]
    trail = AuditEvent.objects.filter(sequence__lte=head["sequence"]).order_by("sequence").iterator(chunk_size=2000)
    verify_bundle.check_full_trail(report.offline, (event_dict(e) for e in trail), "this system's database")
    check_since(live, manifest, case, Head(head["sequence"], head["hash"]))
    return report


def find_export(manifest_sha256: str | None, bundle_id: str | None) -> AuditEvent | None:
    exports = AuditEvent.objects.filter(action=Action.CASE_EXPORTED).order_by("-sequence")
    return exports.filter(details__manifest_sha256=manifest_sha256).first() or (
        exports.filter(details__bundle_id=bundle_id).first() if bundle_id else None
    )


def check_signer(live: "_Writer", manifest: dict) -> None:
    signature = manifest.get("signature")
    if not signature:
        live.note("the bundle is not signed: its manifest's SHA-256 in the trail is what identifies it")
        return
    made = AuditEvent.objects.filter(
        action=Action.ADMIN_ACTION, object_type="exportkey", object_id=signature["fingerprint"]
    )
    operations = {event.details.get("operation"): event for event in made}
    created = operations.get("export_key_created")
    if created is None:
        live.failed(f"the signing key {signature['fingerprint']} was never made on this system")
    else:
        retired = operations.get("export_key_retired")
        state = f", retired at #{retired.sequence}" if retired else ", current"
        live.passed(f"signed by this system's export key, made at #{created.sequence}{state}")


def check_since(live: "_Writer", manifest: dict, case: Case, head: Head) -> None:
    """What changed since the export: the stored files, files added, the case's events, the chain."""
    listed = {}
    for entry in manifest["files"]:
        if entry.get("object"):
            listed[(entry["object"]["type"], entry["object"]["id"])] = entry
    reader, before = Reader(None, None, case), len(live.report.problems)
    for (kind, pk), entry in listed.items():
        obj = EVIDENCE_MODELS[kind].objects.filter(pk=pk).first()
        if obj is None:
            live.failed(f"{entry['path']}: its record ({kind} {pk}) is gone from this system")
            continue
        field_file = obj.image if kind != "witnesssketch" else obj.original
        recorded = obj.output_sha256 if kind == "composite" else obj.sha256
        if recorded != entry["sha256"]:
            live.failed(f"{entry['path']}: this system now records the SHA-256 {recorded}")
            continue
        try:
            for _ in verified_chunks(field_file, recorded, reader, obj):
                pass
        except custody.CustodyError as error:
            live.failed(f"{entry['path']}: {error}")
    if len(live.report.problems) == before:
        live.passed(f"the {len(listed)} evidence file(s) of the bundle re-hashed in storage: unchanged")
    added = [
        *(("witnesssketch", pk) for pk in WitnessSketch.objects.filter(case=case).values_list("pk", flat=True)),
        *(
            ("composite", pk)
            for pk in Composite.objects.filter(sketch__case=case, status=Composite.Status.DONE)
            .exclude(image="")
            .values_list("pk", flat=True)
        ),
        *(("candidatephoto", pk) for pk in CandidatePhoto.objects.filter(case=case).values_list("pk", flat=True)),
    ]
    added = [item for item in added if item not in listed]
    if added:
        live.note(f"since the export, {len(added)} file(s) were added: {', '.join(f'{t} {pk}' for t, pk in added)}")
    newer = AuditEvent.objects.for_case(case).filter(sequence__gt=head.sequence).order_by("sequence")
    count = newer.count()
    if count:
        shown = "; ".join(f"#{e.sequence} {e.action} by {e.username or '-'}" for e in newer[:SINCE_SHOWN])
        more = f" and {count - SINCE_SHOWN} more" if count > SINCE_SHOWN else ""
        live.note(f"since the export, {count} event(s) of the case: {shown}{more}")
    chain = integrity.verify_chain()
    if chain.intact:
        live.passed(f"the whole chain verifies today: {chain.summary()}")
    else:
        live.failed(chain.summary())


class _Writer:
    """The live checks' lines, in the offline report's style."""

    def __init__(self, report: LiveReport, out: TextIO) -> None:
        self.report, self.out = report, out

    def line(self, text: str) -> None:
        self.out.write(text + "\n")

    def section(self, title: str) -> None:
        self.line(f"\n{title}")

    def passed(self, message: str) -> None:
        self.line(f"  PASS  {message}")

    def failed(self, message: str) -> None:
        self.report.problems.append(message)
        self.line(f"  FAIL  {message}")

    def note(self, message: str) -> None:
        self.line(f"  NOTE  {message}")


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
