"""Login throttling: too many failed logins lock a user name, or a client address, out for a while.

Failures are counted from the audit trail's ``login_failed`` events, so
there is no second store to keep in step and every refused attempt, locked
out or not, is itself an audited failure. ``LockoutModelBackend`` enforces
the lockout for every login form (the site's and the admin's);
``LockoutAuthenticationForm`` tells the user why.

Settings: ``LOGIN_FAILURE_LIMIT`` failures for one user name within
``LOGIN_LOCKOUT_SECONDS`` lock it; ``LOGIN_FAILURE_LIMIT_PER_IP`` failures
from one address (any user names: password spraying) lock that address.
Attempts during a lockout count as failures, so it lasts until the
attempts stop.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from django.utils import timezone

from audit.models import AuditEvent
from audit.trail import client_ip


def locked_out(username: str, request: HttpRequest | None) -> bool:
    """Whether logins for ``username`` (or from the request's address) are refused for now."""
    since = timezone.now() - timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
    failures = AuditEvent.objects.filter(action=AuditEvent.Action.LOGIN_FAILED, timestamp__gte=since)
    if failures.filter(username=username[:150]).count() >= settings.LOGIN_FAILURE_LIMIT:
        return True
    ip = client_ip(request)
    return ip is not None and failures.filter(ip=ip).count() >= settings.LOGIN_FAILURE_LIMIT_PER_IP


class LockoutModelBackend(ModelBackend):
    """Django's user-and-password backend, refusing locked-out user names and addresses outright.

    Raising ``PermissionDenied`` stops authentication and makes Django send
    ``user_login_failed``, which the audit trail records with
    ``reason: locked_out`` (``request.login_locked_out``).
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is not None and locked_out(str(username), request):
            if request is not None:
                request.login_locked_out = True
            raise PermissionDenied("Locked out after too many failed logins.")
        return super().authenticate(request, username=username, password=password, **kwargs)


class LockoutAuthenticationForm(AuthenticationForm):
    """The login form, saying so when the account or address is locked out."""

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            if getattr(self.request, "login_locked_out", False):
                minutes = max(settings.LOGIN_LOCKOUT_SECONDS // 60, 1)
                raise ValidationError(
                    f"Too many failed logins. This account is locked for {minutes} minutes after the last "
                    "attempt; ask an administrator if you need in sooner.",
                    code="locked_out",
                ) from None
            raise
