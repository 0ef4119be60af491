"""Load benchmark of the web tier: gunicorn as deployed, driven by Locust.

``PYTHONPATH=. python benchmarks/web.py [--users 50] [--seconds 30] [--json web.json]``

Method. A fresh database (``DATABASE_URL``, dropped and made anew, so its name
must contain "bench"; by default a throwaway SQLite in a temporary folder)
gets realistic data: ``--users`` people (40 % forensic
artists, 30 % investigators, 20 % case leads, 10 % auditors), 50 cases, one of
them with 40 sketches (some revising others), 120 composites (three styles
per sketch; a few waiting or failed, some released) and 10 candidate photos,
each other case two sketches and a composite, and an audit trail of 20,000
events (a valid hash chain) before the evidence's own events. Sketches and
candidate photos are stored through ``cases.services`` as uploads are, and
the ``cases.tasks.derive`` job runs in-process on each, as a worker would
have, before the load starts; composites are requested through the services
and finished as the pipeline finishes them (labelled PNG, provenance, the
installed weights' SHA-256, dlib's descriptor by ``describe_composite``).
Each person gets a session made in the database (no login form: lockout and
the second factor are not what is measured).

gunicorn then serves ``forensics.wsgi`` as the Dockerfile runs it
(``forensics/gunicorn_config.py``; ``--workers`` and ``--threads`` change its
layout), with ``DEBUG`` off and Redis as the broker
(``BENCH_REDIS_URL``, default database 11, flushed before and after), so the
web process runs no job in-process: uploads queue their ``derive`` job for
workers, and no worker runs (workers belong on other machines). Each request
carries an ``X-Request-ID`` naming the phase and endpoint, which gunicorn logs
with its own time for the request: the paced figures add the server's own
p50/p95/p99 (``server_p95_ms``) to the client's.

Locust, as a library, in this process:

1. warm-up, ``--warmup`` seconds, not counted;
2. ``paced``: ``--users`` people, each following the paths of their role
   (case list, case page, sketch pages, compare with and without a candidate
   photo, API lists and details, the audit log and its API; artists and case
   leads now and then upload a sketch of about 1 MB to one of their smaller
   cases and open its page), waiting 1-3 s between requests, for
   ``--seconds``, measured from 3 s after they all started (``PACED_SETTLE``; before #13's fifth
   round the measurement began with every person's first request in the same instant): requests,
   errors and p50/p95/p99 per endpoint;
3. ``saturation``: for each endpoint in turn, ``--saturation-users`` clients
   requesting it with no wait (closed loop), 2 s to settle (the previous
   endpoint's queued requests drain), then ``--saturation-seconds``
   measured: requests per second and latency under that load, and the CPU
   time gunicorn and PostgreSQL spent per request
   (``server_cpu_ms_per_request``), from which
   ``requests_per_s_if_cores_were_free`` is what the machine's cores would
   serve with nothing else running (Locust included).

Any answer but the expected status (200; 302 for an upload) is an error;
redirects are not followed (a lost session would show as errors, not as
fast login pages). ``web_rss_mb`` is the peak resident memory of each
gunicorn worker (``per_worker_peak``: what the 300 MB target is about) and
of all gunicorn processes together, sampled every 0.25 s. Locust, gunicorn
and the database share the machine's cores, and so does whatever else runs
there: ``cpu_seconds`` splits each phase's CPU time between Locust,
gunicorn, the PostgreSQL backends of the benchmark's database and
everything else, and ``machine.load_average_1min`` says how busy it was.

Full run, as in docs/WEB_PERFORMANCE.md::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/forensics_bench PYTHONPATH=. \
        .venv/bin/python benchmarks/web.py --users 50 --seconds 120 --saturation-seconds 8 --json web.json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("artist", "investigator", "lead", "auditor")
SHARES = {"artist": 0.4, "investigator": 0.3, "lead": 0.2}
AUDIT_EVENTS = 20_000
CASES = 50
BIG_SKETCHES, BIG_CANDIDATES = 40, 10
STYLES = ("line", "grayscale", "color")
#: Seconds of closed-loop load on an endpoint before its figures are taken: the requests still queued
#: for the previous endpoint drain, and the workers settle on this one.
SETTLE = 2.0
#: Seconds the paced phase runs before its figures are taken: Locust starts every person at once, and
#: each one's first request goes out the moment it starts, a burst of ``--users`` requests in the same
#: instant that people do not make. After the longest pause (3 s) their requests are spread as people's.
PACED_SETTLE = 3.0
#: Endpoints hammered in the saturation phase: name -> role that asks.
SATURATED = {
    "case list": "artist",
    "case page": "investigator",
    "sketch page": "artist",
    "compare": "investigator",
    "API case list": "lead",
    "API case detail": "lead",
    "API sketch list": "artist",
    "API sketch detail": "artist",
    "API composite list": "investigator",
    "API composite detail": "investigator",
    "audit log": "auditor",
    "API audit events": "auditor",
}


# --------------------------------------------------------------------------
# Data, made in a separate interpreter (Django, and PyTorch/dlib for derive)


def people(users: int) -> dict[str, int]:
    counts = {role: max(1, round(users * share)) for role, share in SHARES.items()}
    counts["auditor"] = max(1, users - sum(counts.values()))
    return counts


def face(seed: int, width: int, height: int, grey: bool = False) -> bytes:
    """A generated face drawing, PNG (the tests' faces, scaled)."""
    from PIL import Image

    from tests.inversion_fixtures import generated_face

    image = Image.fromarray(generated_face(seed, 128)).resize((width, height), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    (image.convert("L") if grey else image).save(buffer, format="PNG")
    return buffer.getvalue()


@contextmanager
def jobs_left_for_workers():
    """Render jobs go to the in-memory broker no one reads: composites are finished below, as a worker would."""
    from forensics.celery import app

    was = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        yield
    finally:
        app.conf.task_always_eager = was


def prepare(plan_path: Path, users: int) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from accounts.roles import GlobalRole
    from cases.models import Case, CaseMembership

    timings = {}
    began = time.perf_counter()
    call_command("migrate", verbosity=0)
    timings["migrate"] = time.perf_counter() - began

    began = time.perf_counter()
    User = get_user_model()
    password = make_password(secrets.token_urlsafe(16))  # hashed once: nobody logs in with it
    groups = {
        "artist": GlobalRole.FORENSIC_ARTIST,
        "investigator": GlobalRole.INVESTIGATOR,
        "lead": GlobalRole.INVESTIGATOR,
        "auditor": GlobalRole.AUDITOR,
    }
    staff = {role: [] for role in ROLES}
    for role, count in people(users).items():
        staff[role] = User.objects.bulk_create(
            User(username=f"{role}{i + 1}", email=f"{role}{i + 1}@example.org", password=password) for i in range(count)
        )
    group_ids = {role: Group.objects.get_or_create(name=name)[0].pk for role, name in groups.items()}
    User.groups.through.objects.bulk_create(
        User.groups.through(user_id=user.pk, group_id=group_ids[role]) for role in ROLES for user in staff[role]
    )
    artists, investigators, leads = staff["artist"], staff["investigator"], staff["lead"]
    cases = Case.objects.bulk_create(
        Case(reference=f"2026-CID-{i:04d}", title=f"Street robbery {i}", created_by=leads[i % len(leads)])
        for i in range(1, CASES + 1)
    )
    big, small = cases[0], cases[1:]
    Role = CaseMembership.Role
    members = [
        *(CaseMembership(case=big, user=user, role=Role.FORENSIC_ARTIST) for user in artists),
        *(CaseMembership(case=big, user=user, role=Role.INVESTIGATOR) for user in investigators),
        *(CaseMembership(case=big, user=user, role=Role.CASE_LEAD) for user in leads),
    ]
    for i, case in enumerate(small):
        chosen = {leads[i % len(leads)].pk: Role.CASE_LEAD}
        for k in range(2):
            chosen.setdefault(artists[(2 * i + k) % len(artists)].pk, Role.FORENSIC_ARTIST)
            chosen.setdefault(investigators[(2 * i + k) % len(investigators)].pk, Role.INVESTIGATOR)
        members += [CaseMembership(case=case, user_id=pk, role=role) for pk, role in chosen.items()]
    CaseMembership.objects.bulk_create(members)
    timings["people_and_cases"] = time.perf_counter() - began

    began = time.perf_counter()
    audit_trail(staff, cases)
    timings["audit_trail"] = time.perf_counter() - began

    began = time.perf_counter()
    evidence = big_case(big, artists, investigators, leads)
    timings["big_case_evidence"] = time.perf_counter() - began

    began = time.perf_counter()
    small_cases(small, evidence)
    timings["small_cases"] = time.perf_counter() - began

    plan = {
        "big_case": big.pk,
        "big_reference": big.reference,
        **evidence["ids"],
        "people": {
            role: [
                {
                    "username": user.username,
                    "session": session_for(user),
                    "cases": list(CaseMembership.objects.filter(user=user).values_list("case_id", flat=True)),
                    "upload_cases": list(
                        CaseMembership.objects.filter(
                            user=user, role__in=[Role.FORENSIC_ARTIST, Role.CASE_LEAD], case__in=small
                        ).values_list("case_id", flat=True)
                    ),
                }
                for user in staff[role]
            ]
            for role in ROLES
        },
        "references": [case.reference for case in cases],
        "counts": counts(),
        "build_seconds": {name: round(value, 1) for name, value in timings.items()},
    }
    plan_path.write_text(json.dumps(plan))


def audit_trail(staff: dict, cases: list) -> None:
    """``AUDIT_EVENTS`` past events forming a valid chain, bulk-inserted; the chain head is then
    moved forward one event at a time, which its trigger allows (and checks)."""
    from datetime import timedelta

    from django.db import connection, transaction
    from django.utils import timezone

    import audit
    from audit import trail
    from audit.models import AuditChainHead, AuditEvent

    Action = audit.Action
    kinds = [
        (Action.EVIDENCE_VIEWED, "case", 40),
        (Action.COMPARISON_VIEWED, "case", 10),
        (Action.LOGIN_SUCCEEDED, "user", 10),
        (Action.LOGOUT, "user", 6),
        (Action.SKETCH_UPLOADED, "witnesssketch", 8),
        (Action.COMPOSITE_REQUESTED, "composite", 8),
        (Action.COMPOSITE_DONE, "composite", 8),
        (Action.CANDIDATE_ADDED, "candidatephoto", 2),
        (Action.COMPOSITE_RELEASED, "composite", 2),
        (Action.MEMBERSHIP_GRANTED, "casemembership", 2),
        (Action.AUDIT_VIEWED, "auditevent", 3),
        (Action.ACCESS_DENIED, "case", 1),
    ]
    choices = [kind for kind in kinds for _ in range(kind[2])]
    members = [(user, role) for role in ("artist", "investigator", "lead") for user in staff[role]]
    rng = random.Random(13)
    head = AuditChainHead.objects.get(pk=1)
    sequence, previous = head.sequence, head.hash
    start = timezone.now() - timedelta(days=120)
    step = timedelta(days=119) / AUDIT_EVENTS
    events = []
    for i in range(AUDIT_EVENTS):
        action, object_type, _ = rng.choice(choices)
        case = rng.choice(cases)
        if action == Action.AUDIT_VIEWED:
            user, role, case = rng.choice(staff["auditor"]), "Auditor", None
        else:
            user, role = rng.choice(members)
            role = {"artist": "forensic_artist", "investigator": "investigator", "lead": "case_lead"}[role]
        if object_type == "user":
            case = None
        sequence += 1
        event = AuditEvent(
            sequence=sequence,
            timestamp=start + i * step,
            user=user,
            username=user.username,
            role=role,
            action=action,
            object_type=object_type,
            object_id=str(user.pk if object_type == "user" else case.pk if object_type == "case" else i % 900 + 1),
            case=case,
            outcome=audit.Outcome.DENIED if action == Action.ACCESS_DENIED else audit.Outcome.SUCCESS,
            ip=f"10.0.{rng.randrange(4)}.{rng.randrange(1, 250)}",
            user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
            request_id=uuid.UUID(int=rng.getrandbits(128)).hex,
            details={"page": "case"} if action == Action.EVIDENCE_VIEWED else {},
            prev_hash=previous,
        )
        event.hash = previous = trail.compute_hash(event)
        events.append(event)
    with transaction.atomic():
        AuditEvent.objects.bulk_create(events, batch_size=2000)
        table = AuditChainHead._meta.db_table
        moves = [(event.sequence, event.hash) for event in events]
        statement = f"UPDATE {table} SET sequence = %s, hash = %s WHERE id = 1"
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                from psycopg2.extras import execute_batch

                execute_batch(cursor.cursor, statement, moves, page_size=1000)  # 1,000 per round trip
            else:
                cursor.executemany(statement, moves)


def big_case(case, artists: list, investigators: list, leads: list) -> dict:
    """The case everyone works on: sketches and candidate photos through the services, derived
    in-process; composites requested through the services and finished as the pipeline would."""
    from django.conf import settings
    from PIL import Image

    from cases import composite_png, services, tasks
    from cases.models import Composite
    from tests.inversion_fixtures import generated_face

    sketches = []
    for i in range(BIG_SKETCHES):
        revises = sketches[-1] if i % 5 == 4 else None
        sketches.append(
            services.add_sketch(
                case,
                io.BytesIO(face(100 + i, 480, 600, grey=STYLES[i % 3] != "color")),
                user=(artists + leads)[i % (len(artists) + len(leads))],
                style=STYLES[i % 3],
                filename=f"scan-{i + 1:02d}.png",
                witness_reference=f"W{i % 7 + 1}",
                interview_notes="Interviewed at the station; description of the man at the bus stop.",
                revises=revises,
            )
        )
    candidates = [
        services.add_candidate_photo(
            case,
            io.BytesIO(face(500 + i, 320, 400)),
            user=investigators[i % len(investigators)],
            label=f"Custody record 2026/{1180 + i}",
            filename=f"record-{1180 + i}.png",
        )
        for i in range(BIG_CANDIDATES)
    ]
    composites, done = [], []
    for i, sketch in enumerate(sketches):
        for k, style in enumerate(STYLES):
            box = None if sketch.face_found else [0, 0, sketch.width, sketch.height]
            with jobs_left_for_workers():
                composite, _ = services.request_composite(
                    sketch, style, user=sketch.uploaded_by, parameters={"box": box} if box else None
                )
            composites.append(composite)
            if (i % 13 == 12 and k == 2) or (i % 17 == 16 and k == 1):
                continue  # still waiting for a worker
            png = composite_png.render(
                Image.fromarray(generated_face(1000 + 3 * i + k, 96)),
                label=settings.COMPOSITE_LABEL,
                size=settings.COMPOSITE_SIZE,
                text={"style": style},
            )
            finish(composite, png, failed=i % 11 == 10 and k == 0)
            if composite.status == Composite.Status.DONE:
                done.append(composite)
    for composite in done:
        tasks.describe_composite.apply(args=(composite.pk,))
    for n, composite in enumerate(done[::4]):
        services.release_composite(composite, user=investigators[n % len(investigators)], reason="Press appeal")
    return {
        "ids": {
            "sketches": [sketch.pk for sketch in sketches],
            "composites": [composite.pk for composite in composites],
            "done_composites": [composite.pk for composite in done],
            "candidates": [photo.pk for photo in candidates],
        },
        "sketches": sketches,
        "done": done,
    }


def finish(composite, png: bytes, *, failed: bool = False) -> None:
    """Store the composite and mark it done (or failed), with its provenance, as ``cases.pipeline`` does."""
    import hashlib

    from django.utils import timezone

    import audit
    from cases import custody, services
    from cases.models import Composite

    now = timezone.now()
    pipeline = {"face": {"found": bool(composite.sketch.face_found)}, "stages_ms": {"inference": 41, "encode": 9}}
    fields = {
        "started_at": now,
        "finished_at": now,
        "attempts": 1,
        "device": "cuda:0 NVIDIA H200",
        "batch_size": 8,
        "code_version": "benchmark",
        "duration_ms": 180,
        "model_name": f"csi-{composite.style}",
        "weights_sha256": services.installed_weights_sha256(composite.style),
        "parameters": composite.parameters | {"pipeline": pipeline},
    }
    if failed:
        fields |= {"status": Composite.Status.FAILED, "error_message": "CUDA out of memory"}
        action = audit.Action.COMPOSITE_FAILED
    else:
        digest = hashlib.sha256(png).hexdigest()
        custody.store(f"composites/{digest}.png", png, case=composite.sketch.case)
        fields |= {"status": Composite.Status.DONE, "image": f"composites/{digest}.png", "output_sha256": digest}
        action = audit.Action.COMPOSITE_DONE
    Composite.objects.filter(pk=composite.pk).update(**fields)
    composite.refresh_from_db()
    audit.record(action, obj=composite, details={"attempt": 1})


def small_cases(cases: list, evidence: dict) -> None:
    """Two sketches and one composite in each other case, bulk-created from the big case's stored
    files and derived data (the same bytes, so the same SHA-256 and the same stored file)."""
    from cases.models import CaseMembership, Composite, WitnessSketch

    sketches = evidence["sketches"]
    made = {composite.sketch_id: composite for composite in evidence["done"]}
    leads = dict(
        CaseMembership.objects.filter(case__in=cases, role=CaseMembership.Role.CASE_LEAD).values_list("case", "user")
    )
    sources = [sketches[(2 * i + k) % len(sketches)] for i in range(len(cases)) for k in range(2)]
    rows = WitnessSketch.objects.bulk_create(
        WitnessSketch(case=case, uploaded_by_id=leads[case.pk], **copied(source, "case", "uploaded_by", "revises"))
        for case, source in zip([case for case in cases for _ in range(2)], sources, strict=True)
    )
    Composite.objects.bulk_create(
        Composite(
            sketch=row,
            requested_by_id=row.uploaded_by_id,
            **copied(made[source.pk], "sketch", "requested_by", "released", "released_by", "released_at"),
        )
        for n, (row, source) in enumerate(zip(rows, sources, strict=True))
        if n % 2 == 0 and source.pk in made
    )


def copied(row, *skipped: str) -> dict:
    """``row``'s field values for a new row (files by name), without its id, ``skipped`` and automatic dates."""
    skipped = {"id", "created_at", *skipped}
    values = {}
    for field in row._meta.concrete_fields:
        if field.name in skipped:
            continue
        value = getattr(row, field.attname)
        values[field.attname] = value.name if hasattr(value, "storage") else value
    return values


def session_for(user) -> str:
    """A signed-in session, as the login view would leave it (second factor not owed)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from accounts import otp

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "accounts.lockout.LockoutModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session[otp.NOT_NEEDED_KEY] = user.pk
    session["last_request_at"] = int(time.time())
    session.create()
    return session.session_key


def counts() -> dict:
    from audit.models import AuditEvent
    from cases.models import CandidatePhoto, Case, Composite, WitnessSketch

    return {
        "cases": Case.objects.count(),
        "sketches": WitnessSketch.objects.count(),
        "composites": Composite.objects.count(),
        "candidate_photos": CandidatePhoto.objects.count(),
        "audit_events": AuditEvent.objects.count(),
    }


# --------------------------------------------------------------------------
# The run: database, gunicorn, Locust


def database_problem(database_url: str) -> str:
    """Make a fresh database for a PostgreSQL URL; say why not, if it cannot or must not."""
    if not database_url.startswith(("postgres://", "postgresql://")):
        return f"DATABASE_URL must be PostgreSQL (or unset, for a throwaway SQLite), not {database_url.split(':')[0]}"
    import psycopg2
    from psycopg2 import sql

    base, name = database_url.rsplit("/", 1)
    try:
        connection = psycopg2.connect(base + "/postgres", connect_timeout=3)
    except psycopg2.Error as error:
        return f"cannot reach PostgreSQL at {base}: {error}"
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        exists = cursor.fetchone() is not None
        if exists and "bench" not in name:
            connection.close()
            return (
                f"database {name} exists; this benchmark drops and makes anew only a database whose name "
                "contains 'bench' (e.g. forensics_bench)"
            )
        cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    connection.close()
    return ""


def redis_problem(redis_url: str) -> str:
    import redis

    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).flushdb()
    except redis.RedisError as error:
        return f"needs Redis as the broker at {redis_url}: {error}"
    return ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(env: dict, port: int, workers: int, threads: int, work: Path) -> subprocess.Popen:
    import urllib.request

    command = [sys.executable, "-m", "gunicorn", "-c", "python:forensics.gunicorn_config", "forensics.wsgi"]
    command += ["--bind", f"127.0.0.1:{port}"]
    command += ["--access-logfile", str(work / "access.log"), "--access-logformat", ACCESS_LOG_FORMAT]
    log = work / "gunicorn.log"
    # Through the config's own variables, so that what it derives from them (connections per process) follows.
    env = env | {"GUNICORN_WORKERS": str(workers), "GUNICORN_THREADS": str(threads)}
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                if response.status == 200 and len(gunicorn_processes(process)) > workers:
                    return process
        except OSError:
            pass
        time.sleep(0.3)
    stop(process)
    raise SystemExit(f"gunicorn did not start:\n{log.read_text(errors='replace')[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def gunicorn_processes(process: subprocess.Popen) -> list:
    import psutil

    try:
        master = psutil.Process(process.pid)
        return [master, *master.children()]
    except psutil.Error:
        return []


class Memory:
    """Peak RSS of each gunicorn process and of all together, sampled in a greenlet."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process, self.peaks, self.total, self.running = process, {}, 0, True

    def sample(self) -> None:
        import gevent
        import psutil

        while self.running:
            total = 0
            for proc in gunicorn_processes(self.process):
                try:
                    rss = proc.memory_info().rss
                except psutil.Error:
                    continue
                total += rss
                self.peaks[proc.pid] = max(self.peaks.get(proc.pid, 0), rss)
            self.total = max(self.total, total)
            gevent.sleep(0.25)

    def figures(self) -> dict:
        workers = sorted((rss for pid, rss in self.peaks.items() if pid != self.process.pid), reverse=True)
        mb = 1024 * 1024
        return {
            "per_worker_peak": round(workers[0] / mb, 1) if workers else None,
            "workers_peak": [round(rss / mb, 1) for rss in workers],
            "master_peak": round(self.peaks.get(self.process.pid, 0) / mb, 1),
            "all_processes_peak": round(self.total / mb, 1),
            "basis": "RSS; per_worker_peak is the largest single worker, all_processes_peak the sum of master and "
            "workers at the sampled moment it peaked",
        }


class Cpu:
    """CPU seconds spent by Locust (this process), gunicorn, the PostgreSQL backends serving the
    benchmark's database, and everything else on the machine.

    Backends come and go (``DATABASE_CONN_MAX_AGE``): ``watch`` notes each one's CPU time twice a
    second, so one that ended still counts up to its last note.
    """

    def __init__(self, gunicorn: subprocess.Popen, database: str) -> None:
        self.gunicorn, self.database, self.backends, self.running = gunicorn, database, {}, True

    def note_backends(self) -> None:
        import psutil

        if not self.database:
            return
        for proc in psutil.process_iter(["name", "cmdline"]):
            title = " ".join(proc.info["cmdline"] or [])
            if (proc.info["name"] or "").startswith("postgres") and f" {self.database} " in title:
                self.backends[proc.pid] = seconds(proc)

    def watch(self) -> None:
        import gevent

        while self.running:
            self.note_backends()
            gevent.sleep(0.5)

    def snapshot(self) -> dict:
        import psutil

        self.note_backends()
        taken = {
            "locust": {0: seconds(psutil.Process())},
            "gunicorn": {proc.pid: seconds(proc) for proc in gunicorn_processes(self.gunicorn)},
            "database": dict(self.backends),
        }
        times = psutil.cpu_times()
        taken["machine"] = sum(times) - times.idle - getattr(times, "iowait", 0.0)
        return taken

    @staticmethod
    def spent(before: dict, after: dict) -> dict:
        """Seconds between two snapshots."""
        spent = {
            name: sum(value - before[name].get(pid, 0.0) for pid, value in after[name].items())
            for name in ("locust", "gunicorn", "database")
        }
        spent["everything else"] = after["machine"] - before["machine"] - sum(spent.values())
        return {name: round(value, 1) for name, value in spent.items()}


def seconds(proc) -> float:
    import psutil

    try:
        times = proc.cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system


def upload_images(count: int, seed: int = 7) -> list[bytes]:
    """Pencil-grey scans of about 1 MB (1000 x 1250 px, with paper grain), each different."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    images = []
    for i in range(count):
        image = Image.new("L", (1000, 1250), 236)
        draw = ImageDraw.Draw(image)
        draw.ellipse((250, 220, 750, 900), outline=60, width=6)
        for x in (390, 610):
            draw.ellipse((x - 45, 470, x + 45, 510), outline=40, width=5)
        draw.line((500, 520, 480, 660, 520, 670), fill=70, width=4)
        draw.arc((400, 700, 600, 780), 10, 170, fill=50, width=5)
        grain = rng.normal(0, 6 + i % 3, (1250, 1000))
        pixels = np.clip(np.asarray(image, dtype=np.float32) + grain, 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        images.append(buffer.getvalue())
    return images


def multipart(fields: dict[str, str], filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{filename}"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def user_classes(plan: dict, uploads: list[bytes], *, paced: bool):
    """One Locust user class per role; each simulated person signs in as a different user."""
    from http.cookiejar import Cookie

    from locust import between, constant, task
    from locust.contrib.fasthttp import FastHttpUser

    pools = {role: list(plan["people"][role]) for role in ROLES}
    taken = dict.fromkeys(ROLES, 0)
    big = plan["big_case"]

    def cookie(name: str, value: str) -> Cookie:
        return Cookie(
            0, name, value, None, False, "127.0.0.1", False, False, "/", True, False, None, False, None, None, {}
        )

    class Person(FastHttpUser):
        abstract = True
        role = ""
        wait_time = between(1, 3) if paced else constant(0)

        def on_start(self) -> None:
            pool = pools[self.role]
            self.me = pool[taken[self.role] % len(pool)]
            taken[self.role] += 1
            self.csrf = secrets.token_hex(16)
            self.client.cookiejar.set_cookie(cookie("sessionid", self.me["session"]))
            self.client.cookiejar.set_cookie(cookie("csrftoken", self.csrf))
            self.rng = random.Random()

        def get(self, path: str, name: str) -> None:
            headers = {"X-Request-ID": request_id(name)}
            with self.client.get(
                path, name=name, headers=headers, allow_redirects=False, catch_response=True
            ) as response:
                if response.status_code != 200:
                    response.failure(f"{response.status_code} for {path}")

        def step(self, path: str, name: str) -> None:
            self.get(path, name)
            if paced:
                self.wait()

        # What people open
        def case_list(self) -> None:
            self.step("/cases/", "case list")

        def case_page(self, case: int = big) -> None:
            self.step(f"/cases/{case}/", "case page")

        def sketch_page(self, sketch: int | None = None) -> None:
            self.step(f"/cases/{big}/sketches/{sketch or self.rng.choice(plan['sketches'])}/", "sketch page")

        def compare(self, candidate: bool = False) -> None:
            query = f"?sketch={self.rng.choice(plan['sketches'])}"
            if candidate:
                query += f"&candidate={self.rng.choice(plan['candidates'])}"
            self.step(f"/cases/{big}/compare/{query}", "compare")

        def api(self, which: str) -> None:
            paths = {
                "API case list": "/api/v1/cases/",
                "API case detail": f"/api/v1/cases/{self.rng.choice(self.me['cases'] or [big])}/",
                "API sketch list": f"/api/v1/cases/{big}/sketches/",
                "API sketch detail": f"/api/v1/cases/{big}/sketches/{self.rng.choice(plan['sketches'])}/",
                "API composite list": f"/api/v1/cases/{big}/composites/",
                "API composite detail": f"/api/v1/cases/{big}/composites/{self.rng.choice(plan['composites'])}/",
                "API audit events": "/api/v1/audit-events/",
            }
            self.step(paths[which], which)

        def audit_log(self) -> None:
            query = self.rng.choice(
                [
                    "",
                    f"?page={self.rng.randint(2, 20)}",
                    f"?case={self.rng.choice(plan['references'])}",
                    f"?kind=all&page={self.rng.randint(1, 50)}",
                    "?kind=reads",
                    f"?user={self.rng.choice(plan['people']['artist'])['username']}",
                ]
            )
            self.step(f"/audit/{query}", "audit log")

        def upload(self) -> None:
            case = self.rng.choice(self.me["upload_cases"] or [big])
            self.case_page(case)
            self.step(f"/cases/{case}/sketches/new/", "upload form")
            body, content_type = multipart(
                {"csrfmiddlewaretoken": self.csrf, "style": "", "witness_reference": "W1", "interview_notes": ""},
                f"scan-{uuid.uuid4().hex[:8]}.png",
                self.rng.choice(uploads),
            )
            headers = {"Content-Type": content_type, "X-Request-ID": request_id("upload")}
            path = f"/cases/{case}/sketches/new/"
            with self.client.post(
                path, data=body, headers=headers, name="upload", allow_redirects=False, catch_response=True
            ) as response:
                location = response.headers.get("Location", "") if response.status_code == 302 else ""
                if "/sketches/" not in location:
                    response.failure(f"{response.status_code} for the upload to case {case}")
            if paced:
                self.wait()
            if location:
                self.step(location, "sketch page")

    class Artist(Person):
        role = "artist"

        @task(5)
        def work_on_sketches(self) -> None:
            self.case_list()
            self.case_page()
            self.sketch_page()
            self.sketch_page()

        @task(2)
        def compare_composites(self) -> None:
            self.case_page()
            self.compare()

        @task(2)
        def script(self) -> None:
            for which in ("API case list", "API sketch list", "API sketch detail", "API composite detail"):
                self.api(which)

        @task(1)
        def upload_a_sketch(self) -> None:
            self.upload()

    class Investigator(Person):
        role = "investigator"

        @task(4)
        def compare_with_candidates(self) -> None:
            self.case_list()
            self.case_page()
            self.compare(candidate=True)
            self.compare()

        @task(3)
        def read_sketches(self) -> None:
            self.case_page()
            self.sketch_page()

        @task(2)
        def script(self) -> None:
            for which in ("API case detail", "API composite list", "API composite detail"):
                self.api(which)

    class Lead(Person):
        role = "lead"

        @task(3)
        def oversee(self) -> None:
            self.case_list()
            self.case_page()
            self.sketch_page()
            self.compare(candidate=self.rng.random() < 0.5)

        @task(2)
        def script(self) -> None:
            for which in ("API case list", "API case detail", "API sketch list", "API composite list"):
                self.api(which)

        @task(1)
        def upload_a_sketch(self) -> None:
            self.upload()

    class Auditor(Person):
        role = "auditor"

        @task(4)
        def read_the_trail(self) -> None:
            for _ in range(3):
                self.audit_log()

        @task(1)
        def script(self) -> None:
            self.api("API audit events")

    return {"artist": Artist, "investigator": Investigator, "lead": Lead, "auditor": Auditor, "person": Person}


def hammer(name: str, role: str, plan: dict) -> type:
    """A user class that asks for one endpoint, again and again, without waiting."""
    person = user_classes(plan, [], paced=False)["person"]
    action = {
        "case list": lambda self: self.case_list(),
        "case page": lambda self: self.case_page(),
        "sketch page": lambda self: self.sketch_page(),
        "compare": lambda self: self.compare(candidate=True),
        "audit log": lambda self: self.audit_log(),
    }.get(name, lambda self: self.api(name))
    return type(f"Hammer{role.title()}", (person,), {"role": role, "tasks": [action], "abstract": False})


# The server's own time for each request (#13): each request carries an id naming the phase being measured
# and its endpoint, gunicorn logs that id with the milliseconds it spent (its %(M)s), and ``server_times``
# reads them back. What the client measured beyond that was spent queueing for a worker or in the client.
ACCESS_LOG_FORMAT = "%({x-request-id}i)s %(M)s"
PHASE = {"now": "warmup"}
REQUEST_COUNTER = iter(range(1, 10**12))


def request_id(name: str) -> str:
    return f"bench.{PHASE['now']}.{name.replace(' ', '-')}.{next(REQUEST_COUNTER)}"


def server_times(access_log: Path, phase: str) -> dict[str, dict[str, float]]:
    """Per endpoint, the 50th, 95th and 99th percentiles of the time gunicorn spent on the requests of
    ``phase`` (from taking the request off its queue to sending the response)."""
    import numpy as np

    times: dict[str, list[int]] = {}
    for line in access_log.read_text(errors="replace").splitlines():
        request, _, milliseconds = line.rpartition(" ")
        parts = request.split(".")
        if len(parts) == 4 and parts[0] == "bench" and parts[1] == phase and milliseconds.isdigit():
            times.setdefault(parts[2].replace("-", " "), []).append(int(milliseconds))
    return {
        name: {f"server_p{q}_ms": round(float(np.percentile(values, q)), 1) for q in (50, 95, 99)}
        for name, values in sorted(times.items())
    }


def run_locust(
    classes: list,
    host: str,
    users: int,
    seconds: float,
    settle: float = 0.0,
    cpu: Cpu | None = None,
    phase: str = "measured",
) -> tuple[dict, float]:
    """Run ``classes`` with ``users`` users for ``seconds``; per-endpoint figures (and with ``cpu``, the
    CPU seconds spent), and the seconds measured (from ``settle`` seconds after all users started)."""
    import gevent
    from locust.env import Environment

    env = Environment(user_classes=classes, host=host, catch_exceptions=True)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=max(users, 1) * 5)
    while runner.user_count < users:
        gevent.sleep(0.05)
    gevent.sleep(settle)
    env.stats.reset_all()
    before = cpu.snapshot() if cpu else None
    began, PHASE["now"] = time.monotonic(), phase
    gevent.sleep(seconds)
    elapsed, PHASE["now"] = time.monotonic() - began, "after"
    figures = endpoint_figures(env, elapsed)
    spent = Cpu.spent(before, cpu.snapshot()) if cpu else {}
    runner.quit()
    errors = {f"{error.name}: {error.error}": error.occurrences for error in env.stats.errors.values()}
    return {"endpoints": figures, "errors": errors, "cpu_seconds": spent}, elapsed


def endpoint_figures(env, elapsed: float) -> dict:
    figures = {}
    for (name, _method), entry in sorted(env.stats.entries.items()):
        if not entry.num_requests:
            continue
        figures[name] = {
            "requests": entry.num_requests,
            "errors": entry.num_failures,
            "p50_ms": entry.get_response_time_percentile(0.50),
            "p95_ms": entry.get_response_time_percentile(0.95),
            "p99_ms": entry.get_response_time_percentile(0.99),
            "max_ms": round(entry.max_response_time or 0),
            "requests_per_s": round(entry.num_requests / elapsed, 1),
        }
    return figures


def main() -> None:
    import gevent  # Locust's monkey-patching first
    import locust  # noqa: F401

    from forensics import gunicorn_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50, help="people in the paced phase (default 50)")
    parser.add_argument("--seconds", type=float, default=30, help="length of the paced phase (default 30)")
    parser.add_argument(
        "--saturation-seconds", type=float, default=2, help=f"per endpoint, after {SETTLE:.0f} s to settle (default 2)"
    )
    parser.add_argument("--saturation-users", type=int, default=8, help="closed-loop clients (default 8)")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of load before measuring (default 5)")
    parser.add_argument(
        "--workers", type=int, default=gunicorn_config.workers, help="gunicorn processes (default: as deployed)"
    )
    parser.add_argument(
        "--threads", type=int, default=gunicorn_config.threads, help="threads per process (default: as deployed)"
    )
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
    problem = redis_problem(redis_url) or (database_problem(database_url) if database_url else "")
    if problem:
        print(f"web benchmark skipped: {problem}")
        return

    with tempfile.TemporaryDirectory(prefix="web-bench-") as folder:
        work = Path(folder)
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "forensics.settings",
            "DEBUG": "0",
            "HTTPS": "0",
            "SECRET_KEY": "benchmark-only-secret-key-not-for-production",
            "ALLOWED_HOSTS": "127.0.0.1",
            "DATA_DIR": str(work),
            "OTP_REQUIRED_FOR_AUDITORS_AND_ADMINS": "0",
            "LOG_LEVEL": "WARNING",
            "STORAGE_BACKEND": "local",
        }
        env.pop("REDIS_URL", None)  # preparing runs the workers' jobs in-process
        began = time.perf_counter()
        plan_path = work / "plan.json"
        subprocess.run(
            [sys.executable, __file__, "--prepare", str(plan_path), "--users", str(args.users)],
            env=env,
            cwd=ROOT,
            check=True,
        )
        plan = json.loads(plan_path.read_text())
        build = time.perf_counter() - began
        print(f"data built in {build:.0f} s: {plan['counts']}", flush=True)

        uploads = upload_images(12)
        port = free_port()
        host = f"http://127.0.0.1:{port}"
        gunicorn = start_gunicorn(env | {"REDIS_URL": redis_url}, port, args.workers, args.threads, work)
        memory = Memory(gunicorn)
        sampler, cpu = gevent.spawn(memory.sample), None
        try:
            classes = user_classes(plan, uploads, paced=True)
            counts = people(args.users)
            for role in ROLES:
                classes[role].fixed_count = counts[role]
            paced_classes, total = [classes[role] for role in ROLES], sum(counts.values())
            print(f"warm-up {args.warmup:.0f} s, then {total} paced users for {args.seconds:.0f} s", flush=True)
            run_locust(paced_classes, host, total, args.warmup)
            cpu = Cpu(gunicorn, database_url.rsplit("/", 1)[-1].split("?")[0] if database_url else "")
            watcher, load = gevent.spawn(cpu.watch), [os.getloadavg()[0]]
            paced, paced_seconds = run_locust(
                paced_classes, host, total, args.seconds, PACED_SETTLE, cpu=cpu, phase="paced"
            )
            spent = {"paced": paced["cpu_seconds"] | {"wall": round(paced_seconds, 1)}}
            saturation, spent["saturation"] = {}, {"wall": 0.0}
            for name, role in SATURATED.items():
                print(f"saturation: {name}", flush=True)
                result, elapsed = run_locust(
                    [hammer(name, role, plan)], host, args.saturation_users, args.saturation_seconds, SETTLE, cpu
                )
                figures, used = result["endpoints"].get(name, {}), result["cpu_seconds"]
                for key, value in used.items():
                    spent["saturation"][key] = round(spent["saturation"].get(key, 0.0) + value, 1)
                spent["saturation"]["wall"] = round(spent["saturation"]["wall"] + elapsed, 1)
                served = figures.get("requests", 0)
                web_ms = 1000 * (used["gunicorn"] + used["database"]) / served if served else None
                saturation[name] = {
                    "requests_per_s": figures.get("requests_per_s", 0.0),
                    "requests": served,
                    "errors": figures.get("errors", 0),
                    "p50_ms": figures.get("p50_ms"),
                    "p95_ms": figures.get("p95_ms"),
                    # CPU of gunicorn and PostgreSQL per request, whatever else the machine was doing, and
                    # what that would allow on all of the machine's cores with nothing else running.
                    "server_cpu_ms_per_request": round(web_ms, 1) if web_ms else None,
                    "requests_per_s_if_cores_were_free": round(os.cpu_count() * 1000 / web_ms, 1) if web_ms else None,
                    "cpu_seconds": used,
                }
            load.append(os.getloadavg()[0])
        finally:
            memory.running = False
            sampler.join(timeout=2)
            if cpu is not None:
                cpu.running = False
                watcher.join(timeout=2)
            stop(gunicorn)
            import redis

            redis.Redis.from_url(redis_url).flushdb()
        for name, figures in server_times(work / "access.log", "paced").items():
            if name in paced["endpoints"]:
                paced["endpoints"][name].update(figures)
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    result = {
        "paced": paced["endpoints"],
        "saturation": saturation,
        "web_rss_mb": memory.figures(),
        "errors": paced["errors"],
        "cpu_seconds": spent,
        "machine": {
            "cpu_model": cpu_model,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1min": {"before_paced": load[0], "after_saturation": load[1]},
        },
        "parameters": {
            "users": args.users,
            "people": people(args.users),
            "seconds": round(paced_seconds, 1),
            "wait_s": [1, 3],
            "warmup_seconds": args.warmup,
            "saturation_seconds": args.saturation_seconds,
            "saturation_users": args.saturation_users,
            "gunicorn_workers": args.workers,
            "gunicorn_threads": args.threads,
            "database": "postgresql" if database_url else "sqlite",
            "broker": redis_url,
            "data": plan["counts"],
            "build_seconds": plan["build_seconds"],
            "commit": commit(),
        },
    }
    print_table(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


def commit() -> str:
    """The code measured: the commit, and whether the working tree differed from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return "unknown"
    return head.stdout.strip() + (" with uncommitted changes" if dirty.stdout.strip() else "")


def print_table(result: dict) -> None:
    print(f"\n{result['parameters']['users']} users, {result['parameters']['seconds']} s, {result['machine']}")
    print(f"CPU seconds: {result['cpu_seconds']}")
    header = f"{'endpoint':<22} {'requests':>8} {'errors':>6} {'p50':>6} {'p95':>6} {'p99':>6}"
    print(f"{header} {'sat. req/s':>10} {'CPU ms/req':>10} {'free req/s':>10}")
    for name in sorted({*result["paced"], *result["saturation"]}):
        paced, saturated = result["paced"].get(name, {}), result["saturation"].get(name, {})
        figures = [paced.get(key, "-") for key in ("requests", "errors", "p50_ms", "p95_ms", "p99_ms")]
        figures += [
            saturated.get(key) or "-"
            for key in ("requests_per_s", "server_cpu_ms_per_request", "requests_per_s_if_cores_were_free")
        ]
        print(f"{name:<22} " + " ".join(f"{figure:>{width}}" for figure, width in zip(figures, WIDTHS, strict=True)))
    own = {name: [figures.get(f"server_p{q}_ms", "-") for q in (50, 95, 99)] for name, figures in paced_items(result)}
    print("paced, the server's own p50/p95/p99 (ms): " + "; ".join(f"{n} {a}/{b}/{c}" for n, (a, b, c) in own.items()))
    print(f"web RSS (MB): {result['web_rss_mb']}")
    if result["errors"]:
        print(f"errors: {result['errors']}")


WIDTHS = (8, 6, 6, 6, 6, 10, 10, 10)


def paced_items(result: dict) -> list[tuple[str, dict]]:
    return sorted(result["paced"].items())


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--prepare":
        users = int(sys.argv[sys.argv.index("--users") + 1])
        prepare(Path(sys.argv[2]), users)
    else:
        main()
