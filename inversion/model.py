"""The Convolutional Sketch Inversion network.

Güçlütürk, Güçlü, van Lier and van Gerven, "Convolutional Sketch Inversion",
ECCV Workshops 2016 (arXiv 1606.03073), section 2.2 and table 1. The network
follows the image transformation network of Johnson, Alahi and Fei-Fei,
"Perceptual Losses for Real-Time Style Transfer and Super-Resolution" (2016):
two strided convolutions down, five residual blocks, two up, one out.
"""

from __future__ import annotations

import torch
from torch import nn

#: Input channels per sketch style: line and grayscale sketches are drawn in
#: one channel, colour sketches in three.
IN_CHANNELS = {"line": 1, "grayscale": 1, "color": 3}


class ConvLayer(nn.Sequential):
    """Convolution, batch norm, ReLU (paper table 1, layers 1-3).

    Reflection padding keeps the borders free of the dark frame that zero
    padding paints on faces (Johnson et al., supplementary material).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1):
        super().__init__(
            nn.ReflectionPad2d(kernel_size // 2),
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with batch norm, ReLU between, identity skip
    (paper table 1, layers 4-8; He et al. 2016 as used by Johnson et al.)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class UpsampleLayer(nn.Sequential):
    """Fractionally strided convolution (stride 1/2), batch norm, ReLU (paper
    table 1, layers 9-10), written as nearest-neighbour upsampling followed by
    a 3x3 convolution, which avoids the checkerboard artefacts of transposed
    convolutions (Odena, Dumoulin and Olah, Distill 2016)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.ReflectionPad2d(1),
            nn.Conv2d(in_channels, out_channels, 3, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class SketchInversionNet(nn.Module):
    """Sketch in, photo out. Fully convolutional: any height and width that
    are multiples of 4.

    Input: sketch in [-1, 1], shape (N, 1 or 3, H, W), white paper = +1.
    Output: RGB photo in [-1, 1], shape (N, 3, H, W) (paper's tanh output).
    """

    def __init__(self, in_channels: int = 1):
        super().__init__()
        self.in_channels = in_channels
        self.encode = nn.Sequential(
            ConvLayer(in_channels, 32, kernel_size=9),
            ConvLayer(32, 64, kernel_size=3, stride=2),
            ConvLayer(64, 128, kernel_size=3, stride=2),
        )
        self.residuals = nn.Sequential(*(ResidualBlock(128) for _ in range(5)))
        self.decode = nn.Sequential(
            UpsampleLayer(128, 64),
            UpsampleLayer(64, 32),
            nn.ReflectionPad2d(4),
            nn.Conv2d(32, 3, kernel_size=9),
            nn.Tanh(),
        )

    @classmethod
    def for_style(cls, style: str) -> SketchInversionNet:
        return cls(in_channels=IN_CHANNELS[style])

    def forward(self, sketch: torch.Tensor) -> torch.Tensor:
        height, width = sketch.shape[-2:]
        if height % 4 or width % 4:
            raise ValueError(f"sketch size {width}x{height} is not a multiple of 4")
        return self.decode(self.residuals(self.encode(sketch)))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def flops_per_image(model: SketchInversionNet, height: int, width: int) -> int:
    """Multiply-accumulates x 2 of every convolution for one image."""
    total = 0

    def count(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        per_output = module.in_channels // module.groups * kh * kw
        total += 2 * per_output * output.numel() // output.shape[0]

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, model.in_channels, height, width))
    finally:
        for hook in hooks:
            hook.remove()
    return total
