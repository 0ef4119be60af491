"""End-to-end throughput of the composite pipeline.

``PYTHONPATH=. python benchmarks/pipeline.py [--composites 32] [--batch-sizes 1 8]``

Composites per minute from request to done, through PostgreSQL, Redis and one
real ``celery worker`` process (``--concurrency 1``, on the CPU), for each
batch size, and the mean time of each stage as the worker recorded it in the
composite (``parameters["pipeline"]["stages_ms"]``): queue wait (requested
until claimed), load (the network; cached after the process's first job),
inference (face alignment and the network, for the whole batch), encode
(label and PNG) and save (storage).

Method: a fresh database ``forensics_bench`` (``BENCH_DATABASE_URL``) and
Redis database 14 (``BENCH_REDIS_URL``, flushed), files in a temporary
folder. For each batch size a worker is started and waits until its process
has loaded the networks; ``--composites`` different generated sketches
(``--size`` pixels square) are uploaded, then a composite of each is
requested, one after another, through ``cases.services.request_composite``,
as a busy forensic artist's requests would be, and the clock stops when the
last is done. Each request carries a face box, as an artist draws one (the
detector finds no face in a generated sketch), so the worker aligns from the
box without running the face detector. Distinct sketches, so
no output is reused. The trained weights in ``inversion/weights`` are used
when the line model is installed (``--weights`` names another folder, to time
two resolutions in one sitting), else a random-weight network of the same
architecture (speed does not depend on the weights); the output says which.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("queue_wait", "load", "inference", "encode", "save")


def prepare_environment(work: Path, database_url: str, redis_url: str, shipped: Path) -> str:
    """Environment for this process and the worker; returns which weights are used."""
    from inversion import STYLES

    if (shipped / "line.pt").is_file() and (shipped / "line.json").is_file():  # the style benchmarked
        weights, which = shipped, f"trained weights in {shipped} ({resolution_of(shipped / 'line.json')} px)"
    else:
        weights, which = work / "weights", "random-weight networks at 96 px (trained weights not installed)"
        for style in STYLES:
            write_random_weights(weights / f"{style}.pt", style)
    os.environ.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        INVERSION_QUEUE="inversion-bench",
        INVERSION_WEIGHTS_DIR=str(weights),
        DATA_DIR=str(work),
        SECRET_KEY=os.environ.get("SECRET_KEY", "benchmark-only-secret-key"),
        DJANGO_SETTINGS_MODULE="forensics.settings",
        LOG_LEVEL="WARNING",
    )
    return which


def resolution_of(card: Path) -> int:
    return json.loads(card.read_text()).get("resolution", 96)


def write_random_weights(path: Path, style: str) -> None:
    """A random-weight network of the shipped architecture and resolution, with its model card."""
    import torch

    from inversion.align import RESOLUTION
    from inversion.checkpoints import save_checkpoint, sha256_of
    from inversion.model import SketchInversionNet

    torch.manual_seed(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"model": SketchInversionNet.for_style(style).state_dict(), "step": 0}
    save_checkpoint(path, state, metadata={"style": style, "resolution": RESOLUTION})
    card = {"file": path.name, "weights_sha256": sha256_of(path), "note": "random weights for the benchmark"}
    path.with_suffix(".json").write_text(json.dumps(card))


def services_missing(database_url: str, redis_url: str) -> str:
    import psycopg2
    import redis

    try:
        psycopg2.connect(database_url.rsplit("/", 1)[0] + "/postgres", connect_timeout=3).close()
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except (psycopg2.Error, redis.RedisError) as error:
        return f"needs PostgreSQL at {database_url} and Redis at {redis_url} ({type(error).__name__}: {error})"
    return ""


def create_database(database_url: str) -> None:
    """A fresh, empty database for this run."""
    import psycopg2
    from psycopg2 import sql

    base, name = database_url.rsplit("/", 1)
    connection = psycopg2.connect(base + "/postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    connection.close()


def start_worker(batch_size: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "INVERSION_BATCH_SIZE": str(batch_size), "LOG_LEVEL": "INFO"}
    command = [sys.executable, "-m", "celery", "-A", "forensics", "worker", "-Q", "inversion-bench", "-n", "bench@%h"]
    process = subprocess.Popen(
        [*command, "--concurrency", "1", "--loglevel", "INFO", "--without-heartbeat", "--without-gossip"],
        env=env,
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if " ready." in text and "inversion worker pid " in text:
            return process
        if process.poll() is not None:
            break
        time.sleep(0.2)
    stop_worker(process)
    raise SystemExit(f"the worker did not start:\n{log.read_text(errors='replace')}")


def stop_worker(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def sketch_png(seed: int, size: int) -> bytes:
    from PIL import Image

    from tests.inversion_fixtures import generated_face

    buffer = io.BytesIO()
    Image.fromarray(generated_face(seed, 128)).resize((size, size), Image.Resampling.BICUBIC).save(buffer, "PNG")
    return buffer.getvalue()


def run(batch_size: int, composites: int, size: int, seed: int, work: Path) -> dict:
    from cases import services
    from cases.models import Composite

    user, case = _case()
    sketches = [
        services.add_sketch(case, io.BytesIO(sketch_png(seed + i, size)), user=user, style="line")
        for i in range(composites)
    ]
    began = time.perf_counter()
    worker = start_worker(batch_size, work / f"worker-{batch_size}.log")
    worker_start = time.perf_counter() - began
    try:
        started = time.perf_counter()
        box = {"box": [size // 8, size // 8, size * 7 // 8, size * 7 // 8]}  # the artist's box: no face detector
        requested = [services.request_composite(s, "line", user=user, parameters=box)[0].pk for s in sketches]
        pending = Composite.objects.filter(pk__in=requested, status__in=["requested", "running"])
        deadline = time.monotonic() + 900
        while pending.exists():
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit(f"composites not done in time; see {work}/worker-{batch_size}.log")
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        stop_worker(worker)
    rows = list(Composite.objects.filter(pk__in=requested))
    failed = [row.error_message for row in rows if row.status != "done"]
    if failed:
        raise SystemExit(f"{len(failed)} composites failed: {failed[0]}")
    stages = [row.parameters["pipeline"]["stages_ms"] for row in rows]
    return {
        "batch_size": batch_size,
        "composites": composites,
        "seconds": round(elapsed, 2),
        "composites_per_minute": round(composites / elapsed * 60, 1),
        "batches_run": len({(row.started_at, row.batch_size) for row in rows}),
        "mean_batch": round(statistics.mean(row.batch_size for row in rows), 2),
        "stage_mean_ms": {stage: round(statistics.mean(s.get(stage, 0) for s in stages), 1) for stage in STAGES},
        "device": rows[0].device,
        "worker_start_seconds": round(worker_start, 1),
    }


def _case():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from accounts.roles import GlobalRole
    from cases import services
    from cases.models import Case

    user, _ = get_user_model().objects.get_or_create(username="benchmark")
    user.groups.add(Group.objects.get_or_create(name=GlobalRole.FORENSIC_ARTIST)[0])
    case = Case.objects.filter(reference="BENCH-PIPELINE").first()
    if case is None:
        case = services.create_case(user=user, reference="BENCH-PIPELINE", title="Pipeline benchmark")
    return user, case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--composites", type=int, default=32, help="composites requested per batch size")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--size", type=int, default=600, help="side of the generated sketches, pixels")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--weights",
        type=Path,
        default=ROOT / "inversion" / "weights",
        help="folder of weights and cards (default: the shipped ones), to time two resolutions in one sitting",
    )
    args = parser.parse_args()

    database_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/forensics_bench")
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    missing = services_missing(database_url, redis_url)
    if missing:
        print(f"pipeline benchmark skipped: {missing}")
        return
    with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as folder:
        work = Path(folder)
        weights = prepare_environment(work, database_url, redis_url, args.weights.resolve())
        create_database(database_url)
        import django
        import redis

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        redis.Redis.from_url(redis_url).flushdb()
        results = [
            run(batch, args.composites, args.size, seed=1000 * i, work=work) for i, batch in enumerate(args.batch_sizes)
        ]
        redis.Redis.from_url(redis_url).flushdb()

    import torch

    print(f"weights: {weights}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}")
    print(f"{args.composites} composites per run, sketches {args.size}x{args.size}, one worker, --concurrency 1")
    print("stage columns: mean milliseconds per composite (inference: the whole batch's)\n")
    header = "batch  composites/min  seconds  mean batch  " + "  ".join(f"{s:>10}" for s in STAGES)
    header += "  worker start (s)"
    print(header)
    for r in results:
        stages = "  ".join(f"{r['stage_mean_ms'][s]:>10}" for s in STAGES)
        figures = f"{r['batch_size']:>5}  {r['composites_per_minute']:>14}  {r['seconds']:>7}  {r['mean_batch']:>10}"
        print(f"{figures}  {stages}  {r['worker_start_seconds']:>16}")
    if args.json:
        Path(args.json).write_text(json.dumps({"weights": weights, "results": results}, indent=2))


if __name__ == "__main__":
    main()
