"""Hostile-input checks for uploaded images, before anything is stored.

``validate_upload`` reads an upload, decides what it is from what Pillow
actually decodes (never from its name or the client's content type) and
returns the bytes exactly as uploaded, which are kept as evidence. It
refuses, with a message a forensic artist can act on:

- empty files and files over ``UPLOAD_MAX_BYTES``;
- images over ``UPLOAD_MAX_PIXELS`` (decompression bombs), judged from the
  header before any pixel is decoded;
- anything that is not PNG, JPEG, WebP or TIFF: SVG, HTML, GIF, PDF, ...;
- file names over 255 bytes (as UTF-8) or with control characters, when the
  upload has a name;
- markup anywhere in the file (``<script``, ``<html``, ``<svg``, ...) and
  any data after the end of the image: polyglots (an image that is also a
  ZIP archive, say) that another tool could read as something else. Where
  each format ends is found by walking its structure: PNG and WebP chunks,
  JPEG marker segments and scans (and the pictures a multi-picture JPEG
  lists), the TIFF directories and everything they point to;
- truncated or corrupt images: every pixel is decoded, and as decoders pad
  a JPEG scan that ends early, a scan shorter than one bit per 8 x 8 block
  (less than any complete scan can be) is refused too;
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
import unicodedata
import warnings
import zlib
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

# Markup that makes a file readable as a web page or script, matched in the lower-cased bytes
# (``contains_markup``). XMP metadata (``<x:xmpmeta``, ``<rdf:RDF``) is legitimate in photos and
# not matched.
MARKUP_TAG = re.compile(rb"<(?:script|html|body|head|svg|iframe|object|embed|img|meta|style|!doctype|\?php)[\s>/]")
MARKUP_SCHEME = b"javascript:"

# File names: at most this many bytes as UTF-8 (what file systems allow), and no
# characters of these Unicode categories: controls, format characters (such as
# text-direction overrides), line and paragraph separators, lone surrogates.
MAX_NAME_BYTES = 255
CONTROL_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}

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


#: Largest side of ``ValidatedImage.preview``.
PREVIEW_SIZE = 512


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
    ``TIFF``) and ``mode`` its colour mode as stored. ``preview`` is the
    decoded image as the pipeline sees it, at most ``PREVIEW_SIZE`` px a
    side, kept from the validation's own decoding so that nothing decodes the
    upload a second time in the request (the style suggestion reads it).
    """

    data: bytes = field(repr=False)
    sha256: str
    size: int
    width: int
    height: int
    format: str
    extension: str
    mode: str
    preview: Image.Image = field(repr=False, compare=False)
    notes: tuple[str, ...] = ()


def contains_markup(data: bytes) -> bool:
    """Whether ``data`` holds markup a browser or interpreter would act on, in any letter case.

    Lower-casing first (ASCII letters only, as a case-blind match of bytes does) lets both searches
    skip ahead to a literal, where one case-blind pattern tested every byte of the scan (#13).
    """
    lowered = data.lower()
    return MARKUP_SCHEME in lowered or MARKUP_TAG.search(lowered) is not None


def validate_upload(uploaded_file: IO[bytes]) -> ValidatedImage:
    """Check an uploaded image and return it, or raise ``UploadRejected``."""
    max_bytes = getattr(settings, "UPLOAD_MAX_BYTES", DEFAULT_MAX_BYTES)
    max_pixels = getattr(settings, "UPLOAD_MAX_PIXELS", DEFAULT_MAX_PIXELS)
    data = _read_at_most(uploaded_file, max_bytes)
    details = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}

    def reject(message: str, code: str) -> UploadRejected:
        return UploadRejected(message, code=code, details=details)

    name_problem = _name_problem(getattr(uploaded_file, "name", None))
    if name_problem:
        raise reject(
            f"{name_problem} Rename the file (the case number and a date will do) and upload it again.", "filename"
        )
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
    if contains_markup(data):
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
        try:
            trailing = len(data) - _image_end(data, image.format)
        except _Unsupported as error:
            raise reject(str(error), "format") from None
        except _Damaged as error:
            logger.info("Upload structure damaged: %s", error)
            raise reject(_unreadable(), "corrupt") from None
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
    width, height = processed.size
    # Box averaging: the preview only feeds the style suggestion's pixel statistics, and costs a quarter.
    processed.thumbnail((PREVIEW_SIZE, PREVIEW_SIZE), resample=Image.Resampling.BOX)
    return ValidatedImage(
        data=data,
        sha256=details["sha256"],
        size=len(data),
        width=width,
        height=height,
        format=image_format,
        extension=EXTENSIONS[image_format],
        mode=mode,
        notes=tuple(notes),
        preview=processed,
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


class _Damaged(Exception):
    """The file's structure ends early or points outside the file: it is truncated or corrupt."""


class _Unsupported(Exception):
    """A variant of an accepted format that is refused; the message says why, for the artist."""


def _image_end(data: bytes, image_format: str) -> int:
    """Where the image ends in ``data``: anything after it is not part of the image.

    Raises ``_Damaged`` when the structure is cut short or inconsistent, and
    ``_Unsupported`` for a JPEG encoding that browsers do not show.
    """
    try:
        if image_format == "PNG":
            return _png_end(data)
        if image_format == "WEBP":
            return _webp_end(data)
        if image_format == "JPEG":
            return _jpeg_end(data)[0]
        if image_format == "MPO":
            return _mpo_end(data)
        if image_format == "TIFF":
            return _tiff_end(data)
    except (struct.error, IndexError) as error:  # a read past the end of the file
        raise _Damaged(f"{image_format} structure unreadable: {error!r}") from None
    raise ValueError(f"no structure walker for {image_format}")


def _png_end(data: bytes) -> int:
    """Just past the IEND chunk; every chunk before it must be whole, and the
    image data (IDAT) must inflate to exactly the rows the header declares:
    decoders pad a short stream silently."""
    position, image_data = 8, []
    while True:
        length, kind = struct.unpack_from(">I4s", data, position)
        if position + 12 + length > len(data):
            raise _Damaged(f"PNG chunk {kind!r} runs past the end of the file")
        if kind == b"IDAT":
            image_data.append(data[position + 8 : position + 8 + length])
        position += 12 + length
        if kind == b"IEND":
            break
    inflated = _inflated_size(b"".join(image_data))
    expected = _png_data_size(*struct.unpack_from(">IIBBxxB", data, 16))
    if inflated != expected:
        raise _Damaged(f"PNG image data inflates to {inflated} bytes, not {expected}")
    return position


# PNG colour type: channels per pixel. Adam7 interlacing: (first column, first row, column step, row step).
PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def _png_data_size(width: int, height: int, bit_depth: int, colour_type: int, interlace: int) -> int:
    """How many bytes a PNG's image data inflates to: each row of each pass, with its filter byte."""
    bits = bit_depth * PNG_CHANNELS[colour_type]
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    size = 0
    for left, top, across, down in passes:
        columns, rows = _ceil_div(max(width - left, 0), across), _ceil_div(max(height - top, 0), down)
        if columns and rows:
            size += rows * (1 + _ceil_div(columns * bits, 8))
    return size


def _inflated_size(compressed: bytes) -> int:
    """How many bytes a zlib stream inflates to (a megabyte at a time); -1 if it is cut short or has data after it."""
    inflater, size = zlib.decompressobj(), 0
    pending = compressed
    while pending:
        size += len(inflater.decompress(pending, 1 << 20))
        pending = inflater.unconsumed_tail
    return size if inflater.eof and not inflater.unused_data else -1


def _webp_end(data: bytes) -> int:
    """Just past the last whole chunk inside the RIFF container; the container must be whole."""
    (riff_size,) = struct.unpack_from("<I", data, 4)
    riff_end = 8 + riff_size
    if riff_end > len(data):
        raise _Damaged("WebP container runs past the end of the file")
    position = 12
    while position + 8 <= riff_end:
        (size,) = struct.unpack_from("<I", data, position + 4)
        chunk_end = position + 8 + size + (size & 1)
        if chunk_end > riff_end:
            if position + 8 + size == riff_end:  # an odd last chunk without its padding byte
                return riff_end
            raise _Damaged("WebP chunk runs past the end of its container")
        position = chunk_end
    return position


# JPEG frame markers (SOFn) decoded with Huffman coding, whose scans have a
# provable least size; and the others, which browsers do not show.
JPEG_HUFFMAN_FRAMES = {0xC0: "baseline", 0xC1: "extended", 0xC2: "progressive"}
JPEG_OTHER_FRAMES = {0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
# The marker that ends a scan's entropy-coded data: 0xFF followed by anything
# but a stuffed zero, a restart marker (RST0-7) or another 0xFF (fill).
JPEG_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def _jpeg_end(data: bytes | memoryview, start: int = 0) -> tuple[int, int | None]:
    """Where the JPEG that starts at ``start`` ends (just past its EOI marker), and
    where its multi-picture (MPF) index starts, if it has one.

    Walks SOI, the length-prefixed segments and, after each SOS, the
    entropy-coded data (0xFF00 stuffing and RST markers within it) up to the
    next marker; progressive JPEGs have several scans. Every scan that codes
    DC coefficients spends at least one bit on each 8 x 8 block of its
    components, so a shorter one was cut short: decoders pad it silently.
    """
    if data[start : start + 2] != b"\xff\xd8":
        raise _Damaged("JPEG picture does not start with SOI")
    position, blocks, mpf = start + 2, None, None
    while True:
        if data[position] != 0xFF:
            raise _Damaged(f"JPEG data at {position} is not a marker")
        while data[position + 1] == 0xFF:  # fill bytes
            position += 1
        marker = data[position + 1]
        position += 2
        if marker == 0xD9:  # EOI
            return position, mpf
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # RSTn, TEM: no length
            continue
        if marker in (0x00, 0xD8):
            raise _Damaged(f"JPEG marker {marker:#x} out of place")
        (length,) = struct.unpack_from(">H", data, position)
        segment_end = position + length
        if length < 2 or segment_end > len(data):
            raise _Damaged(f"JPEG segment {marker:#x} runs past the end of the file")
        body = bytes(data[position + 2 : segment_end])
        if marker in JPEG_OTHER_FRAMES:
            raise _Unsupported(
                "This JPEG is saved in a rare encoding (arithmetic, lossless or hierarchical) that browsers "
                "cannot show. Open it in an image editor, save it again as an ordinary JPEG and upload that copy."
            )
        if marker in JPEG_HUFFMAN_FRAMES:
            blocks = _jpeg_blocks(body)
        elif marker == 0xE2 and body.startswith(b"MPF\x00"):
            mpf = position + 6
        elif marker == 0xDA:  # SOS, then the scan's entropy-coded data
            if blocks is None:
                raise _Damaged("JPEG scan before its frame header")
            components = [body[1 + 2 * index] for index in range(body[0])]
            first_coefficient = body[1 + 2 * body[0]]
            scan_end = JPEG_SCAN_END.search(data, segment_end)
            if scan_end is None:
                raise _Damaged("JPEG scan runs to the end of the file")
            coded_bits = 8 * (scan_end.start() - segment_end)
            if first_coefficient == 0 and coded_bits < sum(blocks.get(component, 0) for component in components):
                raise _Damaged(f"JPEG scan of {coded_bits} bits is too short for its blocks")
            position = scan_end.start()
            continue
        position = segment_end


def _jpeg_blocks(frame: bytes) -> dict[int, int]:
    """The number of 8 x 8 blocks of each component of a JPEG frame (SOFn body), by component id."""
    height, width, count = struct.unpack_from(">HHB", frame, 1)
    sampling = {frame[6 + 3 * index]: (frame[7 + 3 * index] >> 4, frame[7 + 3 * index] & 15) for index in range(count)}
    if not sampling or min(min(factors) for factors in sampling.values()) == 0:
        raise _Damaged("JPEG frame header has no components or a zero sampling factor")
    most_across = max(across for across, _ in sampling.values())
    most_down = max(down for _, down in sampling.values())
    return {
        component: _ceil_div(_ceil_div(width * across, most_across), 8)
        * _ceil_div(_ceil_div(height * down, most_down), 8)
        for component, (across, down) in sampling.items()
    }


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def _mpo_end(data: bytes) -> int:
    """Just past the last picture a multi-picture JPEG lists in its MPF index.

    A camera stores previews or a depth map after the photo's EOI; each
    listed picture must be a whole JPEG where the index says it is.
    """
    end, mpf = _jpeg_end(data)
    if mpf is None:
        raise _Damaged("multi-picture JPEG without an MPF index")
    order, first, _ = _tiff_header(data, mpf)
    for tag, _, count, value_at in _ifd_entries(data, mpf, first, order, big=False):
        if tag == 0xB002:  # MPEntry: 16 bytes per picture, the first being this photo
            for index in range(1, count // 16):
                _, _, offset = struct.unpack_from(f"{order}III", data, value_at + 16 * index)
                end = max(end, _jpeg_end(data, mpf + offset)[0])
    return end


# TIFF field types: the size of one value in bytes (unknown types are skipped),
# and how the unsigned integer ones, which offsets and byte counts use, are read.
TIFF_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}
TIFF_INTEGERS = {1: "B", 3: "H", 4: "I", 13: "I", 16: "Q", 18: "Q"}
# Tags whose values are (offsets, byte counts) of image data.
TIFF_EXTENTS = [(273, 279), (324, 325), (288, 289), (513, 514)]  # strips, tiles, free space, old-style JPEG
# Tags whose values are offsets of further directories: sub-IFDs, EXIF, GPS, interoperability.
TIFF_DIRECTORIES = (330, 34665, 34853, 40965)
TIFF_MOST_DIRECTORIES = 64
TIFF_READ = (259, *TIFF_DIRECTORIES)  # and compression


def _tiff_end(data: bytes) -> int:
    """The furthest extent of the TIFF's directories, their out-of-line values and the image data they point to."""
    order, first, big = _tiff_header(data, 0)
    end = 16 if big else 8
    pending, seen = [first], set()
    while pending:
        offset = pending.pop()
        if offset == 0 or offset in seen:
            continue
        seen.add(offset)
        if len(seen) > TIFF_MOST_DIRECTORIES:
            raise _Damaged("TIFF with too many directories")
        entries = list(_ifd_entries(data, 0, offset, order, big))
        count_size, entry_size, offset_format = (8, 20, "Q") if big else (2, 12, "I")
        directory_end = offset + count_size + entry_size * len(entries)
        (following,) = struct.unpack_from(f"{order}{offset_format}", data, directory_end)
        end = max(end, directory_end + struct.calcsize(offset_format))
        pending.append(following)
        values = {}
        for tag, kind, count, value_at in entries:
            end = max(end, value_at + TIFF_SIZES.get(kind, 0) * count)
            if kind in TIFF_INTEGERS and (tag in TIFF_READ or any(tag in pair for pair in TIFF_EXTENTS)):
                values[tag] = struct.unpack_from(f"{order}{count}{TIFF_INTEGERS[kind]}", data, value_at)
        for offsets_tag, counts_tag in TIFF_EXTENTS:
            for start, length in zip(values.get(offsets_tag, ()), values.get(counts_tag, ()), strict=False):
                end = max(end, start + length)
        pending.extend(offset for tag in TIFF_DIRECTORIES for offset in values.get(tag, ()))
        if 7 in values.get(259, ()):  # JPEG compression: each strip or tile a whole JPEG
            for offsets_tag, counts_tag in TIFF_EXTENTS[:2]:
                for start, length in zip(values.get(offsets_tag, ()), values.get(counts_tag, ()), strict=False):
                    _jpeg_end(memoryview(data)[: start + length], start)
    if end > len(data):
        raise _Damaged("TIFF data runs past the end of the file")
    return end


def _tiff_header(data: bytes, base: int) -> tuple[str, int, bool]:
    """The byte order, first directory (relative to ``base``) and BigTIFF-ness of the TIFF header at ``base``."""
    order = {b"II": "<", b"MM": ">"}.get(data[base : base + 2])
    if order is None:
        raise _Damaged("TIFF header without a byte order")
    (version,) = struct.unpack_from(f"{order}H", data, base + 2)
    if version == 43:
        return order, struct.unpack_from(f"{order}Q", data, base + 8)[0], True
    return order, struct.unpack_from(f"{order}I", data, base + 4)[0], False


def _ifd_entries(data: bytes, base: int, offset: int, order: str, big: bool):
    """(tag, type, count, where its value lies in ``data``) for each entry of the directory at ``base + offset``.

    Offsets in the directory count from ``base`` (the TIFF header), as in an MPF index.
    """
    count_format, entry_format, inline = (f"{order}Q", f"{order}HHQQ", 8) if big else (f"{order}H", f"{order}HHII", 4)
    position = base + offset
    (entries,) = struct.unpack_from(count_format, data, position)
    position += struct.calcsize(count_format)
    entry_size = struct.calcsize(entry_format)
    if position + entries * entry_size > len(data):
        raise _Damaged("TIFF directory runs past the end of the file")
    for index in range(entries):
        entry_at = position + index * entry_size
        tag, kind, count, value = struct.unpack_from(entry_format, data, entry_at)
        size = TIFF_SIZES.get(kind, 0) * count
        value_at = entry_at + entry_size - inline if size <= inline else base + value
        if value_at + size > len(data):
            raise _Damaged(f"TIFF tag {tag} runs past the end of the file")
        yield tag, kind, count, value_at


def _name_problem(name: object) -> str | None:
    """What is wrong with an upload's file name, in words, or None (also when it has none)."""
    if not isinstance(name, str):
        return None
    name = re.split(r"[/\\]", name)[-1]
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_NAME_BYTES:
        return f"The file's name is too long ({size} bytes; at most {MAX_NAME_BYTES})."
    if any(unicodedata.category(character) in CONTROL_CATEGORIES for character in name):
        return "The file's name contains control characters (invisible characters such as line breaks)."
    return None


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
