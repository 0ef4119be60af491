import piq
import pytest
import torch

from inversion.losses import (
    LossWeights,
    absolute_loss,
    detail_loss,
    discriminator_loss,
    feature_loss,
    generator_loss,
    gradient_loss,
    identity_loss,
    pixel_loss,
    total_variation_loss,
)


def test_total_variation_of_a_constant_image_is_zero():
    assert total_variation_loss(torch.full((1, 3, 8, 8), 0.3)) == 0


def test_total_variation_of_a_checkerboard_is_known():
    board = (torch.arange(4).view(1, 4) + torch.arange(4).view(4, 1)) % 2 * 2.0 - 1  # ±1
    assert total_variation_loss(board.view(1, 1, 4, 4)) == pytest.approx(8.0)  # 4 + 4


def test_total_variation_is_piqs_at_the_scale_training_used():
    """piq's squared total variation per neighbour pair: on square crops, the
    mean squared difference of vertical plus of horizontal neighbours (the
    term's scale in every LossWeights recipe so far)."""
    image = torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(0)) * 2 - 1
    by_hand = (image.diff(dim=-2).pow(2).mean() + image.diff(dim=-1).pow(2).mean()).item()
    assert total_variation_loss(image).item() == pytest.approx(by_hand, rel=1e-6)
    piq_value = piq.total_variation(image, norm_type="l2_squared").item()
    assert total_variation_loss(image).item() == pytest.approx(piq_value / (3 * 12 * 11), rel=1e-6)


def test_pixel_loss_is_mean_squared_error():
    assert pixel_loss(torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)) == pytest.approx(1.0)


def test_feature_loss_is_zero_for_identical_features_and_scale_free():
    features = {"a": torch.randn(2, 4, 5, 5), "embedding": torch.randn(2, 8)}
    assert feature_loss(features, features) == 0
    doubled = {"a": features["a"] * 2}
    assert feature_loss({"a": torch.zeros(2, 4, 5, 5)}, doubled) == pytest.approx(1.0)


def test_identity_loss_is_cosine_distance():
    a = torch.tensor([[1.0, 0.0]])
    assert identity_loss(a, a) == pytest.approx(0.0)
    assert identity_loss(a, torch.tensor([[0.0, 1.0]])) == pytest.approx(1.0)


def test_discriminator_loss_is_zero_when_it_is_right():
    assert discriminator_loss(torch.ones(4), torch.zeros(4)) == 0


def test_gradient_loss_sees_edges_not_brightness():
    photo = torch.zeros(1, 1, 4, 4)
    photo[..., :, 2:] = 1.0  # one vertical edge
    assert gradient_loss(photo + 0.5, photo) == 0  # the same edges, brighter
    assert gradient_loss(torch.full_like(photo, 0.5), photo) == pytest.approx(0.5 * 4 / 12)  # the edge missed


def test_generator_loss_adds_the_gradient_term_only_when_weighted():
    composite, photo = torch.zeros(1, 3, 4, 4), torch.rand(1, 3, 4, 4)
    assert "gradient" not in generator_loss(LossWeights(), composite, photo)[1]
    total, terms = generator_loss(LossWeights(pixel=0, total_variation=0, gradient=2.0), composite, photo)
    assert float(total) == pytest.approx(2 * terms["gradient"]) and terms["gradient"] > 0


def test_generator_loss_weighs_its_terms():
    composite, photo = torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4)
    total, terms = generator_loss(LossWeights(pixel=2.0, total_variation=5.0), composite, photo)
    assert terms == {"pixel": 1.0, "total_variation": 0.0}
    assert float(total) == pytest.approx(2.0)


def test_the_absolute_pixel_loss_is_the_mean_absolute_error_and_joins_only_when_weighted():
    photo = torch.zeros(1, 3, 4, 4)
    composite = torch.full_like(photo, 0.5)
    composite[..., 0, 0] = -1.5  # one pixel (three channels) far off: it counts 1.5, not 2.25 as squared
    assert float(absolute_loss(composite, photo)) == pytest.approx((45 * 0.5 + 3 * 1.5) / 48)
    assert "absolute" not in generator_loss(LossWeights(), composite, photo)[1]
    total, terms = generator_loss(LossWeights(pixel=0, total_variation=0, absolute=3.0), composite, photo)
    assert float(total) == pytest.approx(3 * terms["absolute"]) and terms["absolute"] > 0


def test_the_detail_loss_asks_for_the_photos_edge_energy_not_its_edge_positions():
    photo = torch.zeros(1, 1, 16, 16)
    photo[..., :, 3] = 1.0  # a thin line in the first column of patches
    shifted = torch.zeros_like(photo)
    shifted[..., :, 5] = 1.0  # the same line two pixels over, still inside those patches
    assert float(detail_loss(shifted, photo)) < 1e-3
    assert float(gradient_loss(shifted, photo)) > 0.1  # where the gradient term punishes it
    assert float(detail_loss(torch.zeros_like(photo), photo)) > 0.1  # a smooth composite pays
    assert "detail" not in generator_loss(LossWeights(), photo, photo)[1]
    total, terms = generator_loss(LossWeights(pixel=0, total_variation=0, detail=2.0), shifted, photo)
    assert float(total) == pytest.approx(2 * terms["detail"])
