"""An authenticator app as the second login factor: enrolment, the code after the password, no replays."""

import re

import pytest
from django.urls import reverse

from cases import totp
from cases.models import AuditEvent, TOTPDevice

from .factories import PASSWORD

Action = AuditEvent.Action


def log_in(client, user):
    return client.post(reverse("login"), {"username": user.username, "password": PASSWORD})


def enrolled(user) -> TOTPDevice:
    secret = totp.new_secret()
    return totp.enrol(user, secret, totp.code_at(secret, totp.current_step() - 1))


def test_codes_match_the_rfc_6238_test_vector():
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # b"12345678901234567890"

    assert totp.code_at(secret, 59 // 30) == "287082"  # RFC 6238 appendix B, 8 digits: 94287082
    assert totp.code_at(secret, 1111111109 // 30) == "081804"


def test_an_enrolled_user_must_enter_a_code_after_the_password(client, investigator, case, audit_log):
    device = enrolled(investigator)

    response = log_in(client, investigator)
    assert client.get(reverse("case_detail", args=[case.pk])).status_code == 302
    assert client.get(reverse("api:case_list")).status_code == 403

    response = client.post(reverse("second_factor_verify"), {"code": totp.code_at(device.secret, totp.current_step())})

    assert response.status_code == 302
    assert client.get(reverse("case_detail", args=[case.pk])).status_code == 200
    factors = [(event.action, event.details.get("factor")) for event in audit_log.new() if event.user == investigator]
    assert (Action.LOGIN_SUCCEEDED, "totp") in factors


def test_a_wrong_or_replayed_code_is_refused_and_audited(client, investigator, audit_log):
    device = enrolled(investigator)
    log_in(client, investigator)
    used = totp.code_at(device.secret, totp.current_step() - 1)  # accepted once, by enrol()

    assert client.post(reverse("second_factor_verify"), {"code": used}).status_code == 400
    assert client.post(reverse("second_factor_verify"), {"code": "000000"}).status_code in (400, 302)

    failures = [event for event in audit_log.new() if event.action == Action.LOGIN_FAILED]
    assert failures[0].details == {"factor": "totp"}
    assert failures[0].username == "investigator"


def test_repeated_wrong_codes_lock_the_account_out(client, investigator, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    device = enrolled(investigator)
    log_in(client, investigator)
    for _ in range(3):
        client.post(reverse("second_factor_verify"), {"code": "not-a-code"})

    response = client.post(reverse("second_factor_verify"), {"code": totp.code_at(device.secret, totp.current_step())})

    assert response.status_code == 400
    assert "Too many failed attempts" in response.text


def test_enrolling_shows_a_key_and_the_first_code_confirms_it(client, artist, audit_log):
    log_in(client, artist)

    page = client.get(reverse("second_factor_setup"))
    secret = re.search(r"<code>([A-Z2-7]{32})</code>", page.text).group(1)
    response = client.post(reverse("second_factor_setup"), {"code": totp.code_at(secret, totp.current_step())})

    assert response.status_code == 302
    assert totp.confirmed_device(artist).secret == secret
    assert Action.SECOND_FACTOR_ENROLLED in [event.action for event in audit_log.new()]


def test_showing_the_enrolment_page_stores_nothing(client, artist):
    log_in(client, artist)

    assert client.get(reverse("second_factor_setup")).status_code == 200
    assert client.post(reverse("second_factor_setup"), {"code": "123"}).status_code == 400

    assert not TOTPDevice.objects.exists()


@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_auditors_and_admins_can_be_required_to_enrol(client, settings, role, request):
    settings.OTP_REQUIRED_FOR_AUDITORS_AND_ADMINS = True
    user = request.getfixturevalue(role)
    log_in(client, user)

    response = client.get(reverse("audit_list"))

    assert response.status_code == 302
    assert response.headers["Location"].startswith(reverse("second_factor_setup"))


def test_other_users_are_not_asked_for_a_code(client, investigator, case, settings):
    settings.OTP_REQUIRED_FOR_AUDITORS_AND_ADMINS = True
    log_in(client, investigator)

    assert client.get(reverse("case_detail", args=[case.pk])).status_code == 200


def test_an_enrolled_user_cannot_replace_the_authenticator_without_a_code(client, investigator):
    device = enrolled(investigator)
    log_in(client, investigator)

    response = client.get(reverse("second_factor_setup"))

    assert response.headers["Location"] == reverse("second_factor_verify")
    assert TOTPDevice.objects.get(user=investigator).secret == device.secret


def test_an_admin_removes_a_lost_authenticator_and_that_is_audited(client, admin, investigator, audit_log):
    device = enrolled(investigator)
    client.force_login(admin)

    response = client.post(reverse("admin:cases_totpdevice_delete", args=[device.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not TOTPDevice.objects.exists()
    (event,) = [event for event in audit_log.new() if event.action == Action.ADMIN_ACTION]
    assert (event.user, event.details["operation"], event.object_type) == (admin, "delete", "totpdevice")
