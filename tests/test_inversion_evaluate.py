import json

import numpy as np
import pytest
from PIL import Image

from inversion import cards, evaluate, inference

from .inversion_fixtures import generated_face, write_pairs, write_random_weights


def test_evaluate_writes_the_figures_for_composites_and_raw_sketches(tmp_path, monkeypatch):
    monkeypatch.setattr(cards, "WEIGHTS_DIR", tmp_path / "weights")
    write_random_weights(tmp_path / "weights", "grayscale")
    inference.reset_models()
    write_pairs(tmp_path)
    out = tmp_path / "report.json"
    grid = tmp_path / "grid.png"
    evaluate.main(
        [
            "--style",
            "grayscale",
            "--photos",
            str(tmp_path / "photos"),
            "--sketches",
            str(tmp_path / "sketches"),
            "--aligned",
            "--json",
            str(out),
            "--grid",
            str(grid),
        ]
    )
    inference.reset_models()

    report = json.loads(out.read_text())
    assert report["pairs"] == 4
    keys = {"ssim", "fsim", "psnr", "pearson", "sharpness", "rank1", "rank10"}
    assert keys <= report["composite"].keys() and keys <= report["sketch"].keys()
    assert 0 <= report["composite"]["rank1"] <= report["composite"]["rank10"] == 1.0  # 4 people < 10
    # the raw sketch is the photo in gray here, so it matches it far better than a random network
    assert report["sketch"]["ssim"] > report["composite"]["ssim"]
    assert Image.open(grid).size == (4 * 32, 3 * 32)
    assert report["resolution"] == report["measured_at"] == 32


def test_evaluate_measures_at_a_size_of_its_own_so_models_of_two_resolutions_compare(tmp_path, monkeypatch):
    monkeypatch.setattr(cards, "WEIGHTS_DIR", tmp_path / "weights")
    write_random_weights(tmp_path / "weights", "grayscale")  # a 32 px model
    inference.reset_models()
    write_pairs(tmp_path)
    folders = ["--photos", str(tmp_path / "photos"), "--sketches", str(tmp_path / "sketches"), "--aligned"]
    report = evaluate.evaluate("grayscale", tmp_path / "photos", tmp_path / "sketches", aligned=True, measure_size=64)
    native = evaluate.evaluate("grayscale", tmp_path / "photos", tmp_path / "sketches", aligned=True)
    evaluate.main(["--style", "grayscale", *folders, "--measure-size", "64", "--grid", str(tmp_path / "grid.png")])
    inference.reset_models()

    assert (report["resolution"], report["measured_at"], native["measured_at"]) == (32, 64, 32)
    assert Image.open(tmp_path / "grid.png").size == (4 * 64, 3 * 64)  # every image brought to 64 px
    assert report["composite"]["ssim"] != native["composite"]["ssim"]


def test_sharpness_is_one_for_the_photo_itself_and_falls_as_a_probe_is_blurred():
    import torch
    from PIL import ImageFilter

    from inversion.evaluate import sharpness, to_unit

    photos = [generated_face(seed, size=64) for seed in range(3)]
    blurred = [np.asarray(Image.fromarray(p).filter(ImageFilter.GaussianBlur(2))) for p in photos]
    photo = to_unit(photos)
    assert sharpness(photo, photo) == pytest.approx(1.0)
    assert sharpness(to_unit(blurred), photo) < 0.7  # the generated faces are flat shapes: a blur halves their edges
    assert sharpness(torch.zeros_like(photo), photo) == 0.0


def test_identification_ranks_count_the_true_person():
    import numpy as np

    gallery = np.eye(3)
    probes = np.array([[1.0, 0, 0], [1.0, 0.1, 0], [0, 0, 1.0]])
    scores, _ = evaluate.identity_scores(probes, gallery, ["a", "b", "c"])
    assert scores["rank1"] == pytest.approx(2 / 3)


def test_rank1_by_group_splits_the_probes_by_file_name_prefix():
    import numpy as np

    gallery = np.eye(4)
    right = gallery.copy()
    wrong = gallery[[1, 0, 3, 2]]  # every probe nearest to somebody else
    keys = ["AR_1", "AR_2", "CUHK_student_1", "CUHK_student_2"]
    mixed = np.concatenate([right[:2], wrong[2:]])
    ranks = {
        name: evaluate.identity_scores(d, gallery, keys)[1] for name, d in (("composite", mixed), ("sketch", right))
    }
    groups = evaluate.rank1_by_group(keys, ranks)
    assert groups == {
        "AR": {"pairs": 2, "composite": 1.0, "sketch": 1.0},
        "CUHK": {"pairs": 2, "composite": 0.0, "sketch": 1.0},
    }
