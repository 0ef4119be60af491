"""The stored composite image: the network's output, upscaled, with a visible
label in a band beneath the face and its provenance in PNG text chunks.

Anyone holding only the file can still tell it is a generated composite, not
a photograph, and read how it was made (``read_text``; also ``exiftool`` or
``identify -verbose``).
"""

import io

from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

STATEMENT = (
    "Generated composite: a machine rendering of a witness sketch by a sketch-inversion network. "
    "It is not a photograph of any person."
)

#: The band under the face that holds the label, as a fraction of the image side.
BAND = 0.11


def render(composite: Image.Image, *, label: str, size: int, text: dict[str, str]) -> bytes:
    """PNG bytes: ``composite`` upscaled to ``size`` x ``size`` (Lanczos), the
    ``label`` in a black band below it, ``text`` as iTXt chunks."""
    face = composite.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
    band = max(16, round(size * BAND))
    canvas = Image.new("RGB", (size, size + band), "black")
    canvas.paste(face, (0, 0))
    if label:
        draw = ImageDraw.Draw(canvas)
        font = _fitting_font(label, width=size * 0.94, height=band * 0.6)
        draw.text((size / 2, size + band / 2), label, fill="white", font=font, anchor="mm")
    info = PngInfo()
    for key, value in {"Description": STATEMENT, "Label": label, **text}.items():
        info.add_itxt(key, str(value))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def read_text(data: bytes) -> dict[str, str]:
    """The text chunks of a PNG."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return dict(image.text)


def _fitting_font(label: str, *, width: float, height: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's built-in font at the largest size that fits the band."""
    size = max(6, int(height))
    font = ImageFont.load_default(size=size)
    while size > 6 and font.getlength(label) > width:
        size -= 1
        font = ImageFont.load_default(size=size)
    return font
