import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inversion import train as training
from inversion.checkpoints import load_checkpoint, save_checkpoint
from inversion.data import AlignedPhotos, PairedSketches, to_tensor
from inversion.losses import LossWeights
from inversion.train import TrainConfig, parse_args, train

from .inversion_fixtures import generated_face


@pytest.fixture
def photos():
    faces = [generated_face(seed, size=32) for seed in range(12)]
    return AlignedPhotos(np.stack(faces), [f"p{i}/face.png" for i in range(12)], [f"p{i}" for i in range(12)])


def config(out, steps):
    return TrainConfig(
        style="grayscale",
        data=[],
        out=out,
        steps=steps,
        batch_size=4,
        resolution=32,
        feature_net="none",
        device="cpu",
        resume=True,
        checkpoint_every=10,
        precision="fp32",
        holdout=0.2,
        learning_rate=3e-3,
        weights=LossWeights(identity=0.0),
    )


def losses(path):
    with open(path) as f:
        return [(int(row["step"]), float(row["total"])) for row in csv.DictReader(f)]


def test_thirty_steps_lower_the_loss_and_resume_from_the_checkpoint(tmp_path, photos):
    out = tmp_path / "run.pt"
    train(config(out, steps=20), photos)
    assert load_checkpoint(out)["step"] == 20

    train(config(out, steps=30), photos)  # picks up at step 20
    state = load_checkpoint(out)
    assert state["step"] == 30
    assert state["metadata"]["steps"] == 30 and state["metadata"]["resolution"] == 32
    rows = losses(out.with_suffix(".csv"))
    assert [step for step, _ in rows] == list(range(1, 31))  # no step run twice or skipped
    first, last = np.mean([v for _, v in rows[:5]]), np.mean([v for _, v in rows[-5:]])
    assert last < first * 0.8
    assert sorted(p.name for p in out.with_suffix(".samples").iterdir()) == [
        "step_000010.png",
        "step_000020.png",
        "step_000030.png",
    ]


class Interrupted(Exception):
    """Stands in for a killed process."""


def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, photos, monkeypatch):
    """Four steps in one go against two steps, a crash right after the
    checkpoint, and a resume: the same weights, optimiser moments and
    discriminator, bit for bit, and the same logged losses."""

    def run(out):
        run = config(out, steps=4)
        run.checkpoint_every, run.adversarial = 2, True
        run.weights.adversarial = 0.05
        return run

    train(run(tmp_path / "whole.pt"), photos)

    def save_then_crash(path, state, metadata):
        save_checkpoint(path, state, metadata)
        if "optimizer" in state and state["step"] == 2:
            raise Interrupted

    with monkeypatch.context() as patch:
        patch.setattr(training, "save_checkpoint", save_then_crash)
        with pytest.raises(Interrupted):
            train(run(tmp_path / "resumed.pt"), photos)
    assert load_checkpoint(tmp_path / "resumed.pt")["step"] == 2
    train(run(tmp_path / "resumed.pt"), photos)

    whole, resumed = load_checkpoint(tmp_path / "whole.pt"), load_checkpoint(tmp_path / "resumed.pt")
    assert resumed["step"] == whole["step"] == 4
    for part in ("model", "discriminator"):
        assert whole[part].keys() == resumed[part].keys()
        for name, value in whole[part].items():
            assert torch.equal(resumed[part][name], value), f"{part}.{name}"
    for part in ("optimizer", "discriminator_optimizer"):
        for index, moments in whole[part]["state"].items():
            for key, value in moments.items():
                assert torch.equal(resumed[part]["state"][index][key], value), f"{part} {index} {key}"
    assert losses(tmp_path / "resumed.csv") == losses(tmp_path / "whole.csv")


def test_command_line_fills_the_config_and_leaves_the_thread_count_to_train():
    threads = torch.get_num_threads()
    command = ["--style", "line", "--data", "a.tar.gz:train", "b", "--out", "x.pt", "--steps", "5"]
    command += ["--feature-net", "none", "--total-variation-weight", "0.5", "--threads", str(threads + 1)]
    config = parse_args(command)
    assert config.style == "line" and config.data == ["a.tar.gz:train", "b"] and config.steps == 5
    assert config.weights.total_variation == 0.5 and config.weights.identity == 0.0
    assert config.threads == threads + 1 and torch.get_num_threads() == threads


def test_every_flag_left_out_takes_the_configs_default():
    config = parse_args(["--style", "color", "--data", "faces", "--out", "run.pt"])
    assert config == TrainConfig(style="color", data=["faces"], out=Path("run.pt"))


def test_a_mirrored_hand_drawn_pair_flips_sketch_and_photo_together(tmp_path):
    for folder, seed in (("photos", 1), ("sketches", 2)):
        (tmp_path / folder).mkdir()
        Image.fromarray(generated_face(seed, size=64)).save(tmp_path / folder / "AR_1.png")
    pairs = PairedSketches.from_folder(tmp_path, size=32)
    plain, mirrored = pairs.pair(0), pairs.pair(0, mirrored=True)
    for key in ("sketch", "photo"):
        assert torch.equal(mirrored[key], plain[key].flip(-1))
        assert not torch.equal(mirrored[key], plain[key])


def test_drawn_sketches_of_the_training_photos_take_their_share_of_each_batch(tmp_path, photos):
    """``--drawn``: the pencil model's drawings (here: each photo's grey, inverted, to know it by) are paired
    with their photos by path; the held-out people's drawings are never used."""
    drawings = np.stack([255 - np.asarray(Image.fromarray(p).convert("L")) for p in photos.photos])
    np.savez(tmp_path / "drawn.npz", sketches=drawings, paths=np.array(photos.paths))
    run = config(tmp_path / "run.pt", steps=3)
    run.drawn, run.drawn_fraction = tmp_path / "drawn.npz", 0.5
    data = training.TrainingData.load(run, photos)

    assert sorted(data.drawn.stems) == sorted(data.train_photos.paths)  # training photos only
    assert len(data.drawn) < len(photos)  # holdout=0.2 kept some people out
    batch = training.StepBatches(run, data.synthetic, data.hand_drawn, data.drawn)[0]
    known = [to_tensor(d) for d in drawings] + [to_tensor(d[:, ::-1]) for d in drawings]
    drawn_count = sum(any(torch.equal(sketch, k) for k in known) for sketch in batch["sketch"])
    assert drawn_count == 2  # half of a batch of 4


def test_drawn_sketches_at_another_size_are_refused(tmp_path, photos):
    np.savez(tmp_path / "drawn.npz", sketches=np.zeros((12, 16, 16), np.uint8), paths=np.array(photos.paths))
    run = config(tmp_path / "run.pt", steps=3)
    run.drawn = tmp_path / "drawn.npz"
    with pytest.raises(SystemExit, match="16 px"):
        training.TrainingData.load(run, photos)
