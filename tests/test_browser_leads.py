"""A gallery search in a real browser (Debian's Chromium, Playwright): an investigator granted a
gallery searches it from the sketch page, reads the shortlist with its caveat, and puts the
first lead onto the case as a candidate photo."""

import io
import os

import numpy as np
import pytest
from django.urls import reverse

from accounts.roles import GlobalRole
from cases import services as case_services
from cases.models import CandidatePhoto, CaseMembership, WitnessSketch
from leads import imports, searching, services
from leads.models import GalleryPhoto, LeadResult

from .browser import CHROMIUM, Session
from .factories import CaseFactory, MembershipFactory, UserFactory, png_bytes

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium (apt-get install chromium)"),
]

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def descriptor(seed: int) -> list[float]:
    return np.random.default_rng(seed).normal(0, 0.1, 128).round(6).tolist()


@pytest.fixture
def world(transactional_db, eager_jobs):
    searching.reset_indexes()
    investigator = UserFactory(username="ivan.investigator", groups=[GlobalRole.INVESTIGATOR])
    admin = UserFactory(username="ada.admin", is_staff=True, is_superuser=True)
    case = CaseFactory(reference="2026-CID-0091", title="Robbery series", created_by=investigator)
    MembershipFactory(case=case, user=investigator, role=CaseMembership.Role.CASE_LEAD)
    gallery = services.create_gallery(user=admin, name="Known offenders", source="PNC", legal_basis="Policy 12")
    colours = ["red", "green", "blue", "yellow"]
    files = [imports.Incoming(f"K-{n}.png", lambda c=c: png_bytes(color=c)) for n, c in enumerate(colours)]
    imports.import_photos(gallery, files, user=admin, source="browser")
    for n, photo in enumerate(GalleryPhoto.objects.order_by("pk")):
        GalleryPhoto.objects.filter(pk=photo.pk).update(face_found=True, face_descriptor=descriptor(n))
    services.grant_search(gallery, investigator.username, user=admin)
    sketch = case_services.add_sketch(case, io.BytesIO(png_bytes()), user=investigator, style="line", filename="s.png")
    WitnessSketch.objects.filter(pk=sketch.pk).update(face_found=True, face_descriptor=descriptor(2))
    yield {"case": case, "sketch": sketch, "gallery": gallery}
    searching.reset_indexes()


def test_an_investigator_searches_a_gallery_and_adds_the_first_lead_to_the_case(browser, server, world):
    case, sketch = world["case"], world["sketch"]
    session = Session(browser, server)
    page = session.page
    session.log_in("ivan.investigator")
    session.go(reverse("sketch_detail", args=[case.pk, sketch.pk]))

    page.get_by_label("Gallery", exact=True).select_option(label="Known offenders")
    page.get_by_label("Reason").fill("Three robberies with the same description")
    page.get_by_label("Shortlist size").fill("3")
    page.get_by_role("button", name="Search", exact=True).click()

    page.get_by_role("heading", name="Lead 1").wait_for()
    assert "not identifications" in page.content()
    assert page.locator("[data-lead]").count() == 3
    assert "K-2" in page.locator("#lead-1").inner_text()
    page.locator("#lead-1").get_by_role("button", name="Add to the case").click()
    page.get_by_text("Lead 1 is on the case as candidate photo").wait_for()

    candidate = CandidatePhoto.objects.get(case=case)
    assert LeadResult.objects.get(rank=1).candidate == candidate
    assert page.locator("#lead-1").get_by_text(f"candidate photo {candidate.pk}").count() == 1
    session.close()
