"""API tokens: named, expiring and revocable; made behind the second factor; the secret shown once and kept
only as a digest; refused with a 401 when expired, revoked or their account is disabled; every use audited."""

import hashlib
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import otp, tokens
from accounts.models import ApiToken
from audit.models import AuditEvent

from .factories import PASSWORD, api_token
from .test_second_factor import code, enrolled

Action = AuditEvent.Action


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def make(client, name: str = "Nightly export", lifetime: int = 30):
    return client.post(reverse("api_tokens"), {"name": name, "lifetime": lifetime})


def call(api, secret: str, keyword: str = "Token"):
    api.credentials(HTTP_AUTHORIZATION=f"{keyword} {secret}")
    return api.get(reverse("api:case_list"))


def log_in_before_enrolling(client, user) -> None:
    """A session that started while ``user`` owed no code, so the second factor's middleware lets it through."""
    client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    assert client.get(reverse("api_tokens")).status_code == 200


# Making a token


def test_a_token_is_made_with_a_name_and_a_lifetime_and_its_secret_shown_once(client, artist, audit_log):
    client.force_login(artist)
    audit_log.mark()

    response = make(client, "Nightly export", 90)

    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    token = ApiToken.objects.get(owner=artist)
    secret = response.context["secret"]
    assert secret.encode() in response.content and secret.startswith(token.prefix)
    assert token.name == "Nightly export"
    assert token.expires_at - token.created_at == timedelta(days=90)
    assert secret.encode() not in client.get(reverse("api_tokens")).content
    (event,) = audit_log.new()
    assert (event.action, event.user, event.object_id) == (Action.API_TOKEN_CREATED, artist, str(token.pk))
    assert event.details["api_token"] == {"id": token.pk, "name": "Nightly export", "prefix": token.prefix}


def test_the_secret_is_kept_only_as_its_sha256(client, artist):
    client.force_login(artist)
    secret = make(client).context["secret"]

    row = ApiToken.objects.filter(owner=artist).values().get()
    events = list(AuditEvent.objects.values_list("details", flat=True))

    assert row["digest"] == hashlib.sha256(secret.encode()).hexdigest()
    assert not any(secret in str(value) for value in row.values())
    assert not any(secret in str(details) for details in events)
    assert secret not in str(dict(client.session.items()))


def test_the_form_offers_thirty_days_unless_chosen_otherwise(client, artist):
    client.force_login(artist)

    page = client.get(reverse("api_tokens")).content.decode()

    assert '<option value="30" selected>30 days</option>' in page
    assert '<option value="90">90 days</option>' in page


@pytest.mark.parametrize("lifetime", [1, 91, 365, 3650, "forever"])
def test_only_the_listed_lifetimes_are_accepted(client, artist, lifetime):
    client.force_login(artist)

    assert make(client, lifetime=lifetime).status_code == 400
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("name", ["", "   ", "two\nlines", "tab\there", "escape \x1b[31m red", "nul\x00", "x" * 101])
def test_a_token_needs_a_name_of_one_line(client, artist, name):
    client.force_login(artist)

    response = make(client, name)

    assert response.status_code == 400
    assert response.context["form"].errors["name"]
    assert not ApiToken.objects.exists()


def test_a_user_without_a_second_factor_makes_a_token_directly(client, artist):
    client.force_login(artist)

    assert make(client).status_code == 200
    assert ApiToken.objects.filter(owner=artist).count() == 1


def test_a_user_with_an_authenticator_makes_a_token_only_after_entering_a_code(client, investigator):
    device, _ = enrolled(investigator)
    client.post(reverse("login"), {"username": investigator.username, "password": PASSWORD})

    before = make(client)
    client.post(reverse("second_factor_verify"), {"code": code(device.key)})
    after = make(client)

    assert before.status_code == 302 and before.headers["Location"].startswith(reverse("second_factor_verify"))
    assert after.status_code == 200
    assert ApiToken.objects.filter(owner=investigator).count() == 1


def test_a_session_let_in_before_the_authenticator_was_set_up_must_still_enter_a_code(client, investigator):
    log_in_before_enrolling(client, investigator)
    enrolled(investigator)  # from another browser

    response = make(client)

    assert response.status_code == 302
    assert response.headers["Location"] == f"{reverse('second_factor_verify')}?next=%2Faccounts%2Fapi-tokens%2F"
    assert not ApiToken.objects.exists()
    assert b"Enter a code from your authenticator app" in client.get(reverse("api_tokens")).content


def test_a_user_who_must_have_a_second_factor_sets_it_up_before_making_a_token(client, auditor, settings):
    log_in_before_enrolling(client, auditor)
    settings.OTP_REQUIRED_FOR_AUDITORS_AND_ADMINS = True
    assert otp.passed(client.get(reverse("api_tokens")).wsgi_request)

    response = make(client)

    assert response.status_code == 302
    assert response.headers["Location"].startswith(reverse("second_factor_setup"))
    assert not ApiToken.objects.exists()


# Listing and revoking


def test_the_list_shows_only_the_users_own_tokens(client, artist, investigator):
    api_token(artist, "Artist's script")
    api_token(investigator, "Investigator's script")
    client.force_login(artist)

    response = client.get(reverse("api_tokens"))

    assert [token.name for token in response.context["tokens"]] == ["Artist's script"]
    assert b"Investigator&#x27;s script" not in response.content


def test_the_list_shows_each_tokens_status(client, artist):
    api_token(artist, "Fresh")
    ApiToken.objects.filter(name="Fresh").update(last_used_at=timezone.now())
    api_token(artist, "Old")
    ApiToken.objects.filter(name="Old").update(expires_at=timezone.now() - timedelta(days=1))
    api_token(artist, "Leaked")
    ApiToken.objects.filter(name="Leaked").update(revoked_at=timezone.now())
    client.force_login(artist)

    tokens_shown = client.get(reverse("api_tokens")).context["tokens"]

    assert {token.name: token.get_status_display() for token in tokens_shown} == {
        "Fresh": "Active",
        "Old": "Expired",
        "Leaked": "Revoked",
    }


def test_revoking_asks_first_then_the_token_stops_working(client, api, artist, audit_log):
    secret = api_token(artist)
    token = ApiToken.objects.get(owner=artist)
    client.force_login(artist)

    confirm = client.get(reverse("api_token_revoke", args=[token.pk]))
    token.refresh_from_db()
    assert confirm.status_code == 200 and b"Revoke token" in confirm.content
    assert token.revoked_at is None

    audit_log.mark()
    response = client.post(reverse("api_token_revoke", args=[token.pk]))

    assert response.status_code == 302 and response.headers["Location"] == reverse("api_tokens")
    token.refresh_from_db()
    assert token.status == ApiToken.Status.REVOKED and token.revoked_by == artist
    (event,) = audit_log.new()
    assert (event.action, event.user, event.details["owner"]) == (Action.API_TOKEN_REVOKED, artist, "artist")
    assert event.details["api_token"]["prefix"] == token.prefix
    assert call(api, secret).status_code == 401


def test_revoking_needs_no_second_factor(client, investigator):
    api_token(investigator)
    token = ApiToken.objects.get(owner=investigator)
    log_in_before_enrolling(client, investigator)
    enrolled(investigator)

    response = client.post(reverse("api_token_revoke", args=[token.pk]))

    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


@pytest.mark.parametrize("method", ["get", "post"])
def test_another_users_token_is_not_found_and_the_attempt_is_audited(client, artist, outsider, audit_log, method):
    api_token(artist)
    token = ApiToken.objects.get(owner=artist)
    client.force_login(outsider)
    audit_log.mark()

    response = getattr(client, method)(reverse("api_token_revoke", args=[token.pk]))

    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    events = [(event.action, event.user, event.object_id) for event in audit_log.new()]
    assert events == [(Action.ACCESS_DENIED, outsider, str(token.pk))]


def test_an_admin_revokes_anyones_token_in_the_admin_and_it_is_audited(client, admin, artist, audit_log):
    api_token(artist)
    token = ApiToken.objects.get(owner=artist)
    client.force_login(admin)
    audit_log.mark()

    response = client.post(
        reverse("admin:accounts_apitoken_changelist"), {"action": "revoke", "_selected_action": [token.pk]}
    )

    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None and token.revoked_by == admin
    (event,) = audit_log.new()
    assert (event.action, event.user, event.details["owner"]) == (Action.API_TOKEN_REVOKED, admin, "artist")


def test_the_admin_cannot_make_or_change_tokens(client, admin, artist):
    api_token(artist, "Original")
    token = ApiToken.objects.get(owner=artist)
    client.force_login(admin)

    added = client.get(reverse("admin:accounts_apitoken_add"))
    changed = client.post(reverse("admin:accounts_apitoken_change", args=[token.pk]), {"name": "Renamed"})

    assert (added.status_code, changed.status_code) == (403, 403)
    assert ApiToken.objects.get(pk=token.pk).name == "Original"


# Using a token


@pytest.mark.parametrize("keyword", ["Token", "Bearer", "token"])
def test_a_token_authenticates_api_requests_as_its_owner(api, artist, case, keyword):
    response = call(api, api_token(artist), keyword)

    assert response.status_code == 200
    assert [c["reference"] for c in response.json()["results"]] == [case.reference]


@pytest.mark.parametrize(
    ("change", "reason", "message"),
    [
        ({"expires_at": timezone.now() - timedelta(seconds=1)}, "expired", "expired on"),
        ({"revoked_at": timezone.now()}, "revoked", "was revoked on"),
    ],
)
def test_an_expired_or_revoked_token_is_refused_with_a_401(api, artist, audit_log, change, reason, message):
    secret = api_token(artist)
    token = ApiToken.objects.get(owner=artist)
    ApiToken.objects.filter(pk=token.pk).update(**change)
    audit_log.mark()

    response = call(api, secret)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Token")
    assert message in response.json()["message"]
    events = [(event.action, event.user, event.outcome, event.details["reason"]) for event in audit_log.new()]
    assert events == [(Action.API_TOKEN_REFUSED, artist, "denied", reason)]


def test_a_token_of_a_disabled_account_is_refused(api, artist, audit_log):
    secret = api_token(artist)
    artist.is_active = False
    artist.save(update_fields=["is_active"])
    audit_log.mark()

    response = call(api, secret)

    assert response.status_code == 401
    assert "disabled" in response.json()["message"]
    assert [(event.action, event.details["reason"]) for event in audit_log.new()] == [
        (Action.API_TOKEN_REFUSED, "account_disabled")
    ]


@pytest.mark.parametrize("header", ["Token si_not-a-token", "Token", "Token two words", "Bearer ünïcode"])
def test_an_unknown_or_malformed_token_is_refused(api, artist, header):
    api_token(artist)
    api.credentials(HTTP_AUTHORIZATION=header)

    response = api.get(reverse("api:case_list"))

    assert response.status_code == 401
    assert response.json()["message"]


def test_the_idle_timeout_does_not_end_a_token_but_its_expiry_does(api, artist, settings):
    settings.SESSION_IDLE_TIMEOUT = 60
    secret = api_token(artist)
    token = ApiToken.objects.get(owner=artist)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(days=3))

    assert call(api, secret).status_code == 200

    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now())
    assert call(api, secret).status_code == 401


def test_a_token_is_its_own_credential_without_the_sessions_second_factor(api, investigator):
    secret = api_token(investigator)
    enrolled(investigator)

    assert call(api, secret).status_code == 200


def test_last_used_is_saved_at_most_once_a_minute(api, artist):
    secret = api_token(artist)
    token = ApiToken.objects.get(owner=artist)

    call(api, secret)
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    call(api, secret)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first

    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=2))
    call(api, secret)
    assert ApiToken.objects.get(pk=token.pk).last_used_at > first


# The audit trail of token requests


def test_a_token_request_that_records_nothing_records_its_use(api, artist, case, audit_log):
    secret = api_token(artist)
    token = ApiToken.objects.get(owner=artist)
    audit_log.mark()

    call(api, secret)

    (event,) = audit_log.new()
    assert (event.action, event.user, event.object_id) == (Action.API_TOKEN_USED, artist, str(token.pk))
    assert event.details == {
        "method": "GET",
        "path": reverse("api:case_list"),
        "status": 200,
        "api_token": {"id": token.pk, "name": "Test script", "prefix": token.prefix},
    }


def test_every_event_of_a_token_request_names_the_token(api, artist, audit_log):
    secret = api_token(artist, "Case importer")
    token = ApiToken.objects.get(owner=artist)
    api.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    audit_log.mark()

    response = api.post(reverse("api:case_list"), {"reference": "2026-CID-0777", "title": "Arson"}, format="json")

    assert response.status_code == 201
    (event,) = audit_log.new()
    assert event.action == Action.CASE_CREATED
    assert event.details["api_token"] == {"id": token.pk, "name": "Case importer", "prefix": token.prefix}


def test_a_refused_request_made_with_a_token_names_the_token_in_its_denial(api, outsider, case, audit_log):
    secret = api_token(outsider)
    api.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    audit_log.mark()

    response = api.get(reverse("api:case_detail", args=[case.pk]))

    assert response.status_code == 404
    (event,) = audit_log.new()
    assert event.action == Action.ACCESS_DENIED and event.details["api_token"]["name"] == "Test script"


def test_session_requests_to_the_api_are_not_recorded_as_token_use(client, artist, audit_log):
    client.force_login(artist)
    audit_log.mark()

    assert client.get(reverse("api:case_list")).status_code == 200
    assert audit_log.new() == []


def test_the_api_schema_describes_token_authentication(client):
    schema = client.get(reverse("api_schema"), {"format": "json"}).json()

    assert schema["components"]["securitySchemes"]["tokenAuth"]["name"] == "Authorization"
    assert {"tokenAuth": []} in schema["paths"]["/api/v1/cases/"]["get"]["security"]


def test_issue_refuses_a_lifetime_longer_than_ninety_days(artist):
    with pytest.raises(ValueError):
        tokens.issue(artist, "Too long", 365)
