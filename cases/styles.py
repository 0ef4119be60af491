"""Which drawing style a sketch is in, as suggested from the image itself."""

import numpy as np

from inversion.styles import suggest_style

from .uploads import processing_image

#: Largest side of the copy the style suggestion looks at.
SUGGESTION_SIZE = 512


def suggested_style(data: bytes) -> str:
    """The style ``inversion.sketches.suggest_style`` sees in a validated image's bytes."""
    image = processing_image(data)
    image.thumbnail((SUGGESTION_SIZE, SUGGESTION_SIZE))
    return suggest_style(np.asarray(image))
