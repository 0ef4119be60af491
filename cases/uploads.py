"""Hostile-input checks for uploaded images, before anything is stored.

``validate_upload`` reads an upload, decides what it is from what Pillow
actually decodes (never from its name or the client's content type) and
returns the bytes exactly as uploaded, which are kept as evidence. It
refuses, with a message a forensic artist can act on:

- empty files and files over ``UPLOAD_MAX_BYTES``;
- images over ``UPLOAD_MAX_PIXELS`` (decompression bombs), judged from the
  header before any pixel is decoded;
- anything that is not PNG, JPEG, WebP or TIFF: SVG, HTML, GIF, PDF, ...;
- markup anywhere in the file (``<script``, ``<html``, ``<svg``, ...) and
  extra data after the end of a PNG or WebP: polyglots that a browser or
  another tool could read as something other than an image;
- truncated or corrupt images (every pixel is decoded);
- animations and multi-page files: which frame is the evidence would be
  ambiguous, so they are refused rather than cut down to a first frame
  (except a camera's multi-picture JPEG, whose first picture is the photo);
- colour formats with no faithful 8-bit rendering (32-bit floating point).

CMYK, 16-bit, palette and transparent images are accepted: the pipeline
sees them through ``processing_image`` (8-bit RGB, transparency on white,
EXIF orientation applied) while the stored file stays as uploaded. What was
converted is listed in ``ValidatedImage.notes``.
"""

import contextlib
import hashlib
import io
import logging
import re
import struct
import warnings
from dataclasses import dataclass, field
from typing import IO

from django.conf import settings
from django.core.exceptions import ValidationError
from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000

# Pillow's own bomb check, for every image this process opens.
Image.MAX_IMAGE_PIXELS = getattr(settings, "UPLOAD_MAX_PIXELS", DEFAULT_MAX_PIXELS)

# What Pillow calls each accepted format, and the extension it is stored under.
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "TIFF": "tif"}
ACCEPTED = "PNG, JPEG, WebP or TIFF"

# Formats recognised only to say what a refused file is.
SIGNATURES = {
    b"GIF8": "a GIF image",
    b"BM": "a BMP image",
    b"%PDF": "a PDF document",
    b"\x00\x00\x01\x00": "an icon file",
    b"PK\x03\x04": "a ZIP archive",
    b"\xff\xfe": "a text file",
    b"\xfe\xff": "a text file",
}

# Markup that makes a file readable as a web page or script. XMP metadata
# (``<x:xmpmeta``, ``<rdf:RDF``) is legitimate in photos and not matched.
MARKUP = re.compile(
    rb"<(?:script|html|body|head|svg|iframe|object|embed|img|meta|style|!doctype|\?php)[\s>/]"
    rb"|javascript:",
    re.IGNORECASE,
)

# Modes the pipeline can render as 8-bit RGB, and what it says about them.
MODE_NOTES = {
    "1": None,
    "L": None,
    "RGB": None,
    "P": "palette colours converted to RGB for processing",
    "CMYK": "CMYK converted to RGB for processing",
    "YCbCr": "YCbCr converted to RGB for processing",
    "I;16": "16-bit greyscale reduced to 8-bit for processing",
    "I;16B": "16-bit greyscale reduced to 8-bit for processing",
    "I;16L": "16-bit greyscale reduced to 8-bit for processing",
    "I;16N": "16-bit greyscale reduced to 8-bit for processing",
    "I": "16-bit greyscale reduced to 8-bit for processing",
    "LA": "transparency flattened onto white for processing",
    "La": "transparency flattened onto white for processing",
    "PA": "transparency flattened onto white for processing",
    "RGBA": "transparency flattened onto white for processing",
    "RGBa": "transparency flattened onto white for processing",
    "RGBX": None,
}


class UploadRejected(ValidationError):
    """An upload refused before anything was stored; ``message`` says why and what to do.

    ``code`` names the rule (``too_large``, ``markup``, ...) for the audit
    trail; ``details`` holds what is known of the file (size, SHA-256).
    """

    def __init__(self, message: str, *, code: str = "rejected", details: dict | None = None) -> None:
        super().__init__(message, code=code)
        self.details = details or {}


@dataclass(frozen=True)
class ValidatedImage:
    """An accepted upload: the bytes exactly as uploaded and what they decode to.

    ``width`` and ``height`` are as the image is shown (EXIF orientation
    applied); ``format`` is Pillow's name for it (``PNG``, ``JPEG``, ``WEBP``,
    ``TIFF``) and ``mode`` its colour mode as stored.
    """

    data: bytes = field(repr=False)
    sha256: str
    size: int
    width: int
    height: int
    format: str
    extension: str
    mode: str
    notes: tuple[str, ...] = ()


def validate_upload(uploaded_file: IO[bytes]) -> ValidatedImage:
    """Check an uploaded image and return it, or raise ``UploadRejected``."""
    max_bytes = getattr(settings, "UPLOAD_MAX_BYTES", DEFAULT_MAX_BYTES)
    max_pixels = getattr(settings, "UPLOAD_MAX_PIXELS", DEFAULT_MAX_PIXELS)
    data = _read_at_most(uploaded_file, max_bytes)
    details = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}

    def reject(message: str, code: str) -> UploadRejected:
        return UploadRejected(message, code=code, details=details)

    if not data:
        raise reject("The file is empty. Choose the scanned sketch again and re-upload it.", "empty")
    if len(data) > max_bytes:
        # Only the first bytes were read: their hash is not the file's.
        declared = getattr(uploaded_file, "size", None)
        details.update(size=declared if isinstance(declared, int) else None, sha256=None)
        raise reject(
            f"The file is larger than {_megabytes(max_bytes)}, the most a sketch upload may be. "
            "Scan at a lower resolution (300 dpi is plenty) or save it as JPEG.",
            "too_large",
        )
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        raise reject(
            f"This is a web page, SVG drawing or other text file, not an image. Upload a {ACCEPTED} scan.",
            "markup",
        )
    if MARKUP.search(data):
        raise reject(
            "This image also contains web page or script code, so it is refused. "
            f"Open it in an image editor, save it again as {ACCEPTED} and upload that copy.",
            "markup",
        )

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(EXTENSIONS))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise reject(_too_many_pixels(max_pixels), "too_many_pixels") from None
    except UnidentifiedImageError:
        raise reject(
            f"This file is {_what_is(data)}. We accept {ACCEPTED} images: save the scan as PNG and upload that.",
            "format",
        ) from None
    except Exception as error:  # hostile headers can break any parser
        logger.info("Upload header unreadable: %r", error)
        raise reject(_unreadable(), "corrupt") from None

    with image:
        details.update(format=image.format, mode=image.mode, width=image.width, height=image.height)
        if image.width * image.height > max_pixels:
            raise reject(_too_many_pixels(max_pixels, image.width, image.height), "too_many_pixels")
        frames = getattr(image, "n_frames", 1)
        if frames > 1 and image.format != "MPO":
            raise reject(
                f"This image has {frames} frames (an animation or a multi-page file). "
                "Upload the sketch as a single still image.",
                "animated",
            )
        if image.mode not in MODE_NOTES:
            raise reject(
                f"This image uses a colour format we cannot show faithfully ({image.mode}). "
                "Save it as an ordinary 8-bit colour or greyscale PNG and upload that.",
                "mode",
            )
        trailing = _trailing_bytes(data, image.format)
        if trailing:
            raise reject(
                f"This image has {trailing} bytes of other data hidden after its end. "
                f"Open it in an image editor, save it again as {ACCEPTED} and upload that copy.",
                "trailing_data",
            )
        image_format, mode = image.format, image.mode
        try:
            processed, notes = _processing_image(image)
        except Exception as error:  # truncated or corrupt pixel data
            logger.info("Upload pixels unreadable: %r", error)
            raise reject(_unreadable(), "corrupt") from None
    if image_format == "MPO":
        # A camera's multi-picture JPEG: a photo plus previews or a depth map.
        image_format = "JPEG"
        notes.insert(0, f"multi-picture JPEG ({frames} pictures): the first, the photo itself, is used for processing")

    if image_format == "PNG":
        _verify_checksums(data, reject)
    return ValidatedImage(
        data=data,
        sha256=details["sha256"],
        size=len(data),
        width=processed.width,
        height=processed.height,
        format=image_format,
        extension=EXTENSIONS[image_format],
        mode=mode,
        notes=tuple(notes),
    )


def processing_image(data: bytes) -> Image.Image:
    """The image as the pipeline sees it: EXIF orientation applied, 8-bit RGB, transparency on white.

    ``data`` must have passed ``validate_upload``; the stored file is never
    changed, this is a copy in memory.
    """
    with Image.open(io.BytesIO(data), formats=list(EXTENSIONS)) as image:
        return _processing_image(image)[0]


def _processing_image(image: Image.Image) -> tuple[Image.Image, list[str]]:
    image.load()
    notes = []
    orientation = image.getexif().get(0x0112, 1)
    if orientation not in (None, 1):
        image = ImageOps.exif_transpose(image)
        notes.append(f"EXIF orientation {orientation} applied for processing; the file is stored as uploaded")
    mode = image.mode
    if MODE_NOTES.get(mode):
        notes.append(MODE_NOTES[mode])
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        notes.append(MODE_NOTES["RGBA"])
    if mode.startswith("I"):
        image = image.convert("I").point(lambda value: value / 256).convert("L")
    if image.mode in ("LA", "La", "PA", "RGBA", "RGBa"):
        rgba = image.convert("RGBA")
        flattened = Image.new("RGB", rgba.size, "white")
        flattened.paste(rgba, mask=rgba.getchannel("A"))
        return flattened, notes
    return image.convert("RGB"), notes


def _read_at_most(uploaded_file: IO[bytes], max_bytes: int) -> bytes:
    """The whole upload, or ``max_bytes + 1`` bytes of it when it is larger."""
    declared = getattr(uploaded_file, "size", None)
    if isinstance(declared, int) and declared > max_bytes:
        return uploaded_file.read(max_bytes + 1)
    with contextlib.suppress(AttributeError, OSError):  # a stream that cannot rewind is read from where it is
        uploaded_file.seek(0)
    return uploaded_file.read(max_bytes + 1)


def _trailing_bytes(data: bytes, image_format: str) -> int:
    """How many bytes follow the end of a PNG or WebP image (other formats are not measured)."""
    if image_format == "PNG":
        position = 8
        while position + 8 <= len(data):
            length, kind = struct.unpack(">I4s", data[position : position + 8])
            position += 12 + length
            if kind == b"IEND":
                return max(len(data) - position, 0)
        return 0
    if image_format == "WEBP":
        (riff_size,) = struct.unpack("<I", data[4:8])
        end = 8 + riff_size + (riff_size & 1)
        return max(len(data) - end, 0)
    return 0


def _verify_checksums(data: bytes, reject) -> None:
    """Pillow's PNG verification: every chunk's CRC, which decoding alone skips for some chunks."""
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            image.verify()
    except Exception as error:
        logger.info("Upload PNG checksum failed: %r", error)
        raise reject(_unreadable(), "corrupt") from None


def _what_is(data: bytes) -> str:
    for signature, description in SIGNATURES.items():
        if data.startswith(signature):
            return description
    return "not an image we can read"


def _too_many_pixels(max_pixels: int, width: int | None = None, height: int | None = None) -> str:
    size = f"{width} x {height} pixels" if width else "far too many pixels"
    return (
        f"This image is {size}; the most we accept is {max_pixels / 1e6:g} million pixels. "
        "Scan at a lower resolution (300 dpi is plenty for a sketch) and upload it again."
    )


def _unreadable() -> str:
    return (
        "This image is damaged or incomplete (it may have been cut short while copying or uploading). "
        "Open it on your computer to check it, then upload it again."
    )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"
