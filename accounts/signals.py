"""Audit logins, failed logins and logouts; forget the menu's links when a user's roles change.

Django's auth framework announces these only through signals, so this is
the one place the audit trail listens to signals instead of being called
explicitly. Groups and staff flags change in the admin as well as here,
hence signals for the menu too.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed, post_save
from django.dispatch import receiver

import audit

from .navigation import forget_menu

User = get_user_model()


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


@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="menu_groups_changed")
def menu_groups_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    """A user joined or left a group (the Auditor group shows the Audit log link)."""
    if not action.startswith("post_") and action != "pre_clear":
        return
    if not reverse:
        forget_menu(instance)
    elif pk_set:
        forget_menu(*User.objects.filter(pk__in=pk_set))
    elif action == "pre_clear":  # a group emptied: its members are known only before
        forget_menu(*User.objects.filter(groups=instance))


@receiver(post_save, sender=User, dispatch_uid="menu_user_saved")
def menu_user_saved(sender, instance, created, **kwargs) -> None:
    """Staff, superuser and active flags decide links too."""
    if not created:
        forget_menu(instance)
