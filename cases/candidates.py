"""Candidate photos: a possible suspect's photo set beside a case's composites.

``services.add_candidate_photo`` stores the photo as evidence; workers
describe its face (``derived``) and each composite's (``composite_descriptor``).
``similarity`` gives the distance between two such descriptors: a lead for an
investigator to follow up, never an identification.
"""

import math
import threading
from dataclasses import dataclass

import numpy as np

from .uploads import processing_image

#: dlib's usual same-person threshold on the distance between two descriptors.
SAME_PERSON_THRESHOLD = 0.6


def image_array(data: bytes) -> np.ndarray:
    """A validated image's bytes as uint8 RGB, EXIF orientation applied (as browsers show it)."""
    return np.asarray(processing_image(data))


@dataclass(frozen=True)
class Similarity:
    distance: float | None  # None: no face found in one of the images
    note: str

    @property
    def below_threshold(self) -> bool:
        return self.distance is not None and self.distance < SAME_PERSON_THRESHOLD


_lock = threading.Lock()
_recognizer = None


def recognizer():
    """dlib's face-recognition network, loaded once per process.

    Imported here, not at the top: ``inversion.evaluate`` pulls in PyTorch and
    dlib, which only workers load (``derive``, ``describe_composite``).
    """
    global _recognizer
    with _lock:
        if _recognizer is None:
            from inversion.evaluate import Recognizer

            _recognizer = Recognizer()
        return _recognizer


def composite_descriptor(composite_png: bytes) -> list[float]:
    """dlib's descriptor of a composite's face (the aligned crop above its label band); a worker's job."""
    composite = image_array(composite_png)
    face = np.ascontiguousarray(composite[: composite.shape[1]])
    return [float(value) for value in recognizer().describe([face])[0]]


def similarity(composite: list[float], candidate: list[float] | None) -> Similarity:
    """The distance between a composite's and a candidate photo's face descriptors
    (None for the candidate: no face was found in the photo)."""
    if candidate is None:
        return Similarity(None, "No face was found in the candidate photo, so no similarity can be given.")
    distance = float(np.linalg.norm(np.asarray(composite) - np.asarray(candidate)))
    shown = f"{math.floor(distance * 1000) / 1000:.3f}"  # truncated: 0.5996 must not read 0.600
    if distance < SAME_PERSON_THRESHOLD:
        note = (
            f"Distance {shown} is below 0.6, the threshold dlib commonly uses for the same person. "
            "Treat this as a lead to follow up, not an identification."
        )
    else:
        note = (
            f"Distance {shown} is not below 0.6, the threshold dlib commonly uses for the same person. "
            "This does not rule the person out: a composite is an impression, not a photograph."
        )
    return Similarity(distance, note)
