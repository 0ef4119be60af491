import pytest
import torch

from inversion.model import SketchInversionNet, count_parameters, flops_per_image


@pytest.mark.parametrize(("style", "channels"), [("line", 1), ("grayscale", 1), ("color", 3)])
def test_network_has_the_papers_size_and_shapes(style, channels):
    net = SketchInversionNet.for_style(style).eval()
    assert 1_600_000 < count_parameters(net) < 1_700_000
    with torch.no_grad():
        photo = net(torch.zeros(2, channels, 96, 96))
    assert photo.shape == (2, 3, 96, 96)
    assert photo.min() >= -1 and photo.max() <= 1


def test_network_is_fully_convolutional():
    net = SketchInversionNet(1).eval()
    with torch.no_grad():
        assert net(torch.zeros(1, 1, 64, 128)).shape == (1, 3, 64, 128)


def test_sizes_that_are_not_multiples_of_four_are_refused():
    with pytest.raises(ValueError, match="multiple of 4"):
        SketchInversionNet(1)(torch.zeros(1, 1, 66, 64))


def test_residual_blocks_add_their_input():
    block = SketchInversionNet(1).residuals[0].eval()
    x = torch.randn(1, 128, 8, 8)
    with torch.no_grad():
        torch.nn.init.zeros_(block.body[-1].weight)  # last batch norm's scale: body outputs its bias, 0
        assert torch.allclose(block(x), x)
        torch.nn.init.ones_(block.body[-1].weight)
        assert not torch.allclose(block(x), x)


def test_flops_count_matches_hand_calculation_for_one_layer():
    net = SketchInversionNet(1)
    # 96x96: ~2.74 GFLOP, dominated by the ten 3x3 128->128 convolutions at 24x24
    residual_flops = 10 * 2 * 128 * 128 * 9 * 24 * 24
    total = flops_per_image(net, 96, 96)
    assert residual_flops < total < 3 * residual_flops
