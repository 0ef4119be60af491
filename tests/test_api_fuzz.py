"""The API fuzzed from its own OpenAPI schema: no server errors, and answers as the schema says.

Schemathesis generates requests for every operation in ``/api/schema/``
(path ids, bodies and query strings) and sends them, authenticated with the
case lead's token, straight to the WSGI application. Hypothesis drives each
operation here: Schemathesis' pytest plugin does not run under pytest 9.
Hypothesis stops an operation at its first failure, so server errors are
looked for in a pass of their own, where nothing else can stop it first.
"""

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import Failure, FailureGroup

from .factories import api_token
from .web import add_sketch, done_composite

pytestmark = pytest.mark.slow

UNDOCUMENTED_STATUS = "Undocumented status code"
UNDOCUMENTED_CONTENT_TYPE = "Undocumented Content-Type"

# Known departures from the schema, to be fixed in the API (then removed here):
# - list and detail operations do not document their 400/403/404 answers;
# - a negative id does not match the URL pattern, so Django's HTML 404 page
#   answers instead of the API's JSON error: any operation with an id in
#   its path can meet it, whichever Hypothesis happens to try.
KNOWN = {
    "GET /api/v1/audit-events/": {UNDOCUMENTED_STATUS},
    "GET /api/v1/cases/": {UNDOCUMENTED_STATUS},
    "POST /api/v1/cases/": {UNDOCUMENTED_STATUS},
    "GET /api/v1/cases/{id}/": {UNDOCUMENTED_STATUS, UNDOCUMENTED_CONTENT_TYPE},
    "GET /api/v1/cases/{id}/composites/": {UNDOCUMENTED_STATUS, UNDOCUMENTED_CONTENT_TYPE},
    "GET /api/v1/cases/{id}/composites/{composite_pk}/": {UNDOCUMENTED_STATUS, UNDOCUMENTED_CONTENT_TYPE},
    "GET /api/v1/cases/{id}/composites/{composite_pk}/image": {UNDOCUMENTED_CONTENT_TYPE},
    "POST /api/v1/cases/{id}/composites/{composite_pk}/release/": {UNDOCUMENTED_CONTENT_TYPE},
    "GET /api/v1/cases/{id}/memberships/": {UNDOCUMENTED_CONTENT_TYPE},
    "POST /api/v1/cases/{id}/memberships/": {UNDOCUMENTED_CONTENT_TYPE},
    "DELETE /api/v1/cases/{id}/memberships/{user_id}/": {UNDOCUMENTED_CONTENT_TYPE},
    "GET /api/v1/cases/{id}/sketches/": {UNDOCUMENTED_CONTENT_TYPE},
    "POST /api/v1/cases/{id}/sketches/": {UNDOCUMENTED_CONTENT_TYPE},
    "GET /api/v1/cases/{id}/sketches/{sketch_pk}/": {UNDOCUMENTED_STATUS, UNDOCUMENTED_CONTENT_TYPE},
    "GET /api/v1/cases/{id}/sketches/{sketch_pk}/image": {UNDOCUMENTED_CONTENT_TYPE},
    "POST /api/v1/cases/{id}/sketches/{sketch_pk}/composites/": {UNDOCUMENTED_CONTENT_TYPE},
    "GET /api/v1/galleries/": {UNDOCUMENTED_STATUS},
    "GET /api/v1/galleries/{id}/": {UNDOCUMENTED_STATUS, UNDOCUMENTED_CONTENT_TYPE},
    "GET /api/v1/galleries/{id}/photos/": {UNDOCUMENTED_STATUS, UNDOCUMENTED_CONTENT_TYPE},
    "POST /api/v1/cases/{id}/sketches/{sketch_pk}/searches/": {UNDOCUMENTED_CONTENT_TYPE},
    "GET /api/v1/cases/{id}/searches/{search_pk}/": {UNDOCUMENTED_STATUS, UNDOCUMENTED_CONTENT_TYPE},
}


@pytest.fixture
def api_schema(db, lead, artist, case):
    """The schema, with a case holding a sketch and a finished composite for the requests to find."""
    done_composite(add_sketch(case, artist), artist)
    # As Django's test client does: the end of a request must not close the
    # connection that holds the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def token(lead) -> str:
    return api_token(lead)


def fuzz(api_schema, token: str, checks: list) -> dict[str, set[str]]:
    """Each operation's failures, by title (Hypothesis reports the first it finds in each)."""
    found = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
        def run(case) -> None:
            case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=checks)

        try:
            run()
        except FailureGroup as group:
            found[operation.label] = {failure.title for failure in group.exceptions}
        except Failure as failure:
            found[operation.label] = {failure.title}
    return found


def test_no_generated_request_makes_the_api_fail(api_schema, token):
    assert fuzz(api_schema, token, [not_a_server_error]) == {}


def test_the_api_answers_as_its_schema_says(api_schema, token):
    found = fuzz(
        api_schema,
        token,
        [status_code_conformance, content_type_conformance, response_schema_conformance],
    )

    unknown = {label: titles - KNOWN.get(label, set()) for label, titles in found.items()}
    assert {label: titles for label, titles in unknown.items() if titles} == {}
