"""Composite work end to end in a real browser (Debian's Chromium, Playwright), as issue #17
asks: an artist paints colour hints on a sketch and gets a colour composite of the hinted
revision; the case lead compares the original with its revision, makes a morph of their
colour composites, releases one and downloads its press sheet."""

import os
import re

import pytest
from django.urls import reverse

from accounts.roles import GlobalRole
from cases.models import CaseMembership, Composite, Morph, WitnessSketch

from .browser import CHROMIUM, Session
from .factories import CaseFactory, MembershipFactory, UserFactory
from .test_browser_hints import BOX, stroke
from .web import add_sketch, done_composite

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium (apt-get install chromium)"),
]

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def _random_weights_and_eager_jobs(random_weights, eager_jobs):
    """Random-weight networks; composites, derived data and morphs made in-process."""


def test_hint_colour_composite_morph_and_press_sheet(browser, server, transactional_db, tmp_path):
    artist = UserFactory(username="ada.artist", groups=[GlobalRole.FORENSIC_ARTIST])
    lead = UserFactory(username="ivan.investigator", groups=[GlobalRole.INVESTIGATOR])
    case = CaseFactory(reference="2026-CID-0088", title="Arson at the depot", created_by=lead)
    MembershipFactory(case=case, user=lead, role=CaseMembership.Role.CASE_LEAD)
    MembershipFactory(case=case, user=artist, role=CaseMembership.Role.FORENSIC_ARTIST)
    sketch = add_sketch(case, artist, style="line", witness_reference="W-1 (night guard)")
    WitnessSketch.objects.filter(pk=sketch.pk).update(face_found=True, face_box=BOX)
    original_composite = done_composite(sketch, artist, style="color")

    # The artist paints hair and skin and saves the copy as a colour revision.
    session = Session(browser, server)
    page = session.page
    session.log_in("ada.artist")
    session.go(reverse("sketch_detail", args=[case.pk, sketch.pk]))
    page.get_by_text("Paint the colours the witness described").click()
    page.locator("[data-hints-canvas]").wait_for()
    page.get_by_role("radio", name="Hair").check()
    page.get_by_role("button", name="Auburn, red").click()
    stroke(page, [(0.25, 0.1), (0.5, 0.06), (0.75, 0.1)])
    page.get_by_role("radio", name="Skin").check()
    stroke(page, [(0.3, 0.55), (0.7, 0.55)])
    page.get_by_role("button", name="Save as a revision and request a colour composite").click()
    page.wait_for_url(re.compile(r"/cases/\d+/sketches/\d+/#composites$"))
    page.locator("article.composite[data-status=done] img").wait_for()
    revision = WitnessSketch.objects.get(revises=sketch)
    hinted = Composite.objects.get(sketch=revision, style="color", status=Composite.Status.DONE)
    session.close()

    # The case lead compares the original with its revision and makes a morph of the two colour composites.
    session = Session(browser, server)
    page = session.page
    session.log_in("ivan.investigator")
    session.go(reverse("compare", args=[case.pk]) + f"?sketch={revision.pk}&revisions=1")
    page.locator(f"[data-layer='Sketch {sketch.pk}']").wait_for()
    page.locator(f"[data-layer='Sketch {revision.pk}']").wait_for()
    page.get_by_role("button", name="Make a morph of the ticked colour composites").click()
    page.get_by_role("heading", name=re.compile(r"Morph \d+")).wait_for()
    page.locator("article.morph[data-status=done] img").wait_for()
    morph = Morph.objects.get()
    assert {source.pk for source in morph.sources.all()} == {original_composite.pk, hinted.pk}
    assert morph.status == Morph.Status.DONE and morph.output_sha256

    # The lead releases the hinted revision's composite and downloads its press sheet.
    session.go(reverse("sketch_detail", args=[case.pk, revision.pk]))
    page.get_by_text(re.compile("Release .* for dissemination")).first.click()
    page.get_by_label("Reason for release").first.fill("Press appeal approved by DI Shaw")
    page.get_by_label("I understand that a release cannot be undone").first.check()
    page.get_by_role("button", name=re.compile("Release composite")).first.click()
    page.get_by_text("is released for dissemination").wait_for()
    page.get_by_role("link", name="Press sheet").first.click()
    page.get_by_label("Public description").fill("A fire was set at the bus depot on Friday night.")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the press sheet (PDF)").click()
    path = tmp_path / "sheet.pdf"
    download.value.save_as(path)
    assert path.read_bytes().startswith(b"%PDF-")
    assert b"night guard" not in path.read_bytes()
    session.close()
