"""Training packs (inversion.pack) and the training options made for a rented
GPU machine: batches built by worker processes, a time budget, snapshots,
and the script that runs the GPU stages."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from inversion import pack
from inversion.checkpoints import load_checkpoint
from inversion.data import AlignedPhotos, PairedSketches, SyntheticSketches
from inversion.train import StepBatches, fitted_steps, train

from .inversion_fixtures import generated_face
from .test_inversion_training import config

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def photos():
    faces = [generated_face(seed, size=32) for seed in range(12)]
    people = [f"p{i // 3}" for i in range(12)]  # three photos of each of four people
    return AlignedPhotos(np.stack(faces), [f"{p}/{i}.png" for i, p in enumerate(people)], people)


@pytest.fixture
def hand_drawn(tmp_path):
    folder = tmp_path / "cufs"
    for sub, offset in (("photos", 0), ("sketches", 50)):
        (folder / sub).mkdir(parents=True)
        for k in range(3):
            Image.fromarray(generated_face(k + offset, size=64)).save(folder / sub / f"AR_{k}.png")
    names = tmp_path / "names.txt"
    names.write_text("AR_0\nAR_2\n")
    return folder, names


@pytest.fixture
def packed(tmp_path, photos, hand_drawn, monkeypatch):
    monkeypatch.setattr(pack, "load_aligned", lambda source, size: photos)
    folder, names = hand_drawn
    out = tmp_path / "train.pack.npz"
    pack.pack(pack.PackConfig(out, ["celeba.tar.gz"], "grayscale", folder, names, resolution=32))
    return out


def test_a_pack_gives_back_the_photos_and_the_listed_hand_drawn_pairs(packed, photos, hand_drawn):
    unpacked = pack.read_photos(packed)
    assert unpacked.paths == photos.paths and unpacked.identities == photos.identities
    assert unpacked.photos.shape == photos.photos.shape
    error = np.abs(unpacked.photos.astype(int) - photos.photos.astype(int)).mean()
    assert 0 < error < 10  # JPEG: close (the generated faces have hard colour edges), not identical

    folder, names = hand_drawn
    expected = PairedSketches.from_folder(folder, "grayscale", 32, names.read_text().split())
    pairs = pack.read_pairs(packed, "grayscale")
    assert pairs.stems == expected.stems == ["AR_0", "AR_2"]
    for got, want in zip(pairs.sketches + pairs.photos, expected.sketches + expected.photos, strict=True):
        assert np.array_equal(got, want)  # the pairs are stored exactly
    assert pairs.sketches[0].ndim == 2  # converted to the style trained
    assert pack.read_pairs(packed, "grayscale", ["AR_2"]).stems == ["AR_2"]


def test_per_identity_keeps_the_first_photos_of_each_person(photos):
    kept = pack.at_most_per_identity(photos, 2)
    assert kept.paths == [p for i, p in enumerate(photos.paths) if i % 3 < 2]


def test_a_pack_without_pairs_or_with_another_name_is_refused(tmp_path, photos, monkeypatch):
    monkeypatch.setattr(pack, "load_aligned", lambda source, size: photos)
    with pytest.raises(SystemExit, match=r"\.pack\.npz"):
        pack.pack(pack.PackConfig(tmp_path / "train.npz", ["x"]))
    out = pack.pack(pack.PackConfig(tmp_path / "photos.pack.npz", ["x"], resolution=32))
    with pytest.raises(ValueError, match="no hand-drawn pairs"):
        pack.read_pairs(out, "grayscale")


def test_worker_processes_build_the_same_batches_as_the_training_process(tmp_path, photos, hand_drawn):
    folder, _ = hand_drawn
    run = config(tmp_path / "run.pt", steps=6)
    run.hand_drawn_fraction, run.mirror_hand_drawn = 0.5, True
    pairs = PairedSketches.from_folder(folder, "grayscale", 32)
    batches = StepBatches(run, SyntheticSketches(photos, "grayscale", seed=0), pairs)
    by_workers = list(DataLoader(batches, batch_size=None, sampler=range(2, 6), num_workers=2))
    for step, batch in zip(range(2, 6), by_workers, strict=True):
        here = batches[step]
        assert torch.equal(batch["sketch"], here["sketch"]) and torch.equal(batch["photo"], here["photo"])
    assert not torch.equal(by_workers[0]["sketch"], by_workers[1]["sketch"])


def test_training_from_a_pack_with_workers(tmp_path, packed):
    run = config(tmp_path / "run.pt", steps=12)
    run.data, run.hand_drawn, run.workers = [str(packed)], packed, 2
    train(run)
    state = load_checkpoint(run.out)
    assert state["step"] == 12 and state["metadata"]["hand_drawn_pairs"] == 2  # the pairs packed
    assert state["metadata"]["train_photos"] == 9  # one of the four people held out for validation


def test_a_time_budget_cuts_the_steps_after_measuring_the_rate(tmp_path, photos):
    run = config(tmp_path / "run.pt", steps=100)
    run.time_budget = 0.001  # spent before the first step: the run stops right after the measurement
    train(run, photos)
    state = load_checkpoint(run.out)
    assert state["step"] == 61 and state["metadata"]["steps"] == 61
    assert state["metadata"]["time_budget"] == 0.001


def test_fitted_steps_keep_a_margin_and_never_exceed_the_request():
    run = config("run.pt", steps=1000)
    assert fitted_steps(run, step=60, steps_per_second=10.0, seconds_left=20.0) == 60 + 190
    assert fitted_steps(run, step=60, steps_per_second=10.0, seconds_left=1e6) == 1000


def test_snapshots_keep_the_half_precision_weights_of_each_part_of_the_run(tmp_path, photos):
    run = config(tmp_path / "run.pt", steps=12)
    run.snapshots = 3
    train(run, photos)
    kept = sorted(p.name for p in tmp_path.glob("run.step_*.pt"))
    assert kept == ["run.step_000004.pt", "run.step_000008.pt", "run.step_000012.pt"]
    last, final = load_checkpoint(tmp_path / kept[-1]), load_checkpoint(run.out)
    assert "optimizer" not in last and last["metadata"]["steps"] == 12
    for name, value in final["model"].items():
        if value.is_floating_point():
            assert last["model"][name].dtype == torch.float16
            assert torch.equal(last["model"][name], value.half())


def test_a_pack_made_at_another_resolution_is_refused(tmp_path, packed):
    run = config(tmp_path / "run.pt", steps=2)
    run.data, run.resolution = [str(packed)], 48
    with pytest.raises(SystemExit, match="32 px, --resolution is 48"):
        train(run)
    run.data, run.resolution, run.hand_drawn = [str(packed)], 32, packed
    pairs_at_48 = pack.read_pairs(packed, "grayscale")
    pairs_at_48.photos = [np.zeros((48, 48, 3), np.uint8) for _ in pairs_at_48.photos]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("inversion.train.read_pairs", lambda *args: pairs_at_48)
        with pytest.raises(SystemExit, match="hand-drawn pairs are 48 px"):
            train(run)


#: Flags that shrink a GPU script's runs to a toy on the CPU (they go last, so they win).
TOY = ["--feature-net", "none", "--batch-size", "4", "--feature-batch", "4", "--steps", "3", "--resolution", "32"]
TOY += ["--workers", "0", "--precision", "fp32", "--device", "cpu"]


@pytest.fixture
def listed(tmp_path, photos, monkeypatch):
    """A 32 px pack of ``photos`` with two hand-drawn pairs that inversion/splits/cufs_train.txt lists."""
    folder = tmp_path / "listed"
    for sub, offset in (("photos", 0), ("sketches", 50)):
        (folder / sub).mkdir(parents=True)
        for k, stem in enumerate(("AR_100", "AR_102")):
            Image.fromarray(generated_face(k + offset, size=64)).save(folder / sub / f"{stem}.png")
    monkeypatch.setattr(pack, "load_aligned", lambda source, size: photos)
    return pack.pack(pack.PackConfig(tmp_path / "listed.pack.npz", ["x"], "grayscale", folder, resolution=32))


def test_the_gpu_script_runs_both_rounds_from_a_pack(tmp_path, packed, listed, photos):
    """inversion/train_gpu.sh at toy size: round 1 warm-starts from stage 5,
    round 2 from each round-1 run's last snapshot; a failed run fails it."""
    stage5 = tmp_path / "stage5.pt"
    train(config(stage5, steps=1), photos)

    runs = tmp_path / "runs"
    env = {"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "STAGE5": str(stage5), "PYTHONPATH": str(ROOT)}

    def script(round_, pack_file):
        command = ["bash", "inversion/train_gpu.sh", round_, str(pack_file), str(runs), "60", *TOY]
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)

    failed = script("1", packed)  # none of its pairs is in the training split
    assert failed.returncode != 0 and "run a failed" in failed.stderr and "run b failed" in failed.stderr
    for round_ in ("1", "2"):
        assert script(round_, listed).returncode == 0
    for run in ("gpu1-a", "gpu1-b", "gpu2-a", "gpu2-b"):
        assert load_checkpoint(runs / f"{run}.step_000003.pt")["metadata"]["steps"] == 3
    assert load_checkpoint(runs / "gpu1-a.pt")["metadata"]["init"] == str(stage5)
    round_two = load_checkpoint(runs / "gpu2-b.pt")["metadata"]
    assert round_two["init"] == str(runs / "gpu1-b.step_000003.pt") and round_two["hand_drawn_pairs"] == 2


def test_the_128_px_gpu_script_trains_the_three_styles_with_drawn_and_hand_drawn_sketches(tmp_path, photos, listed):
    """inversion/train_gpu_128.sh at toy size: the three styles side by side, each from its own
    starting weights, each batch mixing procedural, pencil-drawn and hand-drawn sketches."""
    from dataclasses import replace

    weights = tmp_path / "weights"
    weights.mkdir()
    for style in ("line", "grayscale", "color"):
        train(replace(config(weights / f"{style}.pt", steps=1), style=style), photos)
    drawings = np.stack([np.asarray(Image.fromarray(p).convert("L")) for p in photos.photos])
    np.savez(tmp_path / "drawn.npz", sketches=drawings, paths=np.array(photos.paths))

    runs = tmp_path / "runs"
    env = {"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "WEIGHTS": str(weights), "PYTHONPATH": str(ROOT)}
    command = ["bash", "inversion/train_gpu_128.sh", str(listed), str(tmp_path / "drawn.npz"), str(runs), "60", *TOY]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)

    assert done.returncode == 0, done.stderr + "".join(p.read_text()[-2000:] for p in runs.glob("*.log"))
    for style in ("line", "grayscale", "color"):
        metadata = load_checkpoint(runs / f"{style}-128.pt")["metadata"]
        assert metadata["style"] == style and metadata["steps"] == 3
        assert metadata["init"] == str(weights / f"{style}.pt")
        assert metadata["hand_drawn_pairs"] == 2 and metadata["drawn_pairs"] > 0 and metadata["drawn_fraction"] == 0.25
