"""The case bundle a court's examiner verifies offline (issue 18): manifest, signature, chain
proof and the stand-alone verifier, run in a clean Python with only ``cryptography``."""

import base64
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

import audit
from audit.models import AuditEvent
from audit.trail import canonical_content, event_dict
from cases import custody, services, tasks
from cases.bundle import CaseBundle, keys
from cases.bundle import verify_bundle as verifier
from cases.models import WitnessSketch

from .factories import CaseFactory, api_token
from .web import add_sketch, done_composite, face_png

Action = AuditEvent.Action
REPO = Path(__file__).resolve().parent.parent
CRYPTOGRAPHY = next(  # the pinned requirement, without its comment
    line.split("#")[0].strip()
    for line in (REPO / "requirements.txt").read_text().splitlines()
    if line.startswith("cryptography==")
)


@pytest.fixture(scope="session")
def clean_python(tmp_path_factory) -> Path:
    """A virtual environment with nothing but ``cryptography``: what an examiner installs."""
    folder = tmp_path_factory.mktemp("examiner") / "venv"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, capture_output=True, timeout=120)
        python = folder / "bin" / "python"
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", CRYPTOGRAPHY], check=True, capture_output=True, timeout=600
        )
    except (OSError, subprocess.SubprocessError) as error:
        said = getattr(error, "stderr", b"") or b""
        pytest.skip(f"cannot make a clean virtualenv with {CRYPTOGRAPHY} (no package index?): {error} {said[-300:]!r}")
    return python


@pytest.fixture(autouse=True)
def no_derive_jobs(monkeypatch):
    """Face boxes and thumbnails are not what a bundle is about; their jobs would only slow these tests."""
    monkeypatch.setattr(tasks, "enqueue_derive", lambda *args, **kwargs: None, raising=False)


@pytest.fixture
def key_dir(settings, tmp_path) -> Path:
    settings.EXPORT_KEY_DIR = tmp_path / "export-keys"
    return settings.EXPORT_KEY_DIR


@pytest.fixture
def export_key(key_dir, db) -> str:
    """The instance's export key, made as an administrator would; its fingerprint."""
    call_command("create_export_key", stdout=io.StringIO())
    (key,) = keys.public_keys()
    return key.fingerprint


@pytest.fixture
def evidence(case, artist, investigator):
    """A case with a sketch, its revision, a composite and a candidate photo, and another
    case's events between its own, so the chain proof has runs to withhold."""
    other = CaseFactory(reference="2026-CID-0999", title="Unrelated burglary")
    sketch = add_sketch(case, artist, seed=1, witness_reference="W-1", interview_notes="Tall, scar on the chin")
    audit.record(Action.CASE_UPDATED, user=artist, obj=other, details={"title": "Unrelated burglary"})
    revision = add_sketch(case, artist, seed=2, revises=sketch)
    composite = done_composite(sketch, artist)
    audit.record(Action.CASE_UPDATED, user=artist, obj=other, details={"note": "another case's secret"})
    photo = services.add_candidate_photo(
        case, io.BytesIO(face_png(3, 160)), user=investigator, label="Custody 12", filename="suspect.png"
    )
    return {"sketch": sketch, "revision": revision, "composite": composite, "photo": photo}


def export(client, user, case) -> bytes:
    client.force_login(user)
    response = client.get(reverse("case_export", args=[case.pk]))
    assert response.status_code == 200, response
    return b"".join(response.streaming_content)


def run_verifier(python: Path, bundle: bytes, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Take ``verify_bundle.py`` out of the bundle, as an examiner would, and run it on a copy of
    the bundle in a folder of its own, in the clean Python (isolated: no project on its path)."""
    folder = tmp_path / f"examiner-{time.monotonic_ns()}"
    folder.mkdir()
    (folder / "bundle.zip").write_bytes(bundle)
    (folder / "verify_bundle.py").write_bytes(zipfile.ZipFile(io.BytesIO(bundle)).read("verify_bundle.py"))
    env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"}
    return subprocess.run(
        [str(python), "-I", "verify_bundle.py", "bundle.zip", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def rezip(bundle: bytes, *, drop=(), replace=None, add=None) -> bytes:
    """The bundle written again with files dropped, replaced or added."""
    replace, add = replace or {}, add or {}
    original = zipfile.ZipFile(io.BytesIO(bundle))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as changed:
        for info in original.infolist():
            if info.filename not in drop:
                changed.writestr(info.filename, replace.get(info.filename, original.read(info.filename)))
        for name, data in add.items():
            changed.writestr(name, data)
    return buffer.getvalue()


def failures(result: subprocess.CompletedProcess) -> list[str]:
    return [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("FAIL")]


def members(bundle: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(bundle))


# A fresh export verifies, offline, in a clean Python


def test_a_fresh_export_verifies_in_a_python_with_only_cryptography(
    client, case, evidence, investigator, export_key, clean_python, tmp_path
):
    bundle = export(client, investigator, case)

    result = run_verifier(clean_python, bundle, tmp_path, "--fingerprint", export_key)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"RESULT: VERIFIED. Every check passed; signed by the Ed25519 key {export_key}" in result.stdout
    assert failures(result) == []
    project = subprocess.run([str(clean_python), "-I", "-c", "import django"], capture_output=True, cwd=tmp_path)
    assert project.returncode != 0  # the examiner's Python has nothing of this project


def test_an_unpacked_bundle_verifies_against_the_public_key_from_healthz(
    client, case, evidence, investigator, export_key, clean_python, tmp_path
):
    bundle = export(client, investigator, case)
    (published,) = client.get("/healthz").json()["export_keys"]
    folder = tmp_path / "unpacked"
    members(bundle).extractall(folder)
    (tmp_path / "instance.pub").write_text(published["public_key"])

    result = subprocess.run(
        [str(clean_python), "-I", str(folder / "verify_bundle.py"), str(folder), "--public-key", "instance.pub"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert published["fingerprint"] == export_key
    assert result.returncode == 0, result.stdout + result.stderr
    (folder / "extra.txt").write_text("added after unpacking")
    again = subprocess.run(
        [str(clean_python), "-I", str(folder / "verify_bundle.py"), str(folder)], capture_output=True, text=True
    )
    assert again.returncode == 1 and "FAIL  file extra.txt is in the bundle but not in the manifest" in again.stdout


def test_a_case_with_no_evidence_and_no_events_yet_exports_a_bundle_that_verifies(
    client, case, investigator, export_key, tmp_path
):
    path = tmp_path / "empty.zip"
    path.write_bytes(export(client, investigator, case))

    report = verifier.verify(path, fingerprint=export_key, out=io.StringIO())

    assert report.failures == [] and report.exit_code == 0
    assert report.events == {} and [link["withheld"]["first"] for link in report.links] == [1]


def test_the_manifest_lists_every_file_with_its_kind_size_and_sha256(client, case, evidence, investigator, export_key):
    bundle = members(export(client, investigator, case))
    manifest = json.loads(bundle.read("manifest.json"))

    listed = {entry["path"]: entry for entry in manifest["files"]}
    assert set(bundle.namelist()) == {*listed, "manifest.json", "manifest.sig"}
    for path, entry in listed.items():
        data = bundle.read(path)
        assert (entry["size"], entry["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    evidence_kinds = ["sketch", "revision", "composite", "candidate_photo"]
    bundle_kinds = ["instructions", "verifier", "provenance", "audit_events", "chain_proof"]
    assert sorted(entry["kind"] for entry in listed.values()) == sorted(evidence_kinds + bundle_kinds)
    assert manifest["case"]["reference"] == case.reference and manifest["exported_by"] == "investigator"
    head = AuditEvent.objects.filter(action=Action.CASE_EXPORTED).get().sequence - 1
    assert manifest["audit_chain"]["head"] == {"sequence": head, "hash": AuditEvent.objects.get(sequence=head).hash}
    assert manifest["signature"]["fingerprint"] == export_key
    assert manifest["code_version"]


def test_provenance_names_each_file_by_its_path_in_the_bundle(client, case, evidence, investigator, export_key):
    bundle = members(export(client, investigator, case))
    provenance = json.loads(bundle.read("provenance.json"))

    entries = [*provenance["sketches"], *provenance["composites"], *provenance["candidate_photos"]]
    assert len(entries) == 4
    for entry in entries:
        assert entry["file"] == entry["bundle_path"]
        assert hashlib.sha256(bundle.read(entry["file"])).hexdigest() == entry["sha256"]


def test_the_chain_proof_withholds_other_cases_events_but_accounts_for_them(
    client, case, evidence, investigator, export_key
):
    bundle = members(export(client, investigator, case))
    proof = json.loads(bundle.read("audit-chain.json"))
    text = b"".join(bundle.read(name) for name in bundle.namelist())

    withheld = [link for link in proof["links"] if "withheld" in link]
    assert len(withheld) >= 2
    assert b"another case's secret" not in text and b"Unrelated burglary" not in text
    for link in withheld:  # each run is stated by the hashes where it starts and ends
        first, last = link["withheld"]["first"], link["withheld"]["last"]
        assert AuditEvent.objects.get(sequence=first).prev_hash == link["enters"]
        assert AuditEvent.objects.get(sequence=last).hash == link["leaves"]
        assert not AuditEvent.objects.filter(sequence__range=(first, last), case=case).exists()


# Each kind of tampering fails, naming the file or the event


def change_a_byte(data: bytes) -> bytes:
    changed = bytearray(data)
    changed[len(changed) // 2] ^= 0x01
    return bytes(changed)


def event_lines(bundle: bytes) -> list[str]:
    return members(bundle).read("audit-events.jsonl").decode().splitlines()


def tamper_image(bundle, evidence):
    path = next(n for n in members(bundle).namelist() if n.startswith("composites/"))
    return rezip(bundle, replace={path: change_a_byte(members(bundle).read(path))}), re.escape(path)


def remove_file(bundle, evidence):
    path = next(n for n in members(bundle).namelist() if n.startswith("candidates/"))
    return rezip(bundle, drop=[path]), re.escape(path) + r".*missing from the bundle"


def add_file(bundle, evidence):
    return rezip(bundle, add={"sketches/extra.png": face_png(9)}), r"sketches/extra\.png is in the bundle but not in"


def alter_event(bundle, evidence):
    lines = event_lines(bundle)
    event = json.loads(lines[1])
    event["username"] = "somebody-else"
    lines[1] = json.dumps(event, ensure_ascii=False)
    replaced = rezip(bundle, replace={"audit-events.jsonl": "\n".join(lines) + "\n"})
    return replaced, rf"event #{event['sequence']} \({event['action']}\) was altered"


def remove_event_from_the_middle(bundle, evidence):
    lines = event_lines(bundle)
    removed = json.loads(lines[len(lines) // 2])
    del lines[len(lines) // 2]
    replaced = rezip(bundle, replace={"audit-events.jsonl": "\n".join(lines) + "\n"})
    return replaced, rf"event #{removed['sequence']} is missing from audit-events\.jsonl"


def edit_manifest(bundle, evidence):
    manifest = json.loads(members(bundle).read("manifest.json"))
    manifest["exported_by"] = "lead"
    edited = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    return rezip(bundle, replace={"manifest.json": edited}), r"manifest\.sig does not verify"


def sign_with_another_key(bundle, evidence):
    other = Ed25519PrivateKey.generate()
    sealed = json.loads(members(bundle).read("manifest.sig"))
    sealed["signature"] = base64.b64encode(other.sign(members(bundle).read("manifest.json"))).decode()
    return rezip(bundle, replace={"manifest.sig": json.dumps(sealed)}), r"manifest\.sig does not verify"


@pytest.mark.parametrize(
    "tamper",
    [
        tamper_image,
        remove_file,
        add_file,
        alter_event,
        remove_event_from_the_middle,
        edit_manifest,
        sign_with_another_key,
    ],
)
def test_a_tampered_bundle_fails_naming_the_file_or_event(
    client, case, evidence, investigator, export_key, clean_python, tmp_path, tamper
):
    bundle, named = tamper(export(client, investigator, case), evidence)

    result = run_verifier(clean_python, bundle, tmp_path, "--fingerprint", export_key)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "RESULT: FAILED" in result.stdout
    assert any(re.search(named, line) for line in failures(result)), result.stdout


def test_a_bundle_re_signed_by_a_forger_fails_against_the_published_fingerprint(
    client, case, evidence, investigator, export_key, clean_python, tmp_path
):
    """The forger edits the manifest, puts their own public key in it and signs it: the signature is
    valid, but not by the key the instance publishes."""
    bundle = export(client, investigator, case)
    forger = Ed25519PrivateKey.generate()
    raw = forger.public_key().public_bytes_raw()
    manifest = json.loads(members(bundle).read("manifest.json"))
    manifest["exported_by"] = "lead"
    forged_fingerprint = hashlib.sha256(raw).hexdigest()
    manifest["signature"] |= {"public_key": base64.b64encode(raw).decode(), "fingerprint": forged_fingerprint}
    data = (json.dumps(manifest, indent=2) + "\n").encode()
    signature = base64.b64encode(forger.sign(data)).decode()
    sealed = {"algorithm": "Ed25519", "fingerprint": forged_fingerprint, "signature": signature}
    forged = rezip(bundle, replace={"manifest.json": data, "manifest.sig": json.dumps(sealed)})

    unpinned = run_verifier(clean_python, forged, tmp_path)
    pinned = run_verifier(clean_python, forged, tmp_path, "--fingerprint", export_key)

    assert f"signed by the Ed25519 key {forged_fingerprint}" in unpinned.stdout
    assert "Compare this fingerprint with the one the instance publishes" in unpinned.stdout
    assert pinned.returncode == 1
    assert f"FAIL  manifest.json is signed by the key {forged_fingerprint}, not by the key you gave" in pinned.stdout


# No key: exported unsigned, saying so


def test_without_an_export_key_the_bundle_goes_out_unsigned_and_says_so(
    client, case, evidence, investigator, key_dir, clean_python, tmp_path
):
    bundle = export(client, investigator, case)
    manifest = json.loads(members(bundle).read("manifest.json"))

    result = run_verifier(clean_python, bundle, tmp_path)

    assert manifest["signature"] is None and manifest["warning"].startswith("UNSIGNED")
    assert members(bundle).read("VERIFY.md").startswith(b"> **UNSIGNED")
    assert "manifest.sig" not in members(bundle).namelist()
    assert result.returncode == 2 and "RESULT: NOT SIGNED" in result.stdout
    assert not key_dir.exists()  # an export never makes a key


# The export in the trail, and the live system's check


def test_the_export_is_an_audit_event_naming_the_manifest_and_the_zip(
    client, case, evidence, investigator, export_key, audit_log
):
    client.force_login(investigator)
    response = client.get(reverse("case_export", args=[case.pk]))
    bundle = b"".join(response.streaming_content)
    manifest = members(bundle).read("manifest.json")

    (exported,) = [event for event in audit_log.new() if event.action == Action.CASE_EXPORTED]
    assert exported.details["manifest_sha256"] == hashlib.sha256(manifest).hexdigest() == response["X-Manifest-SHA256"]
    assert exported.details["sha256"] == hashlib.sha256(bundle).hexdigest() == response["X-Bundle-SHA256"]
    assert int(response["Content-Length"]) == len(bundle) == exported.details["size"]
    assert exported.details["bundle_id"] == json.loads(manifest)["bundle_id"]
    assert exported.details["signed_by"] == export_key


def test_manage_py_verify_bundle_names_the_export_and_what_happened_since(
    client, case, evidence, investigator, artist, export_key, tmp_path
):
    path = tmp_path / "bundle.zip"
    path.write_bytes(export(client, investigator, case))
    exported = AuditEvent.objects.get(action=Action.CASE_EXPORTED)
    add_sketch(case, artist, seed=5)
    out = io.StringIO()

    call_command("verify_bundle", str(path), stdout=out)

    text = out.getvalue()
    assert f"PASS  this is export #{exported.sequence}: case {case.reference}, by investigator" in text
    assert "PASS  the zip is byte for byte the one sent" in text
    assert "PASS  signed by this system's export key" in text
    assert "none withheld belongs to this case" in text
    assert "since the export, 1 file(s) were added: witnesssketch" in text
    assert "sketch_uploaded by artist" in text
    assert "RESULT: this bundle is the export named above, unchanged." in text


def test_manage_py_verify_bundle_fails_on_a_changed_bundle(client, case, evidence, investigator, export_key, tmp_path):
    bundle = export(client, investigator, case)
    path = tmp_path / "changed.zip"
    path.write_bytes(tamper_image(bundle, evidence)[0])
    out = io.StringIO()

    with pytest.raises(CommandError, match="does not check out"):
        call_command("verify_bundle", str(path), stdout=out)

    assert "FAIL  file composites/" in out.getvalue()
    assert "the zip is not byte for byte the one sent" in out.getvalue()


def test_the_full_trail_re_links_what_the_bundle_withholds(
    client, case, evidence, investigator, auditor, export_key, clean_python, tmp_path
):
    bundle = export(client, investigator, case)
    client.force_login(auditor)
    trail = b"".join(client.get(reverse("audit_export_jsonl")).streaming_content)
    (tmp_path / "trail.jsonl").write_bytes(trail)

    result = run_verifier(clean_python, bundle, tmp_path, "--fingerprint", export_key, "--trail", "../trail.jsonl")

    assert result.returncode == 0, result.stdout
    assert "none withheld belongs to this case" in result.stdout


# The canonical form, one definition in two places


def test_the_verifier_hashes_events_exactly_as_the_trail_does(db, case, investigator):
    events = [
        audit.record(
            Action.CASE_UPDATED, user=investigator, obj=case, details={"title": "Überfall \u2013 Café ☕", "n": 1.5}
        ),
        audit.record(
            Action.ACCESS_DENIED, case=case, outcome=audit.Outcome.DENIED, details={"nested": {"b": [1, None]}}
        ),
    ]
    for event in AuditEvent.objects.filter(pk__in=[e.pk for e in events]):
        line = json.loads(json.dumps(event_dict(event), ensure_ascii=False))
        assert verifier.canonical_event(line) == canonical_content(event)
        assert verifier.event_hash(line) == event.hash


# Streaming, in constant memory


def big_case(case, artist, *, files: int, size: int) -> None:
    """``files`` sketches of ``size`` random bytes each, stored and recorded as uploads store them."""
    for number in range(files):
        data = os.urandom(size)
        digest = hashlib.sha256(data).hexdigest()
        custody.store(f"sketches/{digest}.png", data)
        sketch = WitnessSketch.objects.create(
            case=case,
            uploaded_by=artist,
            original=f"sketches/{digest}.png",
            sha256=digest,
            size=size,
            width=1000,
            height=1000,
            style="line",
            original_filename=f"scan-{number}.png",
        )
        audit.record(Action.SKETCH_UPLOADED, user=artist, obj=sketch, details={"sha256": digest})


def test_a_case_with_40_sketches_streams_in_constant_memory_and_verifies_in_seconds(
    client, case, artist, investigator, export_key, clean_python, tmp_path
):
    big_case(case, artist, files=40, size=1024 * 1024)
    client.force_login(investigator)
    tracemalloc.start()
    try:
        response = client.get(reverse("case_export", args=[case.pk]))
        digest, size = hashlib.sha256(), 0
        with (tmp_path / "big.zip").open("wb") as file:
            for piece in response.streaming_content:
                digest.update(piece)
                size += len(piece)
                file.write(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert size > 40 * 1024 * 1024 and digest.hexdigest() == response["X-Bundle-SHA256"]
    assert peak < 8 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB while exporting 40 MiB"
    started = time.monotonic()
    result = run_verifier(clean_python, (tmp_path / "big.zip").read_bytes(), tmp_path, "--fingerprint", export_key)
    assert result.returncode == 0, result.stdout
    assert time.monotonic() - started < 10


def test_a_file_altered_before_the_export_is_refused_with_409_and_audited(
    client, case, evidence, investigator, export_key, audit_log
):
    sketch = evidence["sketch"]
    Path(default_storage.path(sketch.original.name)).write_bytes(b"not the sketch")
    client.force_login(investigator)

    response = client.get(reverse("case_export", args=[case.pk]))

    assert response.status_code == 409
    actions = [event.action for event in audit_log.new()]
    assert Action.INTEGRITY_FAILED in actions and Action.CASE_EXPORTED not in actions


def test_a_file_altered_while_streaming_cuts_the_bundle_short_before_its_manifest(
    rf, case, evidence, investigator, export_key, audit_log
):
    request = rf.get("/")
    request.user = investigator
    bundle = CaseBundle(case, user=investigator, request=request)
    bundle.measure()
    composite = evidence["composite"]
    Path(default_storage.path(composite.image.name)).write_bytes(change_a_byte(face_png(7)))
    sent = []

    with pytest.raises(custody.CustodyError):
        for piece in bundle.stream():
            sent.append(piece)

    received = b"".join(sent)
    assert b"manifest.json" not in received
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(received))
    (failure,) = [event for event in audit_log.new() if event.action == Action.INTEGRITY_FAILED]
    assert failure.details["file"] == composite.image.name


# No secret leaves with the bundle


def test_the_bundle_holds_no_secret(client, case, evidence, investigator, export_key, key_dir, settings):
    secret = api_token(investigator)
    client.get(reverse("api:case_detail", args=[case.pk]), HTTP_AUTHORIZATION=f"Token {secret}")
    bundle = members(export(client, investigator, case))
    content = b"".join(bundle.read(name) for name in bundle.namelist())

    investigator.refresh_from_db()
    for value in (secret, settings.SECRET_KEY, investigator.password, "PRIVATE KEY"):
        assert value.encode() not in content
    assert (key_dir / keys.PRIVATE_KEY_FILE).read_bytes() not in content


# The export key


def test_rotation_keeps_the_old_public_key_listed_and_its_bundles_verifiable(
    client, case, evidence, investigator, auditor, export_key, key_dir, clean_python, tmp_path
):
    before = export(client, investigator, case)
    with pytest.raises(CommandError, match="use --rotate"):
        call_command("create_export_key", stdout=io.StringIO())

    call_command("create_export_key", "--rotate", stdout=io.StringIO())

    new, old = keys.public_keys()
    assert (old.fingerprint, old.current, new.current) == (export_key, False, True)
    assert run_verifier(clean_python, before, tmp_path, "--fingerprint", export_key).returncode == 0
    after = json.loads(members(export(client, investigator, case)).read("manifest.json"))
    assert after["signature"]["fingerprint"] == new.fingerprint
    assert [key["fingerprint"] for key in client.get("/healthz").json()["export_keys"]] == [
        new.fingerprint,
        export_key,
    ]
    client.force_login(auditor)
    page = client.get(reverse("audit_chain")).content.decode()
    assert new.fingerprint in page and export_key in page and new.public_key in page
    assert page.count(">current<") == 1 and "retired" in page
    assert (key_dir / keys.PRIVATE_KEY_FILE).stat().st_mode & 0o077 == 0


def test_the_integrity_page_says_when_there_is_no_export_key(client, auditor, key_dir):
    client.force_login(auditor)

    page = client.get(reverse("audit_chain")).content.decode()

    assert "No export key has been made" in page and "manage.py create_export_key" in page
