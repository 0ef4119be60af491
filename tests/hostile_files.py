"""Builders for the hostile and awkward upload corpus: each file's trick is visible in its code."""

import functools
import hashlib
import io
import struct
import zlib

from PIL import Image

# The smallest ZIP archive: an empty central directory. Appended to an image
# it makes a polyglot that unzip tools open.
EMPTY_ZIP = b"PK\x05\x06" + bytes(18)


def encode(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def noise(mode: str = "RGB", size: tuple[int, int] = (64, 48)) -> Image.Image:
    """An image that compresses badly, so that cutting it short loses pixels."""
    return Image.frombytes(mode, size, hashlib.shake_256(b"sketch").digest(size[0] * size[1] * len(mode)))


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width: int, height: int, image_data: bytes, *, bit_depth: int = 8, colour_type: int = 0, interlace: int = 0):
    """A PNG with the header given and ``image_data`` (before compression) as its one IDAT chunk."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, interlace)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(image_data))
        + png_chunk(b"IEND", b"")
    )


@functools.cache
def png_bomb(side: int) -> bytes:
    """A few hundred kilobytes of PNG that decode to ``side`` x ``side`` pixels of zeros."""
    compressor = zlib.compressobj(9)
    row = bytes(side + 1)  # filter byte + one grey byte per pixel
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def png_with_rows_missing() -> bytes:
    """A 64 x 480 greyscale PNG whose (whole, valid) compressed data holds only 48 rows: decoders pad the rest."""
    return png(64, 480, b"".join(b"\x00" + bytes(range(64)) for _ in range(48)))


def with_bad_crc(data: bytes) -> bytes:
    """The PNG with its pixel data's checksum zeroed, as a flipped bit in transit would leave it."""
    start = data.index(b"IDAT") - 4
    (length,) = struct.unpack(">I", data[start : start + 4])
    crc = start + 8 + length
    return data[:crc] + bytes(4) + data[crc + 4 :]


def animated(image_format: str) -> bytes:
    frames = [Image.new("RGB", (32, 32), colour) for colour in ("white", "black", "grey")]
    return encode(frames[0], image_format, save_all=True, append_images=frames[1:], duration=100)


def jpeg_with_comment(comment: bytes) -> bytes:
    data = encode(noise(), "JPEG")
    segment = b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment
    return data[:2] + segment + data[2:]


def exif_rotated_jpeg() -> bytes:
    """A 60 x 40 JPEG whose EXIF says: show me turned 90 degrees (orientation 6)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(noise(size=(60, 40)), "JPEG", exif=exif)


def multi_picture_jpeg() -> bytes:
    """A camera's MPO: a 60 x 40 photo and, after its end, a preview that its MPF index lists."""
    return encode(noise(size=(60, 40)), "MPO", save_all=True, append_images=[Image.new("RGB", (30, 20), "black")])


def jpeg_declaring(width: int, height: int) -> bytes:
    """A 240 x 300 JPEG whose frame header declares ``width`` x ``height``: decoders pad the missing blocks."""
    data = encode(noise(size=(240, 300)), "JPEG")
    frame = data.index(b"\xff\xc0")
    return data[: frame + 5] + struct.pack(">HH", height, width) + data[frame + 9 :]


def jpeg_cut_in_its_scan(*, progressive: bool = False) -> bytes:
    """A JPEG cut short in its (first) scan's data and given an end marker, so that it looks whole."""
    data = encode(noise(size=(240, 300)), "JPEG", progressive=progressive)
    scan = data.index(b"\xff\xda")
    return data[: scan + 40] + b"\xff\xd9"


def with_frame_marker(data: bytes, marker: int) -> bytes:
    """The JPEG with its baseline frame marker (SOF0) replaced, e.g. by an arithmetic-coded one (SOF9)."""
    return data.replace(b"\xff\xc0", bytes([0xFF, marker]), 1)


def webp_with_data_cut_short() -> bytes:
    """A WebP whose image data lost its last 200 bytes, its RIFF and chunk sizes made to match."""
    data = encode(noise(), "WEBP")[:-200]
    return b"RIFF" + struct.pack("<I", len(data) - 8) + data[8:16] + struct.pack("<I", len(data) - 20) + data[20:]


def tiff_with_strip_cut_short(compression: str) -> bytes:
    """A one-strip TIFF whose strip byte count says half of what the strip holds: readers stop there."""
    data = bytearray(encode(noise(), "TIFF", compression=compression))
    (directory,) = struct.unpack_from("<I", data, 4)
    (entries,) = struct.unpack_from("<H", data, directory)
    for entry in range(directory + 2, directory + 2 + 12 * entries, 12):
        tag, kind, _, value = struct.unpack_from("<HHII", data, entry)
        if tag == 279:  # StripByteCounts
            value = value & 0xFFFF if kind == 3 else value
            struct.pack_into("<H" if kind == 3 else "<I", data, entry + 8, value // 2)
    return bytes(data)
