"""Odd input gets a clean answer from one rule, on the pages and the API alike, never a server error."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from cases.models import Case

from .factories import png_bytes


@pytest.mark.parametrize("query", ["\x00", "a\x00b", "\x1b[31m"])
def test_a_search_with_control_characters_finds_nothing_on_the_page_and_the_api(client, lead, case, query):
    client.force_login(lead)
    api = APIClient()
    api.force_authenticate(lead)

    page = client.get(reverse("case_list"), {"q": query})
    listed = api.get(reverse("api:case_list"), {"q": query})

    assert page.status_code == 200 and case.reference not in page.text
    assert listed.status_code == 200 and listed.json()["count"] == 0


def test_the_same_search_finds_the_case_on_the_page_and_the_api(client, lead, case):
    client.force_login(lead)
    api = APIClient()
    api.force_authenticate(lead)

    assert case.reference in client.get(reverse("case_list"), {"q": "robbery"}).text
    assert [row["reference"] for row in api.get(reverse("api:case_list"), {"q": "ROBBERY"}).json()["results"]] == [
        case.reference
    ]


@pytest.mark.parametrize("value", ["²", "\u0661", "99999999999999999999999", "-1", ""])
def test_compare_ignores_ids_that_are_not_plain_numbers(client, lead, case, value):
    client.force_login(lead)

    response = client.get(reverse("compare", args=[case.pk]), {"sketch": value, "candidate": value})

    assert response.status_code == 200


def test_a_face_box_too_small_is_refused_by_the_api_as_by_the_page(client, case, artist):
    api = APIClient()
    api.force_authenticate(artist)
    created = api.post(
        reverse("api:sketch_list", args=[case.pk]), {"image": png_bytes_file(), "style": "line"}, format="multipart"
    )
    sketch_id = created.json()["id"]

    refused = api.post(
        reverse("api:composite_request", args=[case.pk, sketch_id]),
        {"style": "line", "box": [0, 0, 8, 8]},
        format="json",
    )

    assert refused.status_code == 400
    assert "at least 16 pixels" in str(refused.json())


def png_bytes_file():
    return SimpleUploadedFile("sketch.png", png_bytes(), content_type="image/png")


@pytest.mark.parametrize("field", ["reference", "title"])
def test_a_case_reference_or_title_with_a_line_break_is_refused_on_the_page_and_the_api(client, lead, field):
    client.force_login(lead)
    api = APIClient()
    api.force_authenticate(lead)
    data = {"reference": "2026-CID-0099", "title": "Burglary", "description": "two\nlines are fine here"}
    data[field] += "\r\nX-Injected: 1"

    page = client.post(reverse("case_create"), data)
    created = api.post(reverse("api:case_list"), data, format="json")

    assert page.status_code == 400 and "no line breaks" in page.text
    assert created.status_code == 400 and field in created.json()["errors"]
    assert not Case.objects.filter(reference__startswith="2026-CID-0099").exists()


def test_a_case_stored_with_a_line_break_in_its_reference_still_exports(client, lead, case):
    """Rows written before the rule existed: the download header is built by Django, not by string formatting."""
    Case.objects.filter(pk=case.pk).update(reference='2026\r\nSet-Cookie: x="1')
    client.force_login(lead)

    response = client.get(reverse("case_export", args=[case.pk]))

    assert response.status_code == 200
    assert "\n" not in response["Content-Disposition"] and "\r" not in response["Content-Disposition"]
