"""The face box an artist confirms (left, top, right, bottom, in sketch pixels): one rule for the page,
the API, the crop preview and the worker."""

from django.core.exceptions import ValidationError

#: The smallest face box side the aligner can work with, in pixels.
MIN_SIDE = 16


def check_box(box, width: int, height: int) -> list[int]:
    """``box`` as four whole numbers inside a ``width`` x ``height`` sketch, at least ``MIN_SIDE`` each way.

    Raises ``ValidationError`` saying what is wrong.
    """
    if not (isinstance(box, list | tuple) and len(box) == 4 and all(type(side) is int for side in box)):
        raise ValidationError("The face box must be four whole numbers: left, top, right, bottom.")
    left, top, right, bottom = box
    if not (0 <= left < right <= width and 0 <= top < bottom <= height):
        raise ValidationError(f"The face box must lie inside the sketch ({width} x {height} pixels).")
    if right - left < MIN_SIDE or bottom - top < MIN_SIDE:
        raise ValidationError(f"The face box must be at least {MIN_SIDE} pixels wide and high.")
    return [left, top, right, bottom]


#: Said when an artist asks for a composite of a sketch whose face nobody has located.
NO_FACE_MESSAGE = (
    "The aligner found no face in this sketch. Draw the face box over the face, or tick "
    "\u201cThe box is on the face\u201d if the box shown is right, then request composites again."
)

#: Said when composites are asked for before a worker has looked for the face.
STILL_LOOKING_MESSAGE = (
    "The face in this sketch is still being looked for; the page shows the box in a moment. "
    "Or draw the face box yourself."
)
