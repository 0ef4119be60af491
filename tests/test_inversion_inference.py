import json

import numpy as np
import pytest
from PIL import Image

from inversion import cards, inference
from inversion.inference import WeightsError, invert, invert_faces, load_model

from .inversion_fixtures import generated_face, write_random_weights


@pytest.fixture
def weights_dir(tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    for style in ("line", "grayscale", "color"):
        write_random_weights(folder, style)
    monkeypatch.setattr(cards, "WEIGHTS_DIR", folder)
    inference.reset_models()
    yield folder
    inference.reset_models()


def test_invert_returns_one_rgb_composite_per_sketch(weights_dir):
    sketches = [Image.fromarray(generated_face(i, size=80)).convert("L") for i in range(3)]
    composites = invert(sketches, "grayscale", device="cpu")
    assert [c.size for c in composites] == [(32, 32)] * 3
    assert all(c.mode == "RGB" for c in composites)


def test_inversion_is_deterministic(weights_dir):
    sketch = Image.fromarray(generated_face(1, size=64))
    first = np.asarray(invert([sketch], "color", device="cpu")[0])
    second = np.asarray(invert([sketch, sketch], "color", device="cpu")[1])
    assert np.array_equal(first, second)


def test_a_sketch_without_a_face_falls_back_to_a_centre_crop_and_says_so(weights_dir):
    blank = Image.new("L", (120, 80), 255)
    result = invert_faces([blank], "line", device="cpu")[0]
    assert not result.face.found and result.face.method == "centre-crop"
    assert result.face.box == (20, 0, 100, 80)


def test_the_model_is_loaded_once_per_process(weights_dir):
    assert load_model("line", device="cpu") is load_model("line", device="cpu")


def test_weights_that_do_not_match_their_card_are_refused(weights_dir):
    card = weights_dir / "grayscale.json"
    card.write_text(json.dumps({**json.loads(card.read_text()), "weights_sha256": "0" * 64}))
    with pytest.raises(WeightsError, match="does not match its model card"):
        load_model("grayscale", device="cpu")


def test_missing_weights_give_a_clear_error(weights_dir):
    (weights_dir / "color.pt").unlink()
    with pytest.raises(WeightsError, match=r"color model.s weights .* are missing"):
        load_model("color", device="cpu")


def test_shipped_models_load_and_match_their_cards():
    missing = [s for s in ("line", "grayscale", "color") if not inference.weights_path(s).is_file()]
    if missing:
        pytest.skip(f"no shipped weights yet for {missing}")
    inference.reset_models()
    for style in ("line", "grayscale", "color"):
        model = load_model(style, device="cpu")
        assert model.weights_sha256 == inference.model_card(style)["weights_sha256"]
        assert model.weights_path.stat().st_size < 10_000_000
