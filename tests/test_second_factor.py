"""An authenticator app as the second login factor (django-otp): enrolment, the code after the
password, no replays, single-use backup codes."""

import re
import time
from binascii import unhexlify

import pytest
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import otp
from audit.models import AuditEvent

from .factories import PASSWORD

Action = AuditEvent.Action


def log_in(client, user):
    return client.post(reverse("login"), {"username": user.username, "password": PASSWORD})


def code(key: str, steps: int = 0) -> str:
    """The authenticator's code for ``key``, ``steps`` 30-second steps from now."""
    totp = TOTP(unhexlify(key), step=30, digits=6)
    totp.time = time.time() + 30 * steps
    return f"{totp.token():06d}"


def enrolled(user) -> tuple[TOTPDevice, list[str]]:
    key = otp.new_key()
    codes = otp.enrol(user, key, code(key, -1))
    return TOTPDevice.objects.get(user=user), codes


def test_codes_match_the_rfc_6238_test_vector():
    totp = TOTP(b"12345678901234567890", step=30, digits=8)
    totp.time = 59

    assert totp.token() == 94287082  # RFC 6238 appendix B


def test_an_enrolled_user_must_enter_a_code_after_the_password(client, investigator, case, audit_log):
    device, _ = enrolled(investigator)

    log_in(client, investigator)
    assert client.get(reverse("case_detail", args=[case.pk])).status_code == 302
    assert client.get(reverse("api:case_list")).status_code == 403

    response = client.post(reverse("second_factor_verify"), {"code": code(device.key)})

    assert response.status_code == 302
    assert client.get(reverse("case_detail", args=[case.pk])).status_code == 200
    factors = [(event.action, event.details.get("factor")) for event in audit_log.new() if event.user == investigator]
    assert (Action.LOGIN_SUCCEEDED, "totp") in factors


def test_a_wrong_or_replayed_code_is_refused_and_audited(client, investigator, audit_log):
    device, _ = enrolled(investigator)
    log_in(client, investigator)
    used = code(device.key, -1)  # accepted once, by enrol()

    assert client.post(reverse("second_factor_verify"), {"code": used}).status_code == 400

    failures = [event for event in audit_log.new() if event.action == Action.LOGIN_FAILED]
    assert failures[0].details == {"factor": "totp"}
    assert failures[0].username == "investigator"
    assert client.get(reverse("case_list")).status_code == 302


def test_a_backup_code_works_once(client, investigator, case, audit_log):
    _, codes = enrolled(investigator)
    assert len(codes) == 10 and StaticToken.objects.count() == 10

    log_in(client, investigator)
    assert client.post(reverse("second_factor_verify"), {"code": codes[0].upper()}).status_code == 302
    assert client.get(reverse("case_detail", args=[case.pk])).status_code == 200
    client.logout()
    log_in(client, investigator)
    reused = client.post(reverse("second_factor_verify"), {"code": codes[0]})

    assert reused.status_code == 400
    assert StaticToken.objects.count() == 9
    factors = [event.details.get("factor") for event in audit_log.new() if event.action == Action.LOGIN_SUCCEEDED]
    assert "backup_code" in factors


def test_repeated_wrong_codes_lock_the_account_out(client, investigator, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    device, _ = enrolled(investigator)
    log_in(client, investigator)
    for _ in range(3):
        client.post(reverse("second_factor_verify"), {"code": "not-a-code"})

    response = client.post(reverse("second_factor_verify"), {"code": code(device.key)})

    assert response.status_code == 400
    assert "Too many failed attempts" in response.text


def test_enrolling_shows_a_key_then_the_backup_codes(client, artist, audit_log):
    log_in(client, artist)

    page = client.get(reverse("second_factor_setup"))
    secret = re.search(r"<code>([A-Z2-7]{32})</code>", page.text).group(1)
    key = client.session[otp.PENDING_KEY]
    response = client.post(reverse("second_factor_setup"), {"code": code(key)})

    assert response.status_code == 200
    assert secret == otp.secret_of(key)
    assert TOTPDevice.objects.get(user=artist, confirmed=True).key == key
    shown = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", response.text)
    assert sorted(shown) == sorted(StaticToken.objects.filter(device__user=artist).values_list("token", flat=True))
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
    device, _ = enrolled(investigator)
    log_in(client, investigator)

    response = client.get(reverse("second_factor_setup"))

    assert response.headers["Location"] == reverse("second_factor_verify")
    assert TOTPDevice.objects.get(user=investigator).key == device.key


def test_an_admin_removes_a_lost_authenticator_and_that_is_audited(client, admin, investigator, audit_log):
    device, _ = enrolled(investigator)
    client.force_login(admin)

    response = client.post(reverse("admin:otp_totp_totpdevice_delete", args=[device.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not TOTPDevice.objects.exists()
    (event,) = [event for event in audit_log.new() if event.action == Action.ADMIN_ACTION]
    assert (event.user, event.details["operation"], event.object_type) == (admin, "delete", "totpdevice")
