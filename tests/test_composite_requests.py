"""Asking for composites: a face someone located, one composite per identical request,
and a release that is confirmed, explained where it fails, and only of a located face."""

import io

import pytest
from django.urls import reverse
from PIL import Image
from rest_framework.test import APIClient

from audit.actions import Action
from audit.models import AuditEvent
from cases import services
from cases.boxes import NO_FACE_MESSAGE
from cases.models import Composite

from .web import add_sketch, finish


@pytest.fixture
def sketch(case, artist):
    return add_sketch(case, artist)


@pytest.fixture
def faceless(case, artist):
    """A plain gradient: an accepted image in which the aligner finds no face."""
    gradient = Image.linear_gradient("L").resize((200, 200)).convert("RGB")
    buffer = io.BytesIO()
    gradient.save(buffer, format="PNG")
    sketch = services.add_sketch(case, io.BytesIO(buffer.getvalue()), user=artist, filename="gradient.png")
    assert sketch.face_found is False
    return sketch


def request_url(case, sketch) -> str:
    return reverse("composites_request", args=[case.pk, sketch.pk])


BOX = {"box_left": 20, "box_top": 20, "box_right": 180, "box_bottom": 180}


def test_a_sketch_without_a_face_needs_a_box_from_the_artist(client, case, faceless, artist):
    client.force_login(artist)
    page = client.get(reverse("sketch_detail", args=[case.pk, faceless.pk])).content.decode()
    assert "The aligner found no face." in page and "The box is on the face" in page

    response = client.post(request_url(case, faceless), {"styles": ["color"], **BOX})
    assert response.status_code == 400 and "Draw the face box over the face" in response.content.decode()
    assert not Composite.objects.exists()

    confirmed = client.post(request_url(case, faceless), {"styles": ["color"], **BOX, "box_confirmed": "on"})
    assert confirmed.status_code == 302
    assert Composite.objects.get().parameters == {"box": [20, 20, 180, 180]}


def test_the_api_refuses_a_faceless_request_without_a_box(case, faceless, artist):
    api = APIClient()
    api.force_authenticate(artist)
    url = reverse("api:composite_request", args=[case.pk, faceless.pk])
    response = api.post(url, {"style": "color"}, format="json")
    assert response.status_code == 400 and response.json()["message"] == NO_FACE_MESSAGE
    assert api.post(url, {"style": "color", "box": [20, 20, 180, 180]}, format="json").status_code == 202


def test_a_composite_made_without_a_located_face_cannot_be_released(client, case, sketch, artist, investigator):
    composite = finish(services.request_composite(sketch, "color", user=artist)[0], face_found=False)
    assert not composite.face_located
    client.force_login(investigator)
    page = client.get(reverse("sketch_detail", args=[case.pk, sketch.pk])).content.decode()
    assert "cannot be released" in page and f"reason-{composite.pk}" not in page
    response = client.post(
        reverse("composite_release", args=[case.pk, composite.pk]), {"reason": "Appeal", "confirm": "on"}
    )
    assert response.status_code == 400 and "cannot be released" in response.content.decode()
    composite.refresh_from_db()
    assert not composite.released
    assert not AuditEvent.objects.filter(action=Action.COMPOSITE_RELEASED).exists()


def test_an_identical_request_returns_the_composite_already_there(client, case, sketch, artist, audit_log):
    client.force_login(artist)
    audit_log.mark()
    client.post(request_url(case, sketch), {"styles": ["line"]})
    first = Composite.objects.get()
    again = client.post(request_url(case, sketch), {"styles": ["line", "color"]}, follow=True)
    page = again.content.decode()
    assert f"An identical line composite ({first.pk}) is already" in page
    assert sorted(Composite.objects.values_list("style", flat=True)) == ["color", "line"]
    requested = [e.action for e in audit_log.new() if e.action == Action.COMPOSITE_REQUESTED]
    assert len(requested) == 2

    # Another face box is another request.
    boxed = {"box_left": 8, "box_top": 10, "box_right": 120, "box_bottom": 118, "box_adjusted": "True"}
    boxed["styles"] = ["line"]
    client.post(request_url(case, sketch), boxed)
    assert Composite.objects.filter(style="line").count() == 2


def test_a_finished_or_failed_composite_and_new_weights(case, sketch, artist, random_weights):
    first, created = services.request_composite(sketch, "line", user=artist)
    assert created
    finish(first)
    Composite.objects.filter(pk=first.pk).update(weights_sha256=services.installed_weights_sha256("line"))
    assert services.request_composite(sketch, "line", user=artist) == (first, False)  # done with these weights

    Composite.objects.filter(pk=first.pk).update(weights_sha256="0" * 64)  # made by weights since replaced
    newer, created = services.request_composite(sketch, "line", user=artist)
    assert created and newer.pk != first.pk

    Composite.objects.filter(pk=newer.pk).update(status=Composite.Status.FAILED)
    retried, created = services.request_composite(sketch, "line", user=artist)
    assert created and retried.pk not in (first.pk, newer.pk)


def test_the_api_says_200_for_an_identical_request(case, sketch, artist):
    api = APIClient()
    api.force_authenticate(artist)
    url = reverse("api:composite_request", args=[case.pk, sketch.pk])
    first = api.post(url, {"style": "line"}, format="json")
    again = api.post(url, {"style": "line"}, format="json")
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["id"] == again.json()["id"]


def test_release_needs_confirmation_and_shows_errors_beside_the_form(client, case, sketch, artist, investigator):
    composite = finish(services.request_composite(sketch, "color", user=artist)[0])
    client.force_login(investigator)
    url = reverse("composite_release", args=[case.pk, composite.pk])
    for data, message in [
        ({"reason": "   ", "confirm": "on"}, "Give a reason for releasing this composite."),
        ({"reason": "Press appeal"}, "a release cannot be undone"),
    ]:
        response = client.post(url, data)
        assert response.status_code == 400
        page = response.content.decode()
        assert message in page and 'name="reason"' in page and "Release composite" in page
    composite.refresh_from_db()
    assert not composite.released
    assert client.post(url, {"reason": "Press appeal", "confirm": "on"}).status_code == 302
    composite.refresh_from_db()
    assert composite.released


@pytest.mark.django_db(transaction=True)
def test_the_message_after_a_request_says_what_happened(client, case, sketch, artist, random_weights):
    """Without a broker the job runs as the request commits: the page must not say it is on its way."""
    client.force_login(artist)
    response = client.post(request_url(case, sketch), {"styles": ["line"]}, follow=True)
    page = response.content.decode()
    composite = Composite.objects.get()
    assert composite.status == Composite.Status.DONE, composite.error_message
    assert "Composites made (line)" in page and "shows their progress" not in page
