"""Hostile and awkward uploads: refused with a clear message, audited, nothing kept; odd but honest images accepted.

The corpus is generated here, so every file's trick is visible in the test.
"""

import functools
import hashlib
import io
import re
import struct
import zlib

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from cases import services
from cases.models import AuditEvent, WitnessSketch
from cases.uploads import UploadRejected, processing_image, validate_upload

from .factories import png_bytes

Action = AuditEvent.Action


def encode(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def noise(mode: str = "RGB", size: tuple[int, int] = (64, 48)) -> Image.Image:
    """An image that compresses badly, so that cutting it short loses pixels."""
    return Image.frombytes(mode, size, hashlib.shake_256(b"sketch").digest(size[0] * size[1] * len(mode)))


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@functools.cache
def png_bomb(side: int) -> bytes:
    """A few hundred kilobytes of PNG that decode to ``side`` x ``side`` pixels of zeros."""
    compressor = zlib.compressobj(9)
    row = bytes(side + 1)  # filter byte + one grey byte per pixel
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def with_bad_crc(png: bytes) -> bytes:
    """The PNG with its pixel data's checksum zeroed, as a flipped bit in transit would leave it."""
    start = png.index(b"IDAT") - 4
    (length,) = struct.unpack(">I", png[start : start + 4])
    crc = start + 8 + length
    return png[:crc] + bytes(4) + png[crc + 4 :]


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


REJECTED = {
    "zero bytes": (lambda: b"", "empty", "empty"),
    "decompression bomb": (lambda: png_bomb(12_000), "too_many_pixels", "million pixels"),
    "bomb just over the limit": (lambda: png_bomb(7_000), "too_many_pixels", "million pixels"),
    "truncated PNG": (lambda: encode(noise(), "PNG")[:-2000], "corrupt", "damaged or incomplete"),
    "truncated JPEG": (lambda: encode(noise(), "JPEG")[:1500], "corrupt", "damaged or incomplete"),
    "PNG with a bad checksum": (lambda: with_bad_crc(encode(noise(), "PNG")), "corrupt", "damaged or incomplete"),
    "SVG with script": (
        lambda: b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        "markup",
        "not an image",
    ),
    "HTML after a byte order mark": (
        lambda: b"\xef\xbb\xbf  <!DOCTYPE html><html><script>alert(1)</script></html>",
        "markup",
        "not an image",
    ),
    "PNG with HTML appended": (
        lambda: png_bytes() + b"<html><script>fetch('/cases/')</script></html>",
        "markup",
        "script code",
    ),
    "JPEG with a script in a comment": (
        lambda: jpeg_with_comment(b"<script>alert(document.cookie)</script>"),
        "markup",
        "script code",
    ),
    "PNG with a ZIP appended": (lambda: png_bytes() + b"PK\x03\x04" + bytes(64), "trailing_data", "after its end"),
    "WebP with data appended": (lambda: encode(noise(), "WEBP") + b"extra", "trailing_data", "after its end"),
    "GIF": (lambda: encode(Image.new("P", (32, 32)), "GIF"), "format", "a GIF image"),
    "animated GIF": (lambda: animated("GIF"), "format", "a GIF image"),
    "animated WebP": (lambda: animated("WEBP"), "animated", "3 frames"),
    "animated PNG": (lambda: animated("PNG"), "animated", "3 frames"),
    "multi-page TIFF": (lambda: animated("TIFF"), "animated", "3 frames"),
    "BMP": (lambda: encode(Image.new("RGB", (8, 8)), "BMP"), "format", "a BMP image"),
    "PDF": (lambda: b"%PDF-1.7\n1 0 obj <<>> endobj\n", "format", "a PDF document"),
    "32-bit floating point TIFF": (lambda: encode(Image.new("F", (16, 16), 0.5), "TIFF"), "mode", "colour format"),
}


@pytest.mark.parametrize("name", REJECTED)
def test_upload_is_refused_with_a_clear_message_audited_and_nothing_kept(artist, case, audit_log, name):
    make, code, phrase = REJECTED[name]
    data = make()

    with pytest.raises(UploadRejected, match=phrase) as rejected:
        services.add_sketch(case, io.BytesIO(data), user=artist, style="line", filename="sketch.png")

    assert rejected.value.code == code
    (event,) = audit_log.new()
    assert (event.action, event.outcome, event.case, event.user) == (Action.UPLOAD_REJECTED, "failed", case, artist)
    assert event.details["reason"] == code
    assert event.details["sha256"] == hashlib.sha256(data).hexdigest()
    assert event.details["filename"] == "sketch.png"
    assert not WitnessSketch.objects.exists()
    assert not default_storage.exists("sketches")


def assert_refused_and_nothing_kept(audit_log, data: bytes, code: str) -> None:
    rejections = [event for event in audit_log.new() if event.action == Action.UPLOAD_REJECTED]
    assert [(event.outcome, event.details["reason"]) for event in rejections] == [("failed", code)]
    assert rejections[0].details["sha256"] == hashlib.sha256(data).hexdigest()
    assert not WitnessSketch.objects.exists()
    assert not default_storage.exists("sketches")


@pytest.mark.parametrize("name", REJECTED)  # each, an empty file included, audited
def test_upload_page_answers_400_with_the_message(client, artist, case, audit_log, name):
    make, code, phrase = REJECTED[name]
    data = make()
    client.force_login(artist)
    audit_log.mark()

    response = client.post(
        reverse("sketch_upload", args=[case.pk]),
        {"image": SimpleUploadedFile("sketch.png", data, content_type="image/png"), "style": "line"},
    )

    assert response.status_code == 400
    assert phrase in response.content.decode()
    assert_refused_and_nothing_kept(audit_log, data, code)


@pytest.mark.parametrize("name", REJECTED)  # each, an empty file included, audited
def test_upload_api_answers_400_with_the_message(client, artist, case, audit_log, name):
    make, code, phrase = REJECTED[name]
    data = make()
    client.force_login(artist)
    audit_log.mark()

    response = client.post(
        reverse("api:sketch_list", args=[case.pk]),
        {"image": SimpleUploadedFile("sketch.png", data, content_type="image/png"), "style": "line"},
    )

    assert response.status_code == 400
    assert phrase in response.json()["message"]
    assert_refused_and_nothing_kept(audit_log, data, code)


@pytest.mark.parametrize("url_name", ["sketch_upload", "api:sketch_list"])
def test_upload_over_the_size_limit_through_the_web_answers_400(client, artist, case, settings, audit_log, url_name):
    settings.UPLOAD_MAX_BYTES = 1024 * 1024
    client.force_login(artist)
    audit_log.mark()

    response = client.post(
        reverse(url_name, args=[case.pk]),
        {"image": SimpleUploadedFile("big.png", encode(noise(size=(800, 600)), "PNG")), "style": "line"},
    )

    assert response.status_code == 400
    assert "larger than 1 MB" in response.content.decode()
    assert [event.details["reason"] for event in audit_log.new() if event.action == Action.UPLOAD_REJECTED] == [
        "too_large"
    ]
    assert not WitnessSketch.objects.exists()


def test_upload_over_the_size_limit_is_refused_before_it_is_read_in_full(artist, case, settings, audit_log):
    settings.UPLOAD_MAX_BYTES = 1024 * 1024
    data = encode(noise(size=(800, 600)), "PNG")
    upload = SimpleUploadedFile("big.png", data, content_type="image/png")

    with pytest.raises(UploadRejected, match="larger than 1 MB") as rejected:
        services.add_sketch(case, upload, user=artist, style="line")

    assert rejected.value.code == "too_large"
    assert rejected.value.details == {"size": len(data), "sha256": None}
    assert audit_log.new()[0].action == Action.UPLOAD_REJECTED
    assert not WitnessSketch.objects.exists()


def test_upload_over_the_pixel_limit_names_its_size(artist, case, settings):
    settings.UPLOAD_MAX_PIXELS = 10_000

    with pytest.raises(UploadRejected, match=re.escape("200 x 100 pixels; the most we accept is 0.01 million pixels")):
        services.add_sketch(case, io.BytesIO(png_bytes(200, 100)), user=artist, style="line")


def test_upload_rejected_is_a_validation_error_that_forms_can_show():
    from django import forms

    form = forms.Form()
    form.cleaned_data = {}
    try:
        validate_upload(io.BytesIO(b""))
    except forms.ValidationError as error:
        form.add_error(None, error)

    assert form.non_field_errors() == ["The file is empty. Choose the scanned sketch again and re-upload it."]


def test_format_is_decided_by_content_not_by_name_or_content_type(artist, case):
    data = encode(noise(), "JPEG")
    upload = SimpleUploadedFile("sketch.png", data, content_type="image/png")

    sketch = services.add_sketch(case, upload, user=artist, style="line")

    assert sketch.original.name == f"sketches/{hashlib.sha256(data).hexdigest()}.jpg"


@pytest.mark.parametrize(
    ("image", "image_format", "note"),
    [
        (noise("CMYK"), "JPEG", "CMYK converted to RGB"),
        (noise("CMYK"), "TIFF", "CMYK converted to RGB"),
        (Image.new("I;16", (64, 48), 40_000), "PNG", "16-bit greyscale reduced to 8-bit"),
        (Image.new("I;16", (64, 48), 40_000), "TIFF", "16-bit greyscale reduced to 8-bit"),
        (Image.new("RGBA", (64, 48), (0, 0, 0, 0)), "PNG", "transparency flattened onto white"),
        (Image.new("LA", (64, 48), (0, 0)), "WEBP", "transparency flattened onto white"),
        (Image.new("P", (64, 48), 3), "PNG", "palette colours converted to RGB"),
    ],
    ids=["CMYK JPEG", "CMYK TIFF", "16-bit PNG", "16-bit TIFF", "alpha PNG", "alpha WebP", "palette PNG"],
)
def test_unusual_colour_formats_are_accepted_stored_as_uploaded_and_rendered_as_rgb(
    artist, case, image, image_format, note
):
    data = encode(image, image_format)

    sketch = services.add_sketch(case, io.BytesIO(data), user=artist, style="grayscale")

    with default_storage.open(sketch.original.name) as stored:
        assert stored.read() == data
    validated = validate_upload(io.BytesIO(data))
    assert any(note in line for line in validated.notes)
    rendered = processing_image(data)
    assert (rendered.mode, rendered.size) == ("RGB", (64, 48))


def test_16_bit_greyscale_is_scaled_not_clipped():
    data = encode(Image.new("I;16", (8, 8), 32_768), "PNG")

    assert processing_image(data).getpixel((0, 0)) == (128, 128, 128)


def test_transparency_is_flattened_onto_white_paper():
    data = encode(Image.new("RGBA", (8, 8), (0, 0, 0, 0)), "PNG")

    assert processing_image(data).getpixel((0, 0)) == (255, 255, 255)


def test_exif_orientation_is_applied_for_processing_and_the_original_bytes_are_kept(artist, case, audit_log):
    data = exif_rotated_jpeg()

    sketch = services.add_sketch(case, io.BytesIO(data), user=artist, style="line")

    assert (sketch.width, sketch.height) == (40, 60)
    assert processing_image(data).size == (40, 60)
    with default_storage.open(sketch.original.name) as stored:
        assert stored.read() == data
    (event,) = audit_log.new()
    assert event.details["notes"] == ["EXIF orientation 6 applied for processing; the file is stored as uploaded"]


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "WEBP", "TIFF"])
def test_the_four_scan_formats_are_accepted(artist, case, image_format):
    data = encode(noise("L"), image_format)

    sketch = services.add_sketch(case, io.BytesIO(data), user=artist, style="line")

    assert sketch.sha256 == hashlib.sha256(data).hexdigest()
    assert sketch.original.name.endswith({"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "TIFF": ".tif"}[image_format])


def test_a_cameras_multi_picture_jpeg_is_accepted_and_its_photo_processed(artist, case):
    photo, preview = noise(size=(60, 40)), Image.new("RGB", (30, 20), "black")
    data = encode(photo, "MPO", save_all=True, append_images=[preview])

    sketch = services.add_sketch(case, io.BytesIO(data), user=artist, style="line")

    assert sketch.original.name.endswith(".jpg")
    assert (sketch.width, sketch.height) == (60, 40)
    validated = validate_upload(io.BytesIO(data))
    assert validated.format == "JPEG"
    assert validated.notes[0].startswith("multi-picture JPEG (2 pictures)")


def test_xmp_metadata_is_not_mistaken_for_markup():
    xmp = b'<?xpacket begin=""?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF></rdf:RDF></x:xmpmeta>'
    data = jpeg_with_comment(xmp)

    assert validate_upload(io.BytesIO(data)).format == "JPEG"
