import json

from inversion import cards, inference
from inversion.checkpoints import save_checkpoint, sha256_of
from inversion.export import export, lineage_of
from inversion.model import SketchInversionNet


def training_checkpoint(path):
    metadata = {
        "style": "line",
        "resolution": 32,
        "steps": 5,
        "batch_size": 2,
        "feature_net": "none",
        "precision": "float32",
        "device": "cpu x1",
        "train_seconds": 1.0,
        "init": None,
    }
    state = {"model": SketchInversionNet(1).state_dict(), "optimizer": {}, "step": 5}
    save_checkpoint(path, state, metadata)
    return path


def test_exported_weights_are_half_precision_with_a_card_the_loader_trusts(tmp_path, monkeypatch):
    weights = export(training_checkpoint(tmp_path / "run.pt"), "line", metrics={}, out_dir=tmp_path / "w")
    card = json.loads((tmp_path / "w" / "line.json").read_text())
    assert card["weights_sha256"] == sha256_of(weights)
    assert card["training"]["steps"] == 5 and card["parameters"] > 1_600_000
    assert weights.stat().st_size < 4_000_000  # float16: about 2 bytes a parameter

    monkeypatch.setattr(cards, "WEIGHTS_DIR", tmp_path / "w")
    inference.reset_models()
    try:
        assert inference.load_model("line", device="cpu").weights_sha256 == card["weights_sha256"]
    finally:
        inference.reset_models()


def test_re_exporting_to_add_metrics_keeps_the_weights_file(tmp_path):
    checkpoint = training_checkpoint(tmp_path / "run.pt")
    first = sha256_of(export(checkpoint, "line", metrics={}, out_dir=tmp_path / "w"))
    export(checkpoint, "line", metrics={"cufs-val": {"pairs": 3}}, out_dir=tmp_path / "w", limitations=["weak on X"])
    card = json.loads((tmp_path / "w" / "line.json").read_text())
    assert sha256_of(tmp_path / "w" / "line.pt") == first == card["weights_sha256"]
    assert card["metrics"] == {"cufs-val": {"pairs": 3}} and card["limitations"] == ["weak on X"]


def test_lineage_reads_checkpoints_and_model_cards(tmp_path):
    checkpoint = training_checkpoint(tmp_path / "run.pt")
    export(checkpoint, "line", metrics={}, out_dir=tmp_path / "w", lineage=[{"steps": 750, "init": None}])
    stages = lineage_of(tmp_path / "w" / "line.json")
    assert [stage["steps"] for stage in stages] == [750, 5]
    assert lineage_of(checkpoint) == [stages[-1]]


def test_re_exporting_the_shipped_file_keeps_the_cards_history(tmp_path):
    checkpoint = training_checkpoint(tmp_path / "run.pt")
    shipped = export(
        checkpoint, "line", metrics={}, out_dir=tmp_path / "w", lineage=[{"steps": 750}], hardware="2 cores"
    )
    first = sha256_of(shipped)

    export(shipped, "line", metrics={}, out_dir=tmp_path / "w", limitations=["weak on X"])  # the weights file itself

    card = json.loads((tmp_path / "w" / "line.json").read_text())
    assert sha256_of(shipped) == first == card["weights_sha256"]
    assert card["lineage"] == [{"steps": 750}] and card["hardware"] == "2 cores"
    assert card["limitations"] == ["weak on X"]


def test_new_weights_keep_the_replaced_cards_figures_and_limitations(tmp_path, monkeypatch):
    checkpoint = training_checkpoint(tmp_path / "a.pt")
    export(checkpoint, "line", metrics={}, out_dir=tmp_path / "w", limitations=["A"])
    old = json.loads((tmp_path / "w" / "line.json").read_text())
    export(checkpoint, "line", metrics={}, out_dir=tmp_path / "w", limitations=["A"])
    assert not (tmp_path / "w" / "superseded").exists()  # the same weights again replace nothing

    export(training_checkpoint(tmp_path / "b.pt"), "line", metrics={}, out_dir=tmp_path / "w", limitations=["B"])
    kept = tmp_path / "w" / "superseded" / f"line-{old['weights_sha256'][:12]}.json"
    assert json.loads(kept.read_text()) == old

    monkeypatch.setattr(cards, "WEIGHTS_DIR", tmp_path / "w")
    current = json.loads((tmp_path / "w" / "line.json").read_text())
    assert current["weights_sha256"] != old["weights_sha256"]
    assert cards.card_of_weights("line", current["weights_sha256"])["limitations"] == ["B"]
    earlier = cards.card_of_weights("line", old["weights_sha256"])
    assert earlier["limitations"] == ["A"] and earlier["superseded"] is True
    assert cards.card_of_weights("line", "0" * 64) is None

    kept.write_text(json.dumps(old | {"weights_sha256": "f" * 64}))  # a card that names other weights
    assert cards.card_of_weights("line", old["weights_sha256"]) is None
