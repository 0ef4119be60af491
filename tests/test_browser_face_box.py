"""The face box a worker finds appears on the sketch page in place, without the page reloading.

The upload answers before a worker has looked for the face; the page says
"Finding the face…" and, when the worker's job is done, the box, the crop and
the words beside them change where they are (Debian's Chromium, Playwright).
"""

import io
import os

import pytest
from django.urls import reverse

from accounts.roles import GlobalRole
from cases import services, tasks
from cases.models import CaseMembership, WitnessSketch
from forensics import celery_app

from .browser import CHROMIUM, Session
from .factories import CaseFactory, MembershipFactory, UserFactory
from .web import face_png

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium (apt-get install chromium)"),
]

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def waiting_sketch(transactional_db, random_weights):
    """A sketch uploaded while jobs wait for a worker (a broker, nobody consuming), and stay waiting."""
    artist = UserFactory(username="ada.artist", groups=[GlobalRole.FORENSIC_ARTIST])
    case = CaseFactory(reference="2026-CID-0078")
    MembershipFactory(case=case, user=artist, role=CaseMembership.Role.FORENSIC_ARTIST)
    was = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        sketch = services.add_sketch(case, io.BytesIO(face_png(1)), user=artist, style="color", filename="s.png")
        assert WitnessSketch.objects.get(pk=sketch.pk).face_found is None
        yield sketch
    finally:
        celery_app.conf.task_always_eager = was


def test_the_found_face_box_appears_without_the_page_reloading(browser, server, waiting_sketch):
    sketch = waiting_sketch
    session = Session(browser, server)
    page = session.page
    session.log_in("ada.artist")
    session.go(reverse("sketch_detail", args=[sketch.case_id, sketch.pk]))
    page.get_by_text("Finding the face…").wait_for()
    centred = page.locator("[data-box]").get_attribute("style")
    page.evaluate("() => { window.stillTheSamePage = true; }")

    tasks.derive.apply(args=("witnesssketch", sketch.pk))  # the worker's turn

    page.get_by_text("The aligner found the face in the box shown").wait_for()
    assert page.evaluate("() => window.stillTheSamePage === true")  # no reload
    assert not page.get_by_text("Finding the face…").is_visible()
    sketch.refresh_from_db()
    shown = [page.locator(f"#id_box_{side}").input_value() for side in ("left", "top", "right", "bottom")]
    assert shown == [str(value) for value in sketch.face_box]
    assert page.locator("[data-box]").get_attribute("style") != centred
    assert page.locator("[data-box-confirm]").count() == 0  # a found face needs no confirming
    session.close()
