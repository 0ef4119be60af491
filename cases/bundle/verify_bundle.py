#!/usr/bin/env python3
"""Verify a case bundle exported by the sketch-inversion case system, offline.

    python3 verify_bundle.py BUNDLE.zip [--fingerprint HEX | --public-key FILE] [--trail TRAIL.jsonl] [--verbose]

BUNDLE may be the zip or the folder it was unpacked into. Needs Python 3.9
or later and the ``cryptography`` package (``pip install cryptography``);
nothing of the system that made the bundle. VERIFY.md, next to this file in
every bundle, explains what is checked and what a pass means.

Checks, each reported as PASS or FAIL naming the file or event:

1. the signature: manifest.json is signed (manifest.sig) by the Ed25519 key
   the manifest names; with ``--fingerprint`` or ``--public-key``, by the key
   you obtained from the instance yourself;
2. the files: every file the manifest lists is present with its size and
   SHA-256, and nothing else is in the bundle;
3. the audit events: each event of audit-events.jsonl hashes to its
   recorded hash (the canonical form is ``canonical_event`` below);
4. the chain proof: audit-chain.json accounts for every position of the
   audit trail from the first event to the head at export, each either an
   event of this case (given in full) or a run of other events (withheld,
   given by the hashes where it starts and ends), and every link matches;
5. with ``--trail``, a full export of the audit trail (the auditor's JSON
   Lines export): every withheld event re-hashed and linked, and none of them
   an event of this case.

Exit status: 0 verified; 1 a check failed; 2 consistent but not signed.
"""

from __future__ import annotations  # runs on Python 3.9, which an examiner may have

import argparse
import base64
import datetime
import hashlib
import json
import sys
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

FORMAT = "case-bundle/1"
CHAIN_FORMAT = "case-bundle-chain/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
GENESIS_HASH = "0" * 64
# The fields an event's hash covers, named as in audit-events.jsonl.
HASHED_FIELDS = (
    "sequence",
    "timestamp",
    "user_id",
    "username",
    "role",
    "action",
    "object_type",
    "object_id",
    "case_id",
    "outcome",
    "ip",
    "user_agent",
    "request_id",
    "details",
    "prev_hash",
)
CHUNK = 1 << 20


def canonical_event(event: dict) -> bytes:
    """The exact bytes an audit event's hash is the SHA-256 of.

    The fields of ``HASHED_FIELDS`` (the event's ``hash`` excluded) as JSON:
    keys sorted, no spaces (separators "," and ":"), non-ASCII characters as
    themselves in UTF-8, the timestamp in UTC with microseconds
    (``2026-03-01T09:15:02.000000+00:00``).
    """
    content = {name: event[name] for name in HASHED_FIELDS}
    when = datetime.datetime.fromisoformat(event["timestamp"])
    if when.tzinfo is None:
        raise ValueError(f"timestamp {event['timestamp']!r} has no time zone")
    utc = datetime.timezone.utc  # noqa: UP017 (datetime.UTC is Python 3.11+)
    content["timestamp"] = when.astimezone(utc).isoformat(timespec="microseconds")
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(event: dict) -> str:
    return hashlib.sha256(canonical_event(event)).hexdigest()


class Bundle:
    """The bundle's files, from a zip or from the folder it was unpacked into."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if path.is_dir():
            self.zip = None
            self.names = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
        else:
            self.zip = zipfile.ZipFile(path)
            self.names = [info.filename for info in self.zip.infolist() if not info.is_dir()]

    def open(self, name: str):
        return self.zip.open(name) if self.zip else (self.path / name).open("rb")

    def read(self, name: str) -> bytes:
        with self.open(name) as file:
            return file.read()

    def measure(self, name: str) -> tuple[int, str]:
        """The file's size and SHA-256, read a piece at a time (a file may be gigabytes)."""
        digest, size = hashlib.sha256(), 0
        with self.open(name) as file:
            while chunk := file.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        return size, digest.hexdigest()


class Report:
    """What was checked, printed as it goes: PASS, FAIL (naming the file or event) and NOTE lines."""

    def __init__(self, out, verbose: bool = False) -> None:
        self.out, self.verbose = out, verbose
        self.failures: list[str] = []
        self.signed_by: str | None = None
        self.manifest: dict | None = None
        self.manifest_sha256: str | None = None
        self.events: dict[int, dict] = {}  # the bundle's events by sequence number
        self.links: list | None = None  # the chain proof's links, when it could be read

    def line(self, text: str) -> None:
        self.out.write(text + "\n")

    def section(self, title: str) -> None:
        self.line(f"\n{title}")

    def passed(self, message: str, *, detail: bool = False) -> None:
        if self.verbose or not detail:
            self.line(f"  PASS  {message}")

    def failed(self, message: str) -> None:
        self.failures.append(message)
        self.line(f"  FAIL  {message}")

    def note(self, message: str) -> None:
        self.line(f"  NOTE  {message}")

    @property
    def exit_code(self) -> int:
        if self.failures:
            return 1
        return 0 if self.signed_by else 2

    def conclude(self) -> int:
        if self.failures:
            self.line(f"\nRESULT: FAILED, {len(self.failures)} problem(s), each marked FAIL above.")
        elif self.signed_by:
            self.line(f"\nRESULT: VERIFIED. Every check passed; signed by the Ed25519 key {self.signed_by}.")
        else:
            self.line(
                "\nRESULT: NOT SIGNED. The files, events and chain proof agree with each other, "
                "but nothing shows who made this bundle (see VERIFY.md)."
            )
        return self.exit_code


def verify(path, *, fingerprint=None, public_key=None, trail=None, verbose=False, out=None) -> Report:
    """Run every check on the bundle at ``path``; the report says what passed and what failed."""
    report = Report(out or sys.stdout, verbose)
    try:
        bundle = Bundle(Path(path))
    except (OSError, zipfile.BadZipFile) as error:
        report.failed(f"{path} cannot be opened as a zip or a folder: {error}")
        return report
    report.line(f"Case bundle {path}")
    if MANIFEST not in bundle.names:
        report.failed(f"{MANIFEST} is missing: nothing can be checked")
        return report
    data = bundle.read(MANIFEST)
    report.manifest_sha256 = hashlib.sha256(data).hexdigest()
    try:
        manifest = json.loads(data)
        case = manifest["case"]
        report.line(f"  case          {case['reference']} (id {case['id']}): {case.get('title', '')}")
        report.line(f"  exported      {manifest['exported_at']} by {manifest['exported_by']}")
        report.line(f"  code version  {manifest.get('code_version', '-')}")
        report.line(f"  manifest      SHA-256 {report.manifest_sha256}")
        if manifest.get("format") != FORMAT:
            report.failed(f"{MANIFEST}: format {manifest.get('format')!r}, this verifier reads {FORMAT!r}")
            return report
    except (ValueError, KeyError, TypeError) as error:
        report.failed(f"{MANIFEST} is not a readable manifest: {error!r}")
        return report
    report.manifest = manifest
    check_signature(report, bundle, data, manifest, fingerprint, public_key)
    try:
        check_files(report, bundle, manifest)
        events = check_events(report, bundle, manifest)
        if events is not None:
            report.events = events
            report.links = check_chain_proof(report, bundle, manifest, events)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        report.failed(f"{MANIFEST} or a file it names is malformed: {error!r}")
        return report
    if trail is not None and report.links is not None:
        check_full_trail(report, read_trail(Path(trail)), str(trail))
    return report


def check_signature(report: Report, bundle: Bundle, data: bytes, manifest: dict, fingerprint, public_key) -> None:
    report.section("Signature")
    signing = manifest.get("signature")
    if not signing:
        if fingerprint or public_key:
            report.failed(f"{MANIFEST} is not signed, but you expected a signature by a key of your own")
        else:
            report.note(f"{MANIFEST} is not signed: {manifest.get('warning', 'the instance had no export key')}")
        if SIGNATURE in bundle.names:
            report.failed(f"{SIGNATURE} is present but the manifest says the bundle is not signed")
        return
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        report.failed("the `cryptography` package is not installed (pip install cryptography): signature unchecked")
        return
    try:
        raw = base64.b64decode(signing["public_key"], validate=True)
        named = hashlib.sha256(raw).hexdigest()
        if signing.get("algorithm") != "Ed25519" or named != signing.get("fingerprint"):
            report.failed(f"{MANIFEST}: the signing key's fingerprint is not the SHA-256 of its public key")
            return
        if public_key is not None or fingerprint is not None:
            theirs = (
                hashlib.sha256(_read_public_key(Path(public_key), serialization, Ed25519PublicKey)).hexdigest()
                if public_key is not None
                else _plain_hex(fingerprint)
            )
            if theirs != named:
                report.failed(f"{MANIFEST} is signed by the key {named}, not by the key you gave ({theirs})")
                return
        if SIGNATURE not in bundle.names:
            report.failed(f"{SIGNATURE} is missing: the manifest says it is signed by {named}")
            return
        sealed = json.loads(bundle.read(SIGNATURE))
        if sealed.get("fingerprint") != named:
            report.failed(f"{SIGNATURE} is by the key {sealed.get('fingerprint')}, not by {named} as the manifest says")
            return
        Ed25519PublicKey.from_public_bytes(raw).verify(base64.b64decode(sealed["signature"], validate=True), data)
    except InvalidSignature:
        report.failed(f"{SIGNATURE} does not verify: {MANIFEST} was changed, or signed by another key than {named}")
        return
    except (ValueError, KeyError, TypeError, OSError) as error:
        report.failed(f"{SIGNATURE} cannot be checked: {error!r}")
        return
    report.signed_by = named
    report.passed(f"{MANIFEST} is signed by the Ed25519 key {named}")
    if not (fingerprint or public_key):
        report.note(
            "Compare this fingerprint with the one the instance publishes (its auditor's integrity page and "
            "/healthz), or run again with --fingerprint: a forger can sign with a key of their own."
        )


def _plain_hex(value: str) -> str:
    return "".join(c for c in value.lower() if c in "0123456789abcdef")


def _read_public_key(path: Path, serialization, key_class) -> bytes:
    """A public key file: PEM, or the 32 raw bytes in base64 (as /healthz shows them)."""
    text = path.read_bytes()
    if b"BEGIN PUBLIC KEY" in text:
        key = serialization.load_pem_public_key(text)
        if not isinstance(key, key_class):
            raise ValueError(f"{path} is not an Ed25519 public key")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64decode(text.strip(), validate=True)


def check_files(report: Report, bundle: Bundle, manifest: dict) -> None:
    listed = {entry["path"]: entry for entry in manifest["files"]}
    report.section(f"Files ({len(listed)} listed in the manifest)")
    seen = set()
    for name in bundle.names:
        if name in seen:
            report.failed(f"file {name} appears more than once in the bundle")
        seen.add(name)
    for path, entry in listed.items():
        if path.startswith("/") or ".." in path.split("/"):
            report.failed(f"file {path}: the manifest names a path outside the bundle")
            continue
        if path not in seen:
            report.failed(f"file {path} ({entry['kind']}) is listed in the manifest but missing from the bundle")
            continue
        size, sha256 = bundle.measure(path)
        if sha256 != entry["sha256"] or size != entry["size"]:
            report.failed(
                f"file {path} ({entry['kind']}) was changed: SHA-256 {sha256} ({size} bytes), "
                f"the manifest says {entry['sha256']} ({entry['size']} bytes)"
            )
        else:
            report.passed(f"{path}  {entry['kind']}, {size} bytes, SHA-256 {sha256}")
    allowed = {MANIFEST, SIGNATURE} if manifest.get("signature") else {MANIFEST}
    for name in sorted(seen - set(listed) - allowed):
        report.failed(f"file {name} is in the bundle but not in the manifest")


def check_events(report: Report, bundle: Bundle, manifest: dict) -> dict[int, dict] | None:
    chain = manifest["audit_chain"]
    name = chain["events_file"]
    report.section(f"Audit events ({name})")
    if name not in bundle.names:
        report.failed(f"file {name} is missing: the events cannot be checked")
        return None
    events: dict[int, dict] = {}
    case_id, failures = manifest["case"]["id"], len(report.failures)
    for number, line in enumerate(bundle.read(name).decode("utf-8").splitlines(), start=1):
        try:
            event = json.loads(line)
            sequence = event["sequence"]
            computed = event_hash(event)
        except (ValueError, KeyError, TypeError) as error:
            report.failed(f"{name} line {number} is not a complete event: {error!r}")
            continue
        if sequence in events:
            report.failed(f"event #{sequence} appears twice in {name}")
        elif events and sequence < max(events):
            report.failed(f"event #{sequence} is out of order in {name}")
        events[sequence] = event
        if computed != event.get("hash"):
            report.failed(f"event #{sequence} ({event['action']}) was altered: its content hashes to {computed}")
        elif event["case_id"] != case_id:
            report.failed(f"event #{sequence} belongs to case {event['case_id']}, not to this case ({case_id})")
        else:
            report.passed(f"event #{sequence} {event['action']} hashes to {computed}", detail=True)
    if events and len(report.failures) == failures:
        report.passed(f"{len(events)} events re-hashed, each to its recorded hash")
    return events


def check_chain_proof(report: Report, bundle: Bundle, manifest: dict, events: dict[int, dict]) -> list | None:
    chain = manifest["audit_chain"]
    name, head = chain["proof_file"], chain["head"]
    report.section(f"Chain proof ({name}, up to the head #{head['sequence']} at export)")
    try:
        proof = json.loads(bundle.read(name))
        links = proof["links"]
        if proof.get("format") != CHAIN_FORMAT or proof["head"] != head or proof["case_id"] != manifest["case"]["id"]:
            report.failed(f"{name} is not the chain proof of this manifest (format, head or case differ)")
            return None
    except (KeyError, ValueError, TypeError) as error:
        report.failed(f"{name} is missing or unreadable: {error!r}")
        return None
    failures = len(report.failures)
    position, running, listed, withheld = 0, chain.get("genesis_hash", GENESIS_HASH), set(), 0
    for link in links:
        if "event" in link:
            sequence = link["event"]
            if sequence != position + 1:
                report.failed(f"event #{sequence}: positions #{position + 1} to #{sequence - 1} are not accounted for")
            if link["prev_hash"] != running:
                report.failed(f"event #{sequence} does not link to the hash before it ({running})")
            event = events.get(sequence)
            if event is None:
                report.failed(f"event #{sequence} is missing from {chain['events_file']} (the chain proof lists it)")
            elif (event.get("prev_hash"), event.get("hash")) != (link["prev_hash"], link["hash"]):
                report.failed(f"event #{sequence} in {chain['events_file']} is not the event the chain proof links")
            listed.add(sequence)
            position, running = sequence, link["hash"]
        else:
            first, last = link["withheld"]["first"], link["withheld"]["last"]
            if first != position + 1 or last < first:
                report.failed(f"withheld run #{first} to #{last} does not start right after #{position}")
            if link["enters"] != running:
                report.failed(f"withheld run #{first} to #{last} does not start from the hash before it ({running})")
            for sequence in sorted(s for s in events if first <= s <= last):
                report.failed(f"event #{sequence} is in {chain['events_file']}, but the chain proof marks it withheld")
            withheld += last - first + 1
            position, running = last, link["leaves"]
    for sequence in sorted(set(events) - listed):
        report.failed(f"event #{sequence} is in {chain['events_file']} but not in the chain proof")
    if position != head["sequence"] or running != head["hash"]:
        report.failed(f"the chain proof ends at #{position} ({running}), not at the head #{head['sequence']}")
    if len(report.failures) == failures:
        report.passed(
            f"positions #1 to #{head['sequence']} accounted for: {len(listed)} events of this case, "
            f"{withheld} event(s) of other cases withheld; the links reach the head hash {head['hash']}"
        )
    return links


def read_trail(path: Path) -> Iterator[dict]:
    """The events of a JSON Lines export of the audit trail, one at a time."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                yield json.loads(line)
            except ValueError as error:
                raise ValueError(f"line {number} is not JSON: {error}") from None


def check_full_trail(report: Report, trail: Iterable[dict], source: str) -> None:
    """Re-link the withheld runs against the whole trail (event dicts in sequence order), one event at a time."""
    manifest, events, links = report.manifest, report.events, report.links
    head, case_id = manifest["audit_chain"]["head"], manifest["case"]["id"]
    report.section(f"Full audit trail ({source})")
    failures = len(report.failures)
    withheld = [(link["withheld"]["first"], link["withheld"]["last"]) for link in links if "withheld" in link]
    expected, running = 1, manifest["audit_chain"].get("genesis_hash", GENESIS_HASH)
    try:
        for event in trail:
            sequence, recomputed = event["sequence"], event_hash(event)
            if sequence > head["sequence"]:
                break
            if sequence != expected:
                report.failed(f"trail: event #{expected} is missing (the trail must be whole, unfiltered)")
                return
            if recomputed != event["hash"]:
                report.failed(f"trail: event #{sequence} was altered: its content hashes to {recomputed}")
            if event["prev_hash"] != running:
                report.failed(f"trail: event #{sequence} does not link to the event before it")
            if sequence in events and events[sequence]["hash"] != event["hash"]:
                report.failed(f"trail: event #{sequence} differs from the bundle's")
            elif sequence not in events and event["case_id"] == case_id:
                inside = any(first <= sequence <= last for first, last in withheld)
                report.failed(f"event #{sequence} belongs to this case but was {'withheld' if inside else 'left out'}")
            running, expected = event["hash"], expected + 1
    except (ValueError, KeyError, TypeError) as error:
        report.failed(f"trail: not a complete event after #{expected - 1}: {error!r}")
        return
    if expected - 1 != head["sequence"] or running != head["hash"]:
        report.failed(f"trail: it ends at #{expected - 1}, not at the bundle's head #{head['sequence']}")
    elif len(report.failures) == failures:
        report.passed(f"every event #1 to #{head['sequence']} re-hashed and linked; none withheld belongs to this case")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Verify a case bundle offline.")
    parser.add_argument("bundle", help="the bundle: the zip, or the folder it was unpacked into")
    key = parser.add_mutually_exclusive_group()
    key.add_argument("--fingerprint", help="the export key's fingerprint as the instance publishes it")
    key.add_argument("--public-key", metavar="FILE", help="the export key: PEM, or its 32 bytes in base64")
    parser.add_argument("--trail", metavar="FILE", help="a full export of the audit trail (JSON Lines)")
    parser.add_argument("--verbose", action="store_true", help="list every event checked, not only failures")
    args = parser.parse_args(argv)
    report = verify(
        args.bundle, fingerprint=args.fingerprint, public_key=args.public_key, trail=args.trail, verbose=args.verbose
    )
    return report.conclude()


if __name__ == "__main__":
    sys.exit(main())
