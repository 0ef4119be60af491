"""Too many failed logins lock the account (or the address) out; every attempt is audited."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent

from .factories import PASSWORD, UserFactory

Action = AuditEvent.Action


@pytest.fixture
def limits(settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_FAILURE_LIMIT_PER_IP = 10
    settings.LOGIN_LOCKOUT_SECONDS = 15 * 60
    return settings


def log_in(client, username: str, password: str, address: str = "192.0.2.10"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def test_the_right_password_is_refused_after_too_many_failures(client, investigator, limits, audit_log):
    for _ in range(3):
        assert log_in(client, "investigator", "wrong-password").status_code == 200

    response = log_in(client, "investigator", PASSWORD)

    assert response.status_code == 200
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session
    events = [(event.action, event.username, event.details.get("reason")) for event in audit_log.new()]
    assert events == [(Action.LOGIN_FAILED, "investigator", None)] * 3 + [
        (Action.LOGIN_FAILED, "investigator", "locked_out")
    ]


def test_the_admin_login_is_locked_out_too(client, admin, limits):
    for _ in range(3):
        log_in(client, "admin", "wrong-password")

    client.post(reverse("admin:login"), {"username": "admin", "password": PASSWORD}, REMOTE_ADDR="192.0.2.10")

    assert "_auth_user_id" not in client.session


def test_a_lockout_ends_when_the_window_has_passed(client, investigator, limits):
    for _ in range(3):
        log_in(client, "investigator", "wrong-password")
    limits.LOGIN_LOCKOUT_SECONDS = 0

    assert log_in(client, "investigator", PASSWORD).status_code == 302


def test_other_users_can_still_log_in(client, investigator, limits):
    UserFactory(username="colleague")
    for _ in range(3):
        log_in(client, "investigator", "wrong-password")

    assert log_in(client, "colleague", PASSWORD).status_code == 302


def test_an_address_spraying_passwords_over_many_names_is_locked_out(client, investigator, limits):
    for number in range(10):
        log_in(client, f"guess{number}", "password1", address="198.51.100.7")

    assert log_in(client, "investigator", PASSWORD, address="198.51.100.7").status_code == 200
    assert log_in(client, "investigator", PASSWORD, address="192.0.2.10").status_code == 302
