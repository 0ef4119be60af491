import json

from inversion import report

SCORES = {"ssim": 0.5, "fsim": 0.7, "psnr": 15.0, "pearson": 0.8, "identity_distance": 0.5, "rank1": 0.7, "rank10": 1.0}
BY_GROUP = {"AR": {"pairs": 2, "composite": 1.0, "sketch": 0.5}, "CUHK": {"pairs": 3, "composite": 0.0, "sketch": 1.0}}


def test_report_rewrites_only_the_figures_section(tmp_path):
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    result = {"pairs": 5, "sketches_without_face": 0, "composite": SCORES, "sketch": SCORES}
    (metrics / "grayscale-cufs-val.json").write_text(json.dumps(result | {"rank1_by_group": BY_GROUP}))
    (metrics / "grayscale-stage-5-cufs-val.json").write_text(json.dumps(result | {"rank1_by_group": BY_GROUP}))
    synthetic = {"composite": SCORES | {"rank1": 0.9}}
    (metrics / "grayscale-stage-gpu2-b-celeba-test.json").write_text(json.dumps(synthetic))
    document = tmp_path / "REPORT.md"
    document.write_text("intro\n<!-- figures:begin -->\nold\n<!-- figures:end -->\noutro\n")

    weights = tmp_path / "weights"
    weights.mkdir()
    training = {"steps": 5, "batch_size": 2, "train_seconds": 60, "device": "cpu x1", "precision": "bfloat16"}
    card = {"weights_sha256": "ab" * 32, "training": training | {"feature_net": "sface", "init": None}}
    (weights / "grayscale.json").write_text(json.dumps(card | {"limitations": ["weaker on group X"]}))
    report.main(["--report", str(document), "--metrics", str(metrics), "--weights", str(weights)])

    text = document.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old" not in text
    assert "| rank-1 by collection | AR (2) | CUHK (3) |" in text
    assert "| composite | 1.000 | 0.000 |" in text and "| raw sketch (baseline) | 0.500 | 1.000 |" in text
    assert "Known limitations (model card):\n\n- weaker on group X" in text
    assert "| stage 5 (shipped before): stage 4 + 600 steps, SFace losses on all 16 images | 0.500 |" in text
    synthetic_rows = text.split("The same stages on synthetic sketches (CelebA test_dataset), where measured:")[1]
    assert "| stage 7b (GPU, shipped): stage 6b + 5,352 steps, identity 3.0, rate 1e-4 | 0.500 |" in synthetic_rows
    assert "| 0.900 | 1.000 |" in synthetic_rows and "stage 5" not in synthetic_rows
