"""Hostile values in every query parameter and form field of every page and endpoint:
a 4xx or a clean answer, never a server error.

The routes, the world of two cases and the roles come from the access matrix
(``test_access_matrix``); each route is sent every value below, as the case's forensic
artist and as its investigator (between them, every ability on a case) and, for
the admin site, as an administrator.
"""

import json

import pytest
from django.urls import resolve

from .test_access_matrix import MATRIX, routes, url, world  # noqa: F401  (world is a fixture)

#: Every name a page reads from a query string or a form, and then some.
NAMES = [
    "q", "page", "next", "sketch", "composite", "candidate", "box", "crop", "thumb", "download", "kind",
    "user", "case", "action", "outcome", "since", "until", "styles", "style", "box_left", "box_top",
    "box_right", "box_bottom", "box_adjusted", "box_confirmed", "reason", "confirm", "reference", "title",
    "description", "username", "role", "status", "label", "witness_reference", "interview_notes", "revises",
    "name", "lifetime", "code", "old_password", "new_password1", "new_password2", "password", "format",
]  # fmt: skip

VALUES = [
    "\x00", "a\x00b", "²", "-1", "0", "9" * 40, "1e309", "NaN", "x" * 5000, "' OR 1=1 --", "<script>alert(1)</script>",
    "%", "%00", "\U0001d518\U0001d52b", "\r\nSet-Cookie: a=b", "1,2,3", "-5,-5,100,100", "0,0,99999999999,1",
    "2026-13-45", "../../etc/passwd", "//evil.example/", "javascript:alert(1)", " ", "",
]  # fmt: skip


def attempts() -> list:
    return [
        pytest.param(route, method, id=f"{method} /{route}")
        for route, methods in MATRIX.items()
        for method in methods
        if method in ("GET", "POST") and route != "accounts/logout/"
    ]


@pytest.mark.slow
@pytest.mark.parametrize(("route", "method"), attempts())
def test_no_hostile_value_makes_a_page_fail(client, world, route, method):  # noqa: F811
    assert route in routes()
    roles = ["admin"] if route.startswith("admin/") else ["artist", "investigator"]  # between them, every ability
    path = url(route, world.ids)
    failures = []
    for role, value in [(role, value) for role in roles for value in VALUES]:
        client.force_login(world.users[role])
        fields = dict.fromkeys(NAMES, value)
        if method == "GET":
            response = client.get(path, fields)
        elif route.startswith("api/"):
            response = client.post(path, json.dumps(fields), content_type="application/json")
        else:
            response = client.post(path, fields)
        if response.status_code >= 500:
            failures.append((role, repr(value[:20]), response.status_code))
    assert failures == [], f"{method} {path} ({resolve(path).url_name})"
