import pytest
import torch

from inversion.checkpoints import half_precision, load_checkpoint, save_checkpoint, sha256_of
from inversion.export import export
from inversion.model import SketchInversionNet
from inversion.soup import average, main


def fine_tune(path, seed, **changed):
    torch.manual_seed(seed)
    metadata = {"style": "grayscale", "resolution": 32, "steps": 300, "init": "shipped.pt", "seed": seed}
    metadata.update(train_seconds=10.0, batch_size=2, feature_net="none", precision="float32", device="cpu x1")
    metadata.update(changed)
    weights = half_precision(SketchInversionNet(1).state_dict())  # snapshots are stored in float16
    save_checkpoint(path, {"model": weights, "step": 300}, metadata)
    return path


def test_the_average_is_the_mean_of_every_weight_and_says_what_it_was_made_of(tmp_path):
    paths = [fine_tune(tmp_path / "a.pt", 0), fine_tune(tmp_path / "b.pt", 1)]
    state, metadata = average(paths)
    a, b = (load_checkpoint(path)["model"] for path in paths)
    name = next(name for name, value in a.items() if value.is_floating_point() and value.numel() > 1)
    assert not torch.equal(a[name], b[name])
    assert torch.allclose(state["model"][name], (a[name].float() + b[name].float()) / 2)
    assert state["model"][name].dtype == torch.float32
    assert metadata["seed"] == [0, 1] and metadata["train_seconds"] == 20.0 and metadata["metrics"] == {}
    assert [part["sha256"] for part in metadata["soup_of"]] == [sha256_of(path) for path in paths]


def test_the_average_exports_and_loads_like_a_trained_checkpoint(tmp_path):
    main([str(fine_tune(tmp_path / "a.pt", 0)), str(fine_tune(tmp_path / "b.pt", 1)), "--out", str(tmp_path / "s.pt")])
    weights = export(tmp_path / "s.pt", "grayscale", metrics={}, out_dir=tmp_path / "w")
    net = SketchInversionNet(1)
    net.load_state_dict({k: v.float() for k, v in load_checkpoint(weights)["model"].items()})


@pytest.mark.parametrize("changed", [{"init": "another.pt"}, {"style": "line"}, {"steps": 200}, {"resolution": 64}])
def test_fine_tunes_of_another_start_or_network_are_refused(tmp_path, changed):
    paths = [fine_tune(tmp_path / "a.pt", 0), fine_tune(tmp_path / "b.pt", 1, **changed)]
    with pytest.raises(SystemExit, match=next(iter(changed))):
        average(paths)


def test_one_checkpoint_is_not_an_average(tmp_path):
    with pytest.raises(SystemExit, match="two checkpoints"):
        average([fine_tune(tmp_path / "a.pt", 0)])
