import numpy as np
import pytest

from inversion.sketches import STYLES, SketchParams, synthesize
from inversion.styles import suggest_style

from .inversion_fixtures import generated_face


@pytest.mark.parametrize("style", STYLES)
def test_synthesis_is_deterministic_for_a_seed(style):
    photo = generated_face(1)
    assert np.array_equal(synthesize(photo, style, seed=7), synthesize(photo, style, seed=7))
    assert not np.array_equal(synthesize(photo, style, seed=7), synthesize(photo, style, seed=8))


def test_line_sketches_are_dark_strokes_on_white_paper():
    sketch = synthesize(generated_face(2), "line", SketchParams(grain=0))
    assert sketch.ndim == 2 and sketch.dtype == np.uint8
    assert np.median(sketch) > 240  # mostly paper
    assert sketch.min() < 60  # and some ink


def test_grayscale_sketches_keep_shading():
    photo = generated_face(3)
    shaded = synthesize(photo, "grayscale", SketchParams(shading=1.0, grain=0))
    strokes = synthesize(photo, "grayscale", SketchParams(shading=0.0, grain=0))
    assert shaded.ndim == 2
    assert shaded.mean() < strokes.mean()  # shading darkens the paper


def test_colour_sketches_carry_the_photos_colours():
    photo = generated_face(4)
    sketch = synthesize(photo, "color", SketchParams(grain=0))
    assert sketch.shape == photo.shape
    background = photo[2, 2].astype(int)
    assert np.argmax(sketch[2, 2]) == np.argmax(background)


def test_sampled_hands_stay_within_documented_ranges():
    rng = np.random.default_rng(0)
    for _ in range(200):
        hand = SketchParams.sample(rng)
        assert 0.6 <= hand.sigma <= 1.4 and 0 <= hand.shading <= 1 and abs(hand.rotation) <= 2.5


def test_unknown_style_is_refused():
    with pytest.raises(ValueError, match="unknown sketch style"):
        synthesize(generated_face(0), "charcoal")


@pytest.mark.parametrize("style", STYLES)
def test_style_suggestion_recognises_clean_synthetic_sketches(style):
    sketch = synthesize(generated_face(5, size=96), style, SketchParams(grain=0))
    assert suggest_style(sketch) == style
