"""Which drawing style an uploaded sketch is in, guessed from its pixels.

NumPy only: the web tier suggests a style while the artist uploads, without
importing the sketch generators' OpenCV.
"""

import numpy as np


def suggest_style(image: np.ndarray) -> str:
    """Guess the style of an uploaded sketch: colour when the channels differ
    noticeably, line when nearly every pixel is paper or ink, else grayscale."""
    if image.ndim == 3 and image.shape[2] >= 3:
        rgb = image[..., :3].astype(np.float32)
        if np.abs(rgb - rgb.mean(axis=2, keepdims=True)).mean() > 6.0:
            return "color"
        gray = rgb.mean(axis=2)
    else:
        gray = image.astype(np.float32)
    midtones = np.mean((gray > 40) & (gray < 215))
    return "line" if midtones < 0.12 else "grayscale"
