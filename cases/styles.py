"""Which drawing style a sketch is in, as suggested from the image itself."""

import numpy as np

from inversion.styles import suggest_style

from .uploads import PREVIEW_SIZE, ValidatedImage, processing_image


def suggested_style(image: ValidatedImage) -> str:
    """The style ``inversion.styles.suggest_style`` sees in a validated upload.

    It looks at the upload's ``preview`` (at most ``uploads.PREVIEW_SIZE`` px a side), decoded once
    by the validation.
    """
    preview = image.preview
    if preview is None:  # a ValidatedImage built by hand
        preview = processing_image(image.data)
        preview.thumbnail((PREVIEW_SIZE, PREVIEW_SIZE))
    return suggest_style(np.asarray(preview))
