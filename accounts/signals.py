"""Audit logins, failed logins and logouts.

Django's auth framework announces these only through signals, so this is
the one place the audit trail listens to signals instead of being called
explicitly.
"""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

import audit


@receiver(user_logged_in, dispatch_uid="audit_login")
def audit_login(sender, request, user, **kwargs) -> None:
    audit.record(audit.Action.LOGIN_SUCCEEDED, user=user, request=request, object_type="user", object_id=user.pk)


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def audit_login_failed(sender, credentials, request=None, **kwargs) -> None:
    audit.record(
        audit.Action.LOGIN_FAILED,
        request=request,
        username=str(credentials.get("username", ""))[:150],
        outcome=audit.Outcome.FAILED,
        object_type="user",
        details={"reason": "locked_out"} if getattr(request, "login_locked_out", False) else {},
    )


@receiver(user_logged_out, dispatch_uid="audit_logout")
def audit_logout(sender, request, user, **kwargs) -> None:
    if user is not None:
        audit.record(audit.Action.LOGOUT, user=user, request=request, object_type="user", object_id=user.pk)
