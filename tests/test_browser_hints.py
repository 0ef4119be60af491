"""Colour hints in a real browser (Debian's Chromium through Playwright): an artist
paints hair and skin over a copy of a sketch, undoes a stroke, saves, and lands on
the new revision's page with its colour composite (cases/views/hints.py,
``setUpHints`` in static/js/app.js)."""

import io
import os
import re

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image

from accounts.roles import GlobalRole
from cases.models import CaseMembership, Composite, WitnessSketch

from .browser import CHROMIUM, PHONE, Session
from .factories import CaseFactory, MembershipFactory, UserFactory
from .web import add_sketch

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium (apt-get install chromium)"),
]

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

#: Where the tests say the aligner found the face, in the 128 x 128 sketch's pixels.
BOX = [24, 20, 104, 112]


@pytest.fixture(autouse=True)
def _random_weights_and_eager_jobs(random_weights, eager_jobs):
    """Every test here: random-weight networks, composites rendered in-process."""


@pytest.fixture
def sketch(transactional_db):
    artist = UserFactory(username="ada.artist", groups=[GlobalRole.FORENSIC_ARTIST])
    case = CaseFactory(reference="2026-CID-0047", title="Mugging by the canal")
    MembershipFactory(case=case, user=artist, role=CaseMembership.Role.FORENSIC_ARTIST)
    sketch = add_sketch(case, artist, style="line", witness_reference="W-02 (dog walker)")  # 128 x 128 pixels
    WitnessSketch.objects.filter(pk=sketch.pk).update(face_found=True, face_box=BOX)
    sketch.refresh_from_db()
    return sketch


def stroke(page, points: list[tuple[float, float]]) -> None:
    """Drag the mouse across the canvas through ``points``, given as fractions of its width and height."""
    page.locator("[data-hints-canvas]").evaluate("canvas => canvas.scrollIntoView({block: 'center'})")
    box = page.locator("[data-hints-canvas]").bounding_box()
    at = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for x, y in at[1:]:
        page.mouse.move(x, y, steps=6)
    page.mouse.up()


def pixel(data: bytes, x: float, y: float) -> tuple[int, int, int]:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    return image.getpixel((int(x * image.width), int(y * image.height)))


def test_artist_paints_hints_undoes_one_and_gets_a_colour_composite_of_the_revision(browser, server, sketch):
    original = default_storage.open(sketch.original.name).read()
    artist = Session(browser, server)
    page = artist.page
    artist.log_in("ada.artist")
    artist.go(reverse("sketch_detail", args=[sketch.case_id, sketch.pk]))

    page.get_by_text("Paint the colours the witness described").click()
    page.locator("[data-hints-canvas]").wait_for()
    # Hair: auburn from the palette, across the top of the head.
    page.get_by_role("radio", name="Hair").check()
    page.get_by_role("button", name="Auburn, red").click()
    assert page.get_by_label("Colour of the hair brush").input_value() == "#9c3e1c"
    stroke(page, [(0.25, 0.1), (0.5, 0.06), (0.75, 0.1)])
    # Skin: pale, a larger brush, over the cheeks.
    page.get_by_role("radio", name="Skin").check()
    page.get_by_role("button", name="Pale skin").click()
    page.get_by_label("Brush size").fill("10")
    stroke(page, [(0.3, 0.55), (0.7, 0.55)])
    # Clothing, then thought better of: undone.
    page.get_by_role("radio", name="Clothing").check()
    stroke(page, [(0.1, 0.95), (0.9, 0.95)])
    page.get_by_text("3 strokes painted: hair, skin, clothing.").wait_for()
    page.get_by_role("button", name="Undo last stroke").click()
    page.get_by_text("2 strokes painted: hair, skin.").wait_for()
    page.get_by_label("What the witness said about colour").fill("Reddish hair, pale skin")
    artist.shoot("colour-hints", full_page=False)

    page.get_by_role("button", name="Save as a revision and request a colour composite").click()
    revision_url = re.compile(r"/cases/\d+/sketches/(\d+)/#composites$")
    page.wait_for_url(revision_url)
    revision = WitnessSketch.objects.get(revises=sketch)
    assert page.url.endswith(reverse("sketch_detail", args=[sketch.case_id, revision.pk]) + "#composites")
    page.get_by_text(f"Sketch {revision.pk} holds your colour hints (sketch {sketch.pk} is unchanged)").wait_for()
    page.locator("article.composite[data-status=done] img").wait_for()
    artist.shoot("colour-hints-revision")
    artist.close()

    composite = Composite.objects.get(sketch=revision)
    assert composite.style == "color" and composite.status == Composite.Status.DONE
    assert composite.request_parameters == {"box": BOX}
    assert revision.style == "color" and revision.witness_reference == "W-02 (dog walker)"
    assert revision.interview_notes == (
        f"Colour hints added to sketch {sketch.pk}: hair #9c3e1c, skin #f3d9c8.\nReddish hair, pale skin"
    )
    assert default_storage.open(sketch.original.name).read() == original  # never changed
    painted = default_storage.open(revision.original.name).read()
    assert Image.open(io.BytesIO(painted)).size == (sketch.width, sketch.height)
    # The hair stroke reddened the paper; the undone clothing stroke left the bottom as drawn.
    # Multiplied by auburn, green and blue lose more than red does.
    kept = [after / before for after, before in zip(pixel(painted, 0.5, 0.06), pixel(original, 0.5, 0.06), strict=True)]
    assert kept[0] > kept[1] + 0.1 and kept[0] > kept[2] + 0.1, kept
    assert all(abs(a - b) <= 2 for a, b in zip(pixel(painted, 0.5, 0.95), pixel(original, 0.5, 0.95), strict=True))


def test_hints_fit_a_phone_and_their_controls_are_reached_from_the_keyboard(browser, server, sketch):
    phone = Session(browser, server, viewport=PHONE)
    page = phone.page
    phone.log_in("ada.artist")
    phone.go(reverse("sketch_detail", args=[sketch.case_id, sketch.pk]))
    summary = page.get_by_text("Paint the colours the witness described")
    summary.focus()
    page.keyboard.press("Enter")
    page.locator("[data-hints-canvas]").wait_for()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "brush"
    assert page.evaluate("document.activeElement.labels[0].textContent.trim()") == "Hair"
    page.keyboard.press("ArrowDown")  # radio buttons: the arrow keys choose the brush
    assert page.get_by_label("Colour of the skin brush").input_value() == "#e0b899"
    page.get_by_role("button", name="Save as a revision and request a colour composite").wait_for()
    assert page.get_by_role("button", name="Save as a revision and request a colour composite").is_disabled()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the colour hints scroll sideways on a phone by {overflow}px"
    canvas = page.locator("[data-hints-canvas]").bounding_box()
    assert canvas["width"] <= PHONE["width"] and canvas["width"] > PHONE["width"] / 2
    page.locator("[data-hints]").scroll_into_view_if_needed()
    phone.shoot("phone-colour-hints", full_page=False)
    phone.close()
