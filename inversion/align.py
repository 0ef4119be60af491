"""One face aligner for training photos and uploaded sketches alike.

The network only ever sees faces framed the same way: dlib's HOG face
detector finds the face, dlib's 5-point landmark model (eye corners and nose,
shipped by the ``face_recognition_models`` package) gives its pose, and
``dlib.get_face_chip`` rotates, scales and crops it to a square where the
eyes sit level at fixed positions. When no face is found the aligner falls
back to a centred square crop and says so (``AlignedFace.found`` is False),
so a caller can ask a person to mark the face instead (``box=``).
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Resolution the shipped models were trained at (pixels, square).
RESOLUTION = 96
#: Context around the landmarks' bounding square, as a fraction of its size
#: (dlib's default is 0.2; more keeps the hair and chin, which witnesses
#: describe and the paper's composites reproduce).
PADDING = 0.45

Box = tuple[int, int, int, int]  # left, top, right, bottom, in source pixels


@dataclass(frozen=True)
class AlignedFace:
    image: np.ndarray  # uint8 (size, size) or (size, size, 3), same channels as the input
    found: bool  # False: no face detected, centred crop used
    box: Box  # the face box the crop was made from
    method: str  # "landmarks" or "centre-crop"


_lock = threading.Lock()
_models: tuple | None = None


def _load_models() -> tuple:
    """dlib's detector and landmark model, loaded once per process."""
    global _models
    with _lock:
        if _models is None:
            import dlib  # here, not at the top: training on packed, already aligned faces needs no dlib

            landmarks = model_file("shape_predictor_5_face_landmarks.dat")
            _models = (dlib.get_frontal_face_detector(), dlib.shape_predictor(str(landmarks)))
        return _models


def model_file(name: str) -> Path:
    """A model file shipped by the ``face_recognition_models`` package.

    That package imports ``pkg_resources`` (gone from modern setuptools) when
    imported, so its folder is found without importing it.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the face_recognition_models package is not installed (see requirements.txt)")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    if not path.is_file():
        raise RuntimeError(f"{path} is missing from the face_recognition_models package")
    return path


def detect(image: np.ndarray) -> Box | None:
    """The largest face in ``image``, or None. Upsamples small images once."""
    detector, _ = _load_models()
    rgb = _as_rgb(image)
    for upsample in (0, 1):
        faces = detector(rgb, upsample)
        if len(faces):
            face = max(faces, key=lambda r: r.area())
            return (face.left(), face.top(), face.right(), face.bottom())
        if min(rgb.shape[:2]) > 400:
            break
    return None


def align(image: np.ndarray, size: int = RESOLUTION, box: Box | None = None) -> AlignedFace:
    """Canonical square crop of the face in ``image`` (uint8 RGB or gray).

    ``box`` skips detection and aligns the face inside that box (a person's
    correction when the detector is wrong).
    """
    image = np.ascontiguousarray(image)
    if box is None:
        box = detect(image)
    if box is None:
        return AlignedFace(_centre_crop(image, size), found=False, box=_centre_box(image), method="centre-crop")
    import dlib

    _, predictor = _load_models()
    rgb = _as_rgb(image)
    shape = predictor(rgb, dlib.rectangle(*box))
    chip = dlib.get_face_chip(rgb if image.ndim == 3 else image, shape, size=size, padding=PADDING)
    return AlignedFace(np.asarray(chip), found=True, box=box, method="landmarks")


def _as_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return np.ascontiguousarray(np.stack([image] * 3, axis=-1))
    return np.ascontiguousarray(image[..., :3])


def _centre_box(image: np.ndarray) -> Box:
    height, width = image.shape[:2]
    side = min(height, width)
    left, top = (width - side) // 2, (height - side) // 2
    return (left, top, left + side, top + side)


def _centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    left, top, right, bottom = _centre_box(image)
    crop = Image.fromarray(image[top:bottom, left:right])
    return np.asarray(crop.resize((size, size), Image.Resampling.BICUBIC))
