from functools import cache

from django.http import HttpRequest

from audit.trail import can_view_audit

from . import notifications


def navigation(request: HttpRequest) -> dict:
    """What the main navigation offers the signed-in user.

    ``unseen_work`` is their count of finished work not yet seen: one query,
    run only when a template shows it (the full pages' navigation bar, not
    the cards a page renders on their own).
    """
    user = getattr(request, "user", None)
    return {
        "can_view_audit": can_view_audit(request.user) if hasattr(request, "user") else False,
        "unseen_work": cache(lambda: notifications.unseen_count(user) if user is not None else 0),
    }
