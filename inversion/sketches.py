"""Deterministic synthesis of the paper's three sketch styles from a photo.

Convolutional Sketch Inversion (Güçlütürk et al. 2016, section 2.1) trains on
sketches synthesised from face photos in three styles:

- ``line``: thin dark strokes on white paper, no shading. Made with the
  extended difference of Gaussians (XDoG, Winnemöller, Kyprianidis and Olsen,
  "XDoG: an eXtended difference-of-Gaussians compendium", 2012), thresholded
  into strokes.
- ``grayscale``: a pencil sketch with shading: colour dodge of the grayscale
  photo with its blurred negative (the classic "pencil sketch" filter), times
  a soft shading layer.
- ``color``: the colour-pencil version: the grayscale pencil strokes tinted
  with the photo's blurred, lightened colours.

Hand-drawn sketches vary more than any filter: stroke width, how hard the
pencil is pressed, how much shading there is, paper grain, and small
misalignments. :meth:`SketchParams.sample` draws those from documented
ranges so a model sees many drawing hands; the paper reports failures on
hand-drawn pencil strokes without shading, so ``shading`` is drawn down to
zero for the grayscale style too.

Images are uint8 numpy arrays: photos (H, W, 3) RGB; line and grayscale
sketches (H, W); colour sketches (H, W, 3). White paper is 255.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import cv2
import numpy as np

from inversion import STYLES


@dataclass(frozen=True)
class SketchParams:
    """One drawing hand. Defaults are the middle of the training ranges."""

    #: XDoG: scale of the fine Gaussian in pixels (stroke thickness), 0.6-1.4.
    sigma: float = 0.9
    #: XDoG: weight of the coarse Gaussian; closer to 1 draws fewer edges, 0.96-0.99.
    tau: float = 0.975
    #: XDoG: steepness of the soft threshold, 20-80 (higher = crisper strokes).
    phi: float = 40.0
    #: Pencil: blur radius of the dodge layer in pixels (line length), 3-9.
    dodge_blur: float = 5.0
    #: Pencil: how much tonal shading is kept, 0 (strokes only) to 1.
    shading: float = 0.6
    #: Darkness of the strokes: gamma applied to the sketch, 0.7-1.8.
    pressure: float = 1.0
    #: Extra stroke width in pixels (0 or 1) from a grey erosion.
    thicken: int = 0
    #: Standard deviation of the paper grain noise, in grey levels, 0-10.
    grain: float = 4.0
    #: Colour sketches: how much of the photo's colour is kept, 0.4-1.
    saturation: float = 0.8
    #: Small misalignment of the sketch against the photo: shift in pixels (±1.5),
    #: rotation in degrees (±2.5) and scale (±3 %).
    shift_x: float = 0.0
    shift_y: float = 0.0
    rotation: float = 0.0
    scale: float = 1.0
    #: Line sketches: brightness of the paper, 0.78-1 (scans and photos of
    #: drawings are rarely pure white), and how dark the strokes are, 0.45-1
    #: (a hand's pencil lines are grey, not black). Without these a line
    #: model sees only black on white and breaks on any grey input.
    paper: float = 1.0
    stroke_strength: float = 1.0

    @classmethod
    def sample(cls, rng: np.random.Generator) -> SketchParams:
        return cls(
            sigma=rng.uniform(0.6, 1.4),
            tau=rng.uniform(0.96, 0.99),
            phi=rng.uniform(20.0, 80.0),
            dodge_blur=rng.uniform(3.0, 9.0),
            shading=rng.uniform(0.0, 1.0),
            pressure=rng.uniform(0.7, 1.8),
            thicken=int(rng.random() < 0.3),
            grain=rng.uniform(0.0, 10.0),
            saturation=rng.uniform(0.4, 1.0),
            shift_x=rng.uniform(-1.5, 1.5),
            shift_y=rng.uniform(-1.5, 1.5),
            rotation=rng.uniform(-2.5, 2.5),
            scale=rng.uniform(0.97, 1.03),
            # drawn last, so the fields above stay what they were for a seed
            paper=rng.uniform(0.78, 1.0),
            stroke_strength=rng.uniform(0.45, 1.0),
        )

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def synthesize(
    photo: np.ndarray,
    style: str,
    params: SketchParams | None = None,
    seed: int | None = None,
) -> np.ndarray:
    """Draw ``photo`` as a sketch of ``style``.

    With neither ``params`` nor ``seed`` the default hand is used; with a
    ``seed`` a hand is sampled from :meth:`SketchParams.sample`. The same
    inputs always give the same sketch.
    """
    if style not in STYLES:
        raise ValueError(f"unknown sketch style {style!r}; expected one of {STYLES}")
    if params is None:
        params = SketchParams.sample(np.random.default_rng(seed)) if seed is not None else SketchParams()
    rng = np.random.default_rng(seed if seed is not None else 0)
    rgb = photo.astype(np.float32) / 255.0
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)

    if style == "line":
        sketch = xdog(gray, params)
    else:
        sketch = pencil(gray, params)
    sketch = _ink(sketch, params)
    if style == "line":
        sketch = params.paper * (1.0 - params.stroke_strength * (1.0 - sketch))
    if style == "color":
        sketch = _tint(sketch, rgb, params)
    sketch = _paper(sketch, params, rng)
    sketch = _jitter(sketch, params)
    return np.clip(sketch * 255.0 + 0.5, 0, 255).astype(np.uint8)


def xdog(gray: np.ndarray, params: SketchParams) -> np.ndarray:
    """Thresholded extended difference of Gaussians: 1 on paper, ~0 on strokes."""
    fine = cv2.GaussianBlur(gray, (0, 0), params.sigma)
    coarse = cv2.GaussianBlur(gray, (0, 0), params.sigma * 1.6)
    dog = fine - params.tau * coarse
    epsilon = 0.0
    return np.where(dog >= epsilon, 1.0, 1.0 + np.tanh(params.phi * (dog - epsilon))).astype(np.float32)


def pencil(gray: np.ndarray, params: SketchParams) -> np.ndarray:
    """Colour dodge of the grayscale image with its blurred negative, times a
    soft tonal layer whose weight is ``params.shading``."""
    negative_blur = cv2.GaussianBlur(1.0 - gray, (0, 0), params.dodge_blur)
    strokes = np.clip(gray / np.maximum(1.0 - negative_blur, 1e-3), 0.0, 1.0)
    tone = cv2.GaussianBlur(gray, (0, 0), 2.0)
    shaded = strokes * (0.35 + 0.65 * tone)
    return (params.shading * shaded + (1.0 - params.shading) * strokes).astype(np.float32)


def _ink(sketch: np.ndarray, params: SketchParams) -> np.ndarray:
    if params.thicken:
        sketch = cv2.erode(sketch, np.ones((2, 2), np.uint8))
    return np.power(sketch, params.pressure, dtype=np.float32)


def _tint(sketch: np.ndarray, rgb: np.ndarray, params: SketchParams) -> np.ndarray:
    colour = cv2.GaussianBlur(rgb, (0, 0), 1.5)
    gray = colour.mean(axis=2, keepdims=True)
    colour = gray + params.saturation * (colour - gray)
    lightened = 0.45 + 0.55 * colour
    return np.clip(sketch[..., None] * lightened, 0.0, 1.0).astype(np.float32)


def _paper(sketch: np.ndarray, params: SketchParams, rng: np.random.Generator) -> np.ndarray:
    if params.grain <= 0:
        return sketch
    noise = rng.normal(0.0, params.grain / 255.0, size=sketch.shape[:2]).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 0.7)
    return sketch + (noise[..., None] if sketch.ndim == 3 else noise)


def _jitter(sketch: np.ndarray, params: SketchParams) -> np.ndarray:
    if (params.shift_x, params.shift_y, params.rotation, params.scale) == (0.0, 0.0, 0.0, 1.0):
        return sketch
    height, width = sketch.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), params.rotation, params.scale)
    matrix[:, 2] += (params.shift_x, params.shift_y)
    return cv2.warpAffine(sketch, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
