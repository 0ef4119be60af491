import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inversion import align

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def real_photos(archive: str, count: int) -> list[np.ndarray]:
    path = DATA / archive
    if not path.is_file():
        pytest.skip(f"face data not available: {path} is absent (see ../shared/data/README.md)")
    photos = []
    with tarfile.open(path) as tar:
        for member in tar:
            if member.isfile() and member.name.lower().endswith((".jpg", ".png")):
                photos.append(np.asarray(Image.open(tar.extractfile(member)).convert("RGB")))
                if len(photos) == count:
                    return photos
    return photos


@pytest.mark.data
@pytest.mark.parametrize("archive", ["lfw-deepfunneled.tar.gz", "celeba-6k.tar.gz", "cufs-train.tar.gz"])
def test_alignment_finds_the_face_on_real_photos(archive):
    for photo in real_photos(archive, 5):
        face = align.align(photo)
        assert face.found and face.method == "landmarks"
        assert face.image.shape == (align.RESOLUTION, align.RESOLUTION, 3)
        left, top, right, bottom = face.box
        assert 0 <= left < right <= photo.shape[1] and 0 <= top < bottom <= photo.shape[0]


@pytest.mark.data
def test_the_same_face_is_framed_the_same_in_a_shifted_photo():
    photo = real_photos("lfw-deepfunneled.tar.gz", 1)[0]
    shifted = np.pad(photo, ((20, 0), (30, 0), (0, 0)), mode="edge")
    a, b = align.align(photo).image.astype(float), align.align(shifted).image.astype(float)
    assert np.abs(a - b).mean() < 12  # same crop up to resampling


def test_no_face_gives_a_centred_crop_and_says_so():
    face = align.align(np.full((60, 100, 3), 255, np.uint8), size=32)
    assert not face.found and face.box == (20, 0, 80, 60) and face.image.shape == (32, 32, 3)


def test_a_given_box_skips_detection():
    image = np.full((100, 100), 200, np.uint8)
    face = align.align(image, size=32, box=(20, 20, 80, 80))
    assert face.found and face.box == (20, 20, 80, 80) and face.image.shape == (32, 32)
