"""Leads search latency and the import rate of one CPU worker.

``PYTHONPATH=. python benchmarks/leads.py [--sizes 1000 100000 1000000] [--photos 100] [--json PATH]``

1. Search: a ``inversion.leads.DescriptorIndex`` of N synthetic 128-d
   descriptors (normal, scaled to dlib's length of about 1; exact search
   does not depend on the values), searched with a sketch and three
   composites (one per style), k=50, fused by ``inversion.leads.fuse``:
   p50 / p95 over ``--searches`` searches, after one warm-up. Also the time
   to add one photo to the index (keeping it current on import).
2. Import: ``cases.derived.derive(data)`` on the bytes of real LFW photos
   (``../shared/data/lfw-deepfunneled.tar.gz``; skipped with a message when
   absent), the per-photo work a worker does on import: photos per second,
   and where the time goes (cProfile, the stages of ``derive``).

Everything on one thread (BLAS, PyTorch, OpenMP): one CPU worker.
"""

from __future__ import annotations

import os

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"  # before NumPy loads its BLAS

import argparse  # noqa: E402
import cProfile  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import tarfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LFW = ROOT.parent / "shared" / "data" / "lfw-deepfunneled.tar.gz"
KINDS = ["sketch", "composite", "composite", "composite"]
#: The functions of derive's stages, as cProfile names them (file suffix, function).
STAGES = {
    "decode (processing_image)": ("cases/uploads.py", "processing_image"),
    "resize to the working copy": ("PIL/Image.py", "resize"),
    "encode PNG and WebP (Image.save)": ("PIL/Image.py", "save"),
    "face detection (HOG)": ("inversion/align.py", "detect"),
    "aligned crop (landmarks, chip)": ("inversion/align.py", "align"),
    "dlib descriptor": ("inversion/evaluate.py", "describe"),
}


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2)}


def search_latency(size: int, searches: int, seed: int = 0) -> dict:
    from inversion.leads import DescriptorIndex

    rng = np.random.default_rng(seed)
    index = DescriptorIndex()
    for start in range(0, size, 100_000):
        count = min(100_000, size - start)
        index.add(range(start, start + count), rng.normal(scale=0.09, size=(count, 128)).astype(np.float32))
    probes = rng.normal(scale=0.09, size=(len(KINDS), 128)).astype(np.float32)
    index.search(probes, KINDS, k=50)  # warm-up
    times = []
    for _ in range(searches):
        began = time.perf_counter()
        index.search(probes, KINDS, k=50)
        times.append(time.perf_counter() - began)
    adds = []
    for n in range(20):
        vector = rng.normal(scale=0.09, size=(1, 128)).astype(np.float32)
        began = time.perf_counter()
        index.add([size + n], vector)
        adds.append(time.perf_counter() - began)
    return {"gallery": size, "searches": searches, **percentiles(times), "add_one": percentiles(adds)}


def lfw_photos(count: int) -> list[bytes]:
    """The bytes of ``count`` LFW photos, one per person, in archive order."""
    photos, people = [], set()
    with tarfile.open(LFW) as archive:
        for member in archive:
            person = Path(member.name).parent.name
            if member.isfile() and member.name.endswith(".jpg") and person not in people:
                people.add(person)
                photos.append(archive.extractfile(member).read())
                if len(photos) == count:
                    break
    return photos


def import_rate(count: int) -> dict:
    import django
    import torch

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "forensics.settings")
    os.environ.setdefault("DEBUG", "1")  # the laptop settings: no secrets needed to call derive
    django.setup()
    torch.set_num_threads(1)
    from cases.derived import derive

    photos = lfw_photos(count)
    derive(photos[0])  # loads dlib's models once, as a worker does on its first job
    profile = cProfile.Profile()
    began = time.perf_counter()
    profile.enable()
    faces = sum(derive(data).face_descriptor is not None for data in photos)
    profile.disable()
    elapsed = time.perf_counter() - began
    stats = pstats.Stats(profile).stats
    stages = {}
    for stage, (file, function) in STAGES.items():
        seconds = sum(v[3] for (f, _, name), v in stats.items() if f.endswith(file) and name == function)
        stages[stage] = round(seconds / len(photos) * 1000, 1)
    import dlib

    return {
        "dlib": f"{dlib.__version__}, BLAS {'on' if dlib.DLIB_USE_BLAS else 'off'}",
        "photos": len(photos),
        "faces_found": faces,
        "photos_per_second": round(len(photos) / elapsed, 2),
        "ms_per_photo": round(elapsed / len(photos) * 1000, 1),
        "ms_per_photo_by_stage": stages,
        "note": "cProfile's cumulative time per stage (a stage may call another's functions); profiling adds a little",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000, 1_000_000])
    parser.add_argument("--searches", type=int, default=40)
    parser.add_argument("--photos", type=int, default=100, help="LFW photos to import (0: skip)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)

    report: dict = {"cpu": cpu_model(), "cpus": os.cpu_count(), "threads": 1, "numpy": np.__version__}
    report["search"] = []
    for size in args.sizes:
        result = search_latency(size, args.searches if size < 1_000_000 else max(5, args.searches // 4))
        report["search"].append(result)
        print(f"search, {size:>9,} photos: p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms", flush=True)
    if args.photos <= 0:
        report["import"] = "skipped (--photos 0)"
    elif not LFW.is_file():
        report["import"] = f"skipped: {LFW} is missing (../shared/data, see its README)"
        print(report["import"])
    else:
        report["import"] = import_rate(args.photos)
        rate = report["import"]
        print(f"import: {rate['photos_per_second']} photos/s per CPU worker ({rate['ms_per_photo']} ms a photo)")
        print("  " + ", ".join(f"{stage} {ms} ms" for stage, ms in rate["ms_per_photo_by_stage"].items()))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
