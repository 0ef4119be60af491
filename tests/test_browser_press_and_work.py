"""The press sheet and the work queue in a real browser (Debian's Chromium, Playwright).

An investigator writes a public description and downloads the press sheet of
a released composite; an artist sees in the menu that work of theirs has
finished, opens My work, and watches a waiting composite turn done without
reloading the page.
"""

import os
import re

import pytest
from django.urls import reverse

from accounts.roles import GlobalRole
from cases import press, services
from cases.models import CaseMembership, Composite

from .browser import CHROMIUM, Session
from .factories import CaseFactory, MembershipFactory, UserFactory
from .web import add_sketch, done_composite, finish

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium (apt-get install chromium)"),
]

# Playwright's sync API runs an event loop in this thread; the ORM calls beside it are synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def _random_weights_and_eager_jobs(random_weights, eager_jobs):
    """Every test here: random-weight networks, derived data made in-process."""


@pytest.fixture
def world(transactional_db):
    artist = UserFactory(username="ada.artist", groups=[GlobalRole.FORENSIC_ARTIST])
    investigator = UserFactory(username="ivan.investigator", groups=[GlobalRole.INVESTIGATOR])
    case = CaseFactory(reference="2026-CID-0077", title="Street robbery", created_by=investigator)
    MembershipFactory(case=case, user=investigator, role=CaseMembership.Role.CASE_LEAD)
    MembershipFactory(case=case, user=artist, role=CaseMembership.Role.FORENSIC_ARTIST)
    sketch = add_sketch(case, artist, witness_reference="W-2 Mrs Larkspur", interview_notes="Anchor tattoo.")
    return {"artist": artist, "investigator": investigator, "case": case, "sketch": sketch}


def test_an_investigator_downloads_the_press_sheet_of_a_released_composite(browser, server, world, tmp_path):
    composite = done_composite(world["sketch"], world["artist"])
    services.release_composite(composite, user=world["investigator"], reason="Approved by DI Shaw")
    session = Session(browser, server)
    page = session.page
    session.log_in("ivan.investigator")
    session.go(reverse("sketch_detail", args=[world["case"].pk, world["sketch"].pk]))

    page.get_by_role("link", name="Press sheet").click()
    page.get_by_role("heading", name=f"Press sheet for composite {composite.pk}").wait_for()
    page.get_by_label("Public description").fill(
        "A handbag was snatched in Market Square at 21:40 on Friday.\n\nThe man ran towards the bus station."
    )
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the press sheet (PDF)").click()

    assert download.value.suggested_filename == f"2026-CID-0077-press-sheet-{composite.pk}.pdf"
    path = tmp_path / "sheet.pdf"
    download.value.save_as(path)
    assert path.read_bytes().startswith(b"%PDF-")

    # The printable page: the sheet, and a print stylesheet that hides the rest.
    page.get_by_role("button", name="Open the printable page").click()
    page.get_by_role("heading", name="Appeal for information").wait_for()
    assert page.get_by_text(press.CAVEAT).is_visible()
    page.emulate_media(media="print")
    assert not page.locator("header.bar").is_visible()
    assert page.get_by_text("The man ran towards the bus station.").is_visible()
    assert page.get_by_text("Mrs Larkspur").count() == 0
    session.shoot("press-sheet-print")
    session.close()


def test_an_artist_sees_finished_work_counted_and_a_waiting_composite_turn_done(browser, server, world):
    finished = done_composite(world["sketch"], world["artist"], style="line")
    sketch = world["sketch"]
    waiting = Composite.objects.create(  # requested, its job not yet taken by a worker
        sketch=sketch, style="grayscale", requested_by=world["artist"], parameters={"box": [0, 0, sketch.width, 64]}
    )
    session = Session(browser, server)
    page = session.page
    session.log_in("ada.artist")

    badge = page.locator("[data-unseen-work]")
    assert re.match(r"1\b", badge.inner_text())
    page.get_by_role("link", name=re.compile("My work")).click()
    page.get_by_role("heading", name="My work").wait_for()
    done_item = page.locator(f'[data-work-item="composite-{finished.pk}"]')
    assert done_item.get_attribute("data-status") == "done"
    assert done_item.get_by_text("Done").first.is_visible()
    assert page.locator("[data-unseen-work]").count() == 0  # opened: seen
    waiting_item = page.locator(f'[data-work-item="composite-{waiting.pk}"]')
    assert waiting_item.get_attribute("data-status") == "requested"

    finish(waiting)  # a worker finishes it while the page is open

    page.locator(f'[data-work-item="composite-{waiting.pk}"][data-status="done"]').wait_for()
    session.shoot("my-work")
    session.close()
