"""Which drawing style a sketch is in, as suggested from the image itself."""

import numpy as np

from inversion.styles import suggest_style

from .models import Style
from .uploads import ValidatedImage

#: What goes wrong when a drawing goes to the network of another style, by the style chosen: said on the
#: upload form when the artist picks a style other than the one the drawing looks like.
MISMATCH = {
    "line": "The line network expects clean outlines: shading and grey pencil work come out as dark smudges.",
    "grayscale": "The grayscale network expects shaded pencil work: bare outlines or colour give flat, pale faces.",
    "color": "The colour network expects coloured drawings: grey pencil sketches come out as grey, washed-out faces.",
}


def style_warning(chosen: str, suggested: str) -> str:
    """What the artist should know when choosing ``chosen`` for a drawing that looks ``suggested``; "" when alike."""
    if chosen == suggested or chosen not in MISMATCH:
        return ""
    looks, chose = Style(suggested).label.lower(), Style(chosen).label.lower()
    return (
        f"This drawing looks like a {looks} sketch, and you chose {chose}. "
        f"{MISMATCH[chosen]} Keep your choice only if you are sure of the style."
    )


def suggested_style(image: ValidatedImage) -> str:
    """The style ``inversion.styles.suggest_style`` sees in a validated upload's ``preview`` (at most
    ``uploads.PREVIEW_SIZE`` px a side, kept from the validation's own decoding)."""
    return suggest_style(np.asarray(image.preview))
