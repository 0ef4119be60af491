"""The shipped grayscale model on real hand-drawn sketches it never saw.

Every third pair of ``inversion/splits/cufs_val.txt`` (22 of the 67 held-out
CUFS pairs), evaluated as ``docs/MODEL_REPORT.md`` does. Guards the issue's
image-similarity targets against a weights change that breaks them; the
full figures, rank-1 included, are the report's.
"""

import tarfile
from pathlib import Path

import pytest

from inversion import inference
from inversion.evaluate import evaluate

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SPLITS = Path(inference.__file__).resolve().parent / "splits"


@pytest.fixture(scope="module")
def held_out_pairs(tmp_path_factory):
    archive = DATA / "cufs-train.tar.gz"
    if not archive.is_file():
        pytest.skip(f"face data not available: {archive} is absent (see ../shared/data/README.md)")
    if not inference.weights_path("grayscale").is_file():
        pytest.skip("no shipped grayscale weights")
    folder = tmp_path_factory.mktemp("cufs")
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    return folder, (SPLITS / "cufs_val.txt").read_text().split()[::3]


@pytest.mark.data
@pytest.mark.slow
def test_grayscale_composites_are_closer_to_the_photo_than_the_hand_drawn_sketch(held_out_pairs):
    folder, names = held_out_pairs
    inference.reset_models()
    report = evaluate("grayscale", folder / "train_photos", folder / "train_sketches", names=names)
    inference.reset_models()
    assert report["pairs"] == len(names) == 23 and report["sketches_without_face"] == 0
    composite, sketch = report["composite"], report["sketch"]
    assert composite["ssim"] > sketch["ssim"] + 0.1
    assert composite["fsim"] > sketch["fsim"] + 0.05
    assert composite["pearson"] > sketch["pearson"]
