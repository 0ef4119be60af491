"""The web app in a real browser: Debian's Chromium driven by Playwright.

An artist opens a case, uploads a sketch, requests composites and compares
them; an investigator releases one; an auditor finds those events in the log
and exports them. The screenshots in docs/screenshots/ (shown in the README)
are taken here, by `make screenshots`.
"""

import io
import os
import re
from pathlib import Path

import pytest
from django.urls import reverse
from PIL import Image

from accounts.roles import GlobalRole
from audit.models import AuditEvent
from cases.models import CaseMembership, Composite

from .browser import CHROMIUM, PHONE, Session
from .factories import PASSWORD, CaseFactory, MembershipFactory, UserFactory
from .inversion_fixtures import generated_face
from .web import add_sketch, finish

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium (apt-get install chromium)"),
]

# Playwright's sync API runs an event loop in this thread; the ORM calls the
# tests make beside it are synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def _random_weights_and_eager_jobs(random_weights, eager_jobs):
    """Every test here: random-weight networks, composites rendered in-process."""


@pytest.fixture
def people(transactional_db):
    return {
        "artist": UserFactory(username="ada.artist", groups=[GlobalRole.FORENSIC_ARTIST]),
        "investigator": UserFactory(username="ivan.investigator", groups=[GlobalRole.INVESTIGATOR]),
        "auditor": UserFactory(username="aude.auditor", groups=[GlobalRole.AUDITOR]),
    }


def sketch_file(folder: Path) -> Path:
    path = folder / "witness-sketch.png"
    Image.fromarray(generated_face(1, 128)).save(path)
    return path


def candidate_file(folder: Path) -> Path:
    path = folder / "custody-photo.png"
    Image.fromarray(generated_face(3, 160)).save(path)
    return path


def test_artist_investigator_and_auditor_work_a_case_end_to_end(browser, server, people, tmp_path):
    # The artist opens a case.
    artist = Session(browser, server)
    page = artist.page
    artist.log_in("ada.artist")
    page.get_by_role("link", name="Open a case").click()
    page.get_by_label("Reference").fill("2026-CID-0042")
    page.get_by_label("Title").fill("Street robbery, Market Square")
    page.get_by_label("Description").fill("Handbag snatched at 21:40; one witness, good view of the face.")
    page.get_by_role("button", name="Open case").click()
    page.get_by_text("You are its case lead").wait_for()

    # ... adds the investigator to it ...
    page.get_by_label("User name", exact=True).fill("ivan.investigator")
    page.get_by_label("Role", exact=True).select_option("investigator")
    page.get_by_role("button", name="Save membership").click()
    page.get_by_text("ivan.investigator is now investigator").wait_for()

    # ... uploads a sketch, seeing its preview and the suggested style ...
    page.get_by_role("link", name="Upload a sketch").click()
    page.set_input_files("#id_image", sketch_file(tmp_path))
    page.get_by_text("Suggested from the image: Colour").wait_for()
    assert page.locator("#id_style").input_value() == "color"
    warning = page.locator("[data-style-warning]")
    assert not warning.is_visible()
    page.locator("#id_style").select_option("line")  # overriding the suggestion is warned about ...
    assert warning.is_visible() and "looks like a colour sketch" in warning.inner_text()
    page.locator("#id_style").select_option("color")  # ... and the warning goes with the override
    assert not warning.is_visible()
    assert page.locator("[data-preview-image]").is_visible()
    page.get_by_label("Witness reference").fill("W-01 (shop assistant)")
    page.get_by_label("Interview notes").fill("Male, 30s, short dark hair, thin face, small scar above left eyebrow.")
    artist.shoot("upload")
    page.get_by_role("button", name="Upload sketch").click()

    # ... checks the face crop and requests composites in two styles ...
    page.get_by_role("heading", name="Face crop").wait_for()
    page.wait_for_function("() => document.querySelector('[data-crop-preview]').naturalWidth > 0")
    page.get_by_label("Line", exact=True).check()
    artist.shoot("sketch-face-crop")
    page.get_by_role("button", name="Request composites").click()
    page.locator("article.composite[data-status=done] img").first.wait_for()
    page.wait_for_function(
        "() => [...document.querySelectorAll('article.composite')].every(c => c.dataset.status == 'done')"
    )
    assert page.locator("article.composite").count() == 2
    artist.shoot("composites")

    # ... and compares them with the sketch.
    page.get_by_role("link", name="Compare").first.click()
    page.get_by_role("heading", name="Side by side").wait_for()
    page.get_by_label("Reveal the top image").fill("70")
    page.get_by_label("Zoom").fill("1.5")
    assert page.locator("[data-overlay-reveal]").evaluate("e => e.style.clipPath") == "inset(0px 30% 0px 0px)"
    artist.shoot("compare")
    artist.close()

    # The investigator reads the timeline and releases a composite.
    investigator = Session(browser, server)
    page = investigator.page
    investigator.log_in("ivan.investigator")
    page.get_by_role("link", name="2026-CID-0042").click()
    page.get_by_role("heading", name="Timeline").wait_for()
    investigator.shoot("case")
    # ... sets a candidate photo beside the composites ...
    page.get_by_role("link", name="Add a candidate photo").click()
    page.set_input_files("#id_image", candidate_file(tmp_path))
    page.get_by_label("Source").fill("Custody record 2026/1187")
    page.get_by_role("button", name="Add photo").click()
    page.get_by_text("A lead, not an identification").wait_for()
    page.get_by_role("img", name=re.compile("Face crop of candidate photo")).wait_for()
    investigator.shoot("compare-candidate")
    page.get_by_text(re.compile("Release .* for dissemination")).first.click()
    page.get_by_label("Reason for release").first.fill("Press appeal approved by DI Shaw")
    page.get_by_label("I understand that a release cannot be undone").first.check()
    page.get_by_role("button", name=re.compile("Release composite")).first.click()
    page.get_by_text("is released for dissemination").wait_for()
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("Download released composite")).click()
    assert download.value.suggested_filename.endswith(".zip")
    investigator.close()
    released = Composite.objects.get(released=True)
    assert released.release_reason == "Press appeal approved by DI Shaw"

    # The auditor finds those events and exports them.
    auditor = Session(browser, server)
    page = auditor.page
    auditor.log_in("aude.auditor", lands_on="/audit/")  # an auditor starts on the log, not an empty case list
    page.get_by_role("link", name="Audit log").click()
    page.get_by_label("Case reference").fill("2026-CID-0042")
    page.get_by_role("button", name="Filter").click()
    for action in ("Case created", "Sketch uploaded", "Composite requested", "Composite done", "Composite released"):
        assert page.get_by_role("cell", name=action, exact=True).count() >= 1, action
    auditor.shoot("audit-log")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    exported = Path(download.value.path()).read_text()
    assert "composite_released" in exported and "sketch_uploaded" in exported
    with page.expect_download() as download:
        page.get_by_role("link", name="Export JSON Lines").click()
    assert "composite_released" in Path(download.value.path()).read_text()
    auditor.close()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.AUDIT_EXPORTED, username="aude.auditor").count() == 2


def test_progress_updates_without_reloading(browser, server, people):
    case = CaseFactory(reference="2026-CID-0043", title="Bicycle theft")
    MembershipFactory(case=case, user=people["artist"], role=CaseMembership.Role.FORENSIC_ARTIST)
    sketch = add_sketch(case, people["artist"])
    # A composite waiting for a worker (made without sending a job).
    waiting = Composite.objects.create(sketch=sketch, style="color", requested_by=people["artist"])
    artist = Session(browser, server)
    artist.log_in("ada.artist")
    artist.go(reverse("sketch_detail", args=[case.pk, sketch.pk]))
    page = artist.page
    page.get_by_text("Waiting for a worker").wait_for()
    page.evaluate("window.marker = 'same page'")
    finish(waiting)
    page.locator(f"#composite-{waiting.pk}[data-status=done] img").wait_for()
    assert page.evaluate("window.marker") == "same page"
    artist.close()


def test_artist_draws_the_face_box_when_the_aligner_is_wrong(browser, server, people):
    case = CaseFactory(reference="2026-CID-0045", title="Shoplifting")
    MembershipFactory(case=case, user=people["artist"], role=CaseMembership.Role.FORENSIC_ARTIST)
    sketch = add_sketch(case, people["artist"])  # 128 x 128 pixels
    artist = Session(browser, server)
    artist.log_in("ada.artist")
    artist.go(reverse("sketch_detail", args=[case.pk, sketch.pk]))
    page = artist.page
    stage = page.locator("[data-stage]").bounding_box()
    # Drag from a quarter to three quarters of the sketch.
    page.mouse.move(stage["x"] + stage["width"] / 4, stage["y"] + stage["height"] / 4)
    page.mouse.down()
    page.mouse.move(stage["x"] + stage["width"] * 3 / 4, stage["y"] + stage["height"] * 3 / 4, steps=5)
    page.mouse.up()
    box = [int(page.get_by_label(side, exact=True).input_value()) for side in ("Left", "Top", "Right", "Bottom")]
    assert all(abs(value - expected) <= 2 for value, expected in zip(box, (32, 32, 96, 96), strict=True)), box
    page.wait_for_function("() => document.querySelector('[data-crop-preview]').src.includes('box=')")
    # Typing an edge moves the box too.
    page.get_by_label("Right", exact=True).fill("100")
    page.get_by_label("Right", exact=True).press("Tab")
    page.get_by_role("button", name="Request composites").click()
    page.locator("article.composite").first.wait_for()
    assert Composite.objects.get(sketch=sketch).parameters["box"] == [box[0], box[1], 100, box[3]]
    artist.close()


def test_a_release_needs_a_real_reason_and_a_request_is_sent_once(browser, server, people):
    case = CaseFactory(reference="2026-CID-0046", title="Car theft")
    MembershipFactory(case=case, user=people["artist"], role=CaseMembership.Role.CASE_LEAD)
    sketch = add_sketch(case, people["artist"])
    composite = finish(Composite.objects.create(sketch=sketch, style="color", requested_by=people["artist"]))
    lead = Session(browser, server)
    lead.log_in("ada.artist")
    lead.go(reverse("sketch_detail", args=[case.pk, sketch.pk]))
    page = lead.page
    page.get_by_text(re.compile("Release .* for dissemination")).first.click()
    page.get_by_label("Reason for release").first.fill("   ")
    page.get_by_label("I understand that a release cannot be undone").first.check()
    page.get_by_role("button", name=re.compile("Release composite")).first.click()
    reason = page.get_by_label("Reason for release").first
    assert reason.evaluate("field => field.validationMessage") == "Give a reason for releasing this composite."
    composite.refresh_from_db()
    assert not composite.released

    page.get_by_label("Line", exact=True).check()
    page.get_by_role("button", name="Request composites").dblclick()
    page.locator("article.composite[data-status]").nth(1).wait_for()
    assert Composite.objects.filter(sketch=sketch, style="line").count() == 1
    lead.close()


def test_pages_fit_a_phone_and_work_from_the_keyboard(browser, server, people):
    case = CaseFactory(reference="2026-CID-0044", title="Assault outside the station")
    MembershipFactory(case=case, user=people["artist"], role=CaseMembership.Role.CASE_LEAD)
    sketch = add_sketch(case, people["artist"])
    finish(Composite.objects.create(sketch=sketch, style="color", requested_by=people["artist"]))
    phone = Session(browser, server, viewport=PHONE)
    page = phone.page
    phone.go(reverse("login"))
    # Keyboard only: the user name field has the focus, then Tab, then Enter.
    assert page.evaluate("document.activeElement.id") == "id_username"
    page.keyboard.type("ada.artist")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/cases/$"))
    # The first Tab reaches the skip link, which moves the focus to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('main') !== null")
    for path, name in (
        (reverse("case_list"), "phone-case-list"),
        (reverse("case_detail", args=[case.pk]), "phone-case"),
        (reverse("sketch_detail", args=[case.pk, sketch.pk]), "phone-sketch"),
        (reverse("compare", args=[case.pk]), "phone-compare"),
        (reverse("sketch_upload", args=[case.pk]), "phone-upload"),
    ):
        phone.go(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways on a phone by {overflow}px"
        if name in ("phone-case", "phone-sketch"):
            phone.shoot(name)
    phone.close()


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
