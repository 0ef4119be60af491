"""A session left idle is logged out, and the logout is audited."""

import time

from django.urls import reverse

from accounts.middleware import IdleSessionTimeoutMiddleware
from audit.models import AuditEvent


def idle_for(client, seconds: int) -> None:
    session = client.session
    session[IdleSessionTimeoutMiddleware.SESSION_KEY] = int(time.time()) - seconds
    session.save()


def test_an_idle_session_is_logged_out_and_audited(client, investigator, settings, audit_log):
    settings.SESSION_IDLE_TIMEOUT = 30 * 60
    client.force_login(investigator)
    idle_for(client, 31 * 60)
    audit_log.mark()

    response = client.get(reverse("case_list"))

    assert response.status_code == 302
    assert response.headers["Location"].startswith(reverse("login"))
    assert [(event.action, event.user) for event in audit_log.new()] == [(AuditEvent.Action.LOGOUT, investigator)]
    assert client.get(reverse("case_list")).status_code == 302  # still logged out


def test_a_session_in_use_stays_logged_in(client, investigator, settings):
    settings.SESSION_IDLE_TIMEOUT = 30 * 60
    client.force_login(investigator)
    idle_for(client, 29 * 60)

    assert client.get(reverse("case_list")).status_code == 200
    assert client.session[IdleSessionTimeoutMiddleware.SESSION_KEY] >= int(time.time()) - 1
