"""The photo-to-pencil-sketch model (inversion.pencil): its network, its
training (resumable to the bit), drawing and the grid, on tiny generated faces."""

import signal
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inversion import pencil
from inversion.checkpoints import load_checkpoint

from .inversion_fixtures import generated_face

ROOT = Path(__file__).resolve().parent.parent
SIZE = 64


@pytest.fixture(autouse=True)
def one_thread():
    """One thread, as training asks for: tiny networks only lose time to a second one on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def toy_sketch(photo: np.ndarray) -> np.ndarray:
    """A stand-in for an artist: dark strokes where the photo's brightness changes, on white."""
    grey = photo.astype(np.float32).mean(axis=2)
    edges = np.abs(np.diff(grey, axis=0, prepend=grey[:1])) + np.abs(np.diff(grey, axis=1, prepend=grey[:, :1]))
    return (255 - np.clip(edges * 3, 0, 200)).astype(np.uint8)


def toy_pairs(count: int, offset: int = 0) -> pencil.Pairs:
    photos = np.stack([generated_face(seed + offset, size=SIZE) for seed in range(count)])
    return pencil.Pairs([f"AR_{k + offset}" for k in range(count)], photos, np.stack([toy_sketch(p) for p in photos]))


def config(tmp_path: Path, **changes) -> pencil.TrainConfig:
    small = pencil.TrainConfig(
        out=tmp_path / "pencil.pt", steps=4, batch_size=2, width=4, resolution=SIZE, threads=1, log_every=1
    )
    return replace(small, **changes)


def test_generator_draws_one_grey_channel_in_range_at_the_photo_size():
    photo = torch.rand(2, 3, 128, 128) * 2 - 1
    drawn = pencil.PencilNet(width=8)(photo)
    assert drawn.shape == (2, 1, 128, 128)
    assert drawn.min() >= -1 and drawn.max() <= 1


def test_generator_refuses_a_size_that_is_not_a_multiple_of_32():
    with pytest.raises(ValueError, match="multiple of 32"):
        pencil.PencilNet(width=4)(torch.zeros(1, 3, 96, 80))


def test_a_few_steps_lower_the_loss_on_a_toy_pair(tmp_path):
    torch.manual_seed(0)
    trainer = pencil.Trainer.new(config(tmp_path, learning_rate=2e-3, steps=1000))
    items = pencil.batch(toy_pairs(2), seed=0, step=0, batch_size=2, augmented=False)
    first = trainer.train_step(items["photo"], items["sketch"])
    for _ in range(15):
        last = trainer.train_step(items["photo"], items["sketch"])
    assert last["pixel"] < 0.6 * first["pixel"]
    assert set(first) == {"total", "pixel", "gradient", "adversarial", "critic"}


def test_augmentation_moves_photo_and_sketch_together():
    pairs = toy_pairs(4)
    plain = pencil.batch(pairs, seed=3, step=5, batch_size=4, augmented=False)
    moved = pencil.batch(pairs, seed=3, step=5, batch_size=4)
    assert not torch.equal(plain["sketch"], moved["sketch"])
    # The dark eyes stay dark strokes in the sketch where they went in the photo.
    eyes_in_photo = moved["photo"].mean(1) < -0.6
    assert moved["sketch"][:, 0][eyes_in_photo].mean() < moved["sketch"].mean()


def test_batches_are_a_function_of_seed_and_step():
    pairs = toy_pairs(6)
    assert torch.equal(pencil.batch(pairs, 1, 7, 2)["photo"], pencil.batch(pairs, 1, 7, 2)["photo"])
    assert not torch.equal(pencil.batch(pairs, 1, 7, 2)["photo"], pencil.batch(pairs, 1, 8, 2)["photo"])


def test_resumed_training_continues_at_the_right_step_with_the_weights_of_an_uninterrupted_run(tmp_path):
    pairs, val = toy_pairs(6), toy_pairs(2, offset=50)
    whole = config(tmp_path / "whole")
    pencil.train(whole, pairs, val)

    halves = config(tmp_path / "halves", stop_after=2)
    pencil.train(halves, pairs, val)
    assert load_checkpoint(halves.out)["step"] == 2
    torch.manual_seed(123)  # the process's random state is restored from the checkpoint
    pencil.train(halves, pairs, val)

    resumed, uninterrupted = load_checkpoint(halves.out), load_checkpoint(whole.out)
    assert resumed["step"] == uninterrupted["step"] == 4
    assert resumed["metadata"]["step"] == 4
    for part in ("generator", "critic"):
        for name, value in uninterrupted[part].items():
            assert torch.equal(resumed[part][name], value), f"{part}.{name}"
    assert resumed["metadata"]["metrics"]["val_l1"] == pytest.approx(uninterrupted["metadata"]["metrics"]["val_l1"])


def test_sigterm_saves_and_stops_at_the_step_it_reached(tmp_path, monkeypatch):
    run = config(tmp_path, steps=50)
    original = pencil.Trainer.train_step

    def step_then_terminate(self, photo, sketch):
        losses = original(self, photo, sketch)
        if self.step == 3:
            signal.raise_signal(signal.SIGTERM)
        return losses

    monkeypatch.setattr(pencil.Trainer, "train_step", step_then_terminate)
    before = signal.getsignal(signal.SIGTERM)
    pencil.train(run, toy_pairs(4))
    assert load_checkpoint(run.out)["step"] == 3
    assert signal.getsignal(signal.SIGTERM) is before


def test_training_refuses_validation_pairs_that_it_trains_on(tmp_path):
    with pytest.raises(SystemExit, match="overlap"):
        pencil.train(config(tmp_path), toy_pairs(4), toy_pairs(2))


def test_resuming_refuses_a_checkpoint_of_another_width(tmp_path):
    pencil.train(config(tmp_path, steps=1), toy_pairs(4))
    with pytest.raises(SystemExit, match="width 8"):
        pencil.train(config(tmp_path, steps=2, width=8), toy_pairs(4))


def test_cli_flags_fill_the_config():
    parsed = pencil.parse_args(["train", "--out", "x.pt", "--threads", "1", "--adversarial-weight", "0", "--no-val"])
    assert parsed.out == Path("x.pt") and parsed.threads == 1
    assert parsed.weights.adversarial == 0 and parsed.val_names is None
    assert parsed.names.name == "cufs_train.txt"


@pytest.fixture
def model(tmp_path):
    run = config(tmp_path, steps=1)
    return pencil.train(run, toy_pairs(4))


def test_draw_writes_an_npz_of_sketches_for_a_folder_of_aligned_photos(tmp_path, model):
    folder = tmp_path / "aligned"
    (folder / "ann").mkdir(parents=True)
    for k in range(3):
        Image.fromarray(generated_face(k, size=SIZE)).save(folder / "ann" / f"{k}.png")
    out = pencil.draw(pencil.DrawConfig(model, str(folder), tmp_path / "drawn" / "sketches.npz"))
    with np.load(out) as stored:
        assert stored["sketches"].shape == (3, SIZE, SIZE) and stored["sketches"].dtype == np.uint8
        assert list(stored["paths"]) == ["ann/0.png", "ann/1.png", "ann/2.png"]


def test_draw_writes_pngs_at_the_size_asked_for_photos_of_another_size(tmp_path, model):
    photos = np.stack([generated_face(k, size=96) for k in range(2)])
    cache = tmp_path / "aligned.npz"
    np.savez(cache, photos=photos, paths=np.array(["a/0.jpg", "b/1.jpg"]), identities=np.array(["a", "b"]))
    out = pencil.draw(pencil.DrawConfig(model, str(cache), tmp_path / "pngs", size=48))
    drawn = Image.open(out / "b" / "1.png")
    assert drawn.size == (48, 48) and drawn.mode == "L"


def test_export_keeps_the_generator_in_float16_with_a_card_naming_its_hash_and_it_draws_alike(tmp_path, model):
    import json

    from inversion.checkpoints import sha256_of

    shipped = pencil.export(pencil.ExportConfig(model, tmp_path / "weights" / "pencil.pt", hardware="a test"))
    state = load_checkpoint(shipped)
    assert {v.dtype for v in state["generator"].values() if v.is_floating_point()} == {torch.float16}
    assert "critic" not in state and "generator_optimizer" not in state
    card = json.loads(shipped.with_suffix(".json").read_text())
    assert card["weights_sha256"] == sha256_of(shipped)
    assert card["training"]["steps"] == 1 and card["training"]["hardware"] == "a test"
    assert card["data"]["training_pairs"] == 4

    photos = np.stack([generated_face(k, size=SIZE) for k in range(2)])
    full, _ = pencil.load_generator(model)
    half, _ = pencil.load_generator(shipped)
    difference = np.abs(pencil.draw_array(full, photos).astype(int) - pencil.draw_array(half, photos).astype(int))
    assert difference.max() <= 3  # float16 weights change a grey level or two, not the drawing


def test_grid_shows_photo_hand_drawn_and_drawn_side_by_side():
    pairs = toy_pairs(3)
    image = pencil.grid_image(pairs.photos, pairs.sketches, pairs.sketches, tile=80, groups=2)
    gap = 80 // 8
    assert image.size == (2 * 3 * 80 + gap, 2 * 80 + 24)
    # The hand-drawn tile of the first pair is its sketch, scaled to the tile.
    tile = np.asarray(image.convert("L"))[24 : 24 + 80, 80:160]
    expected = np.asarray(Image.fromarray(pairs.sketches[0]).resize((80, 80), Image.Resampling.LANCZOS))
    assert np.abs(tile.astype(int) - expected).max() <= 1


@pytest.mark.data
def test_the_cufs_splits_are_disjoint_and_name_pairs_in_the_archive():
    if not pencil.CUFS.exists():
        pytest.skip(f"the face data is not here ({pencil.CUFS} is absent)")
    train = set((pencil.SPLITS / "cufs_train.txt").read_text().split())
    val = set((pencil.SPLITS / "cufs_val.txt").read_text().split())
    with tarfile.open(pencil.CUFS) as archive:
        sketches = {Path(name).stem for name in archive.getnames() if "sketches/" in name}
    assert not train & val
    assert train | val <= sketches
