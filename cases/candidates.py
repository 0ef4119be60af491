"""Candidate photos: a possible suspect's photo set beside a case's composites.

``services.add_candidate_photo`` stores the photo as evidence. ``similarity`` gives dlib's face-descriptor
distance between a composite and a candidate: a lead for an investigator to
follow up, never an identification.
"""

import math
import threading
from dataclasses import dataclass

import numpy as np

from inversion import align

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

    Imported here, not at the top: ``inversion.evaluate`` pulls in PyTorch,
    which the web process needs only when someone compares faces.
    """
    global _recognizer
    with _lock:
        if _recognizer is None:
            from inversion.evaluate import Recognizer

            _recognizer = Recognizer()
        return _recognizer


def similarity(composite_png: bytes, candidate: np.ndarray, box: tuple[int, int, int, int] | None) -> Similarity:
    """dlib's descriptor distance between a composite (an aligned face crop
    above its label band) and a candidate photo (uint8 RGB), aligned here on
    its face ``box`` (None: the aligner found no face in it)."""
    if box is None:
        return Similarity(None, "No face was found in the candidate photo, so no similarity can be given.")
    composite = image_array(composite_png)
    composite = np.ascontiguousarray(composite[: composite.shape[1]])  # the face, without the label band
    face = align.align(candidate, size=composite.shape[0], box=box)
    descriptors = recognizer().describe([composite, face.image])
    distance = float(np.linalg.norm(descriptors[0] - descriptors[1]))
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
