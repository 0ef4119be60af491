"""Witness sketches are stored exactly as uploaded, named by content."""

import hashlib
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage

from cases import services
from cases.models import WitnessSketch

from .factories import CaseFactory, png_bytes


def test_sketch_is_stored_byte_for_byte_under_its_sha256(artist, case):
    data = png_bytes(80, 60)

    sketch = services.add_sketch(case, io.BytesIO(data), user=artist, style="grayscale", filename="scan.png")

    digest = hashlib.sha256(data).hexdigest()
    assert sketch.original.name == f"sketches/{digest}.png"
    assert (sketch.sha256, sketch.size, sketch.width, sketch.height) == (digest, len(data), 80, 60)
    with default_storage.open(sketch.original.name) as stored:
        assert stored.read() == data


def test_the_same_bytes_uploaded_twice_share_one_file(artist, case):
    data = png_bytes()

    first = services.add_sketch(case, io.BytesIO(data), user=artist, style="line")
    second = services.add_sketch(case, io.BytesIO(data), user=artist, style="line")

    assert first.original.name == second.original.name
    assert default_storage.listdir("sketches")[1] == [first.original.name.split("/")[1]]


def test_a_revision_links_to_the_sketch_it_revises(artist, case):
    first = services.add_sketch(case, io.BytesIO(png_bytes(color="white")), user=artist, style="line")
    revision = services.add_sketch(case, io.BytesIO(png_bytes(color="gray")), user=artist, style="line", revises=first)

    assert list(first.revisions.all()) == [revision]


def test_a_revision_must_belong_to_the_same_case(artist, case):
    first = services.add_sketch(case, io.BytesIO(png_bytes()), user=artist, style="line")
    other_case = CaseFactory()
    other_case.memberships.create(user=artist, role="forensic_artist")

    with pytest.raises(ValidationError):
        services.add_sketch(other_case, io.BytesIO(png_bytes(color="black")), user=artist, style="line", revises=first)


def test_a_file_that_is_not_an_image_is_refused_and_nothing_is_kept(artist, case):
    with pytest.raises(ValidationError):
        services.add_sketch(case, io.BytesIO(b"<svg onload=alert(1)>"), user=artist, style="line")

    assert not WitnessSketch.objects.exists()
    assert not default_storage.exists("sketches")
