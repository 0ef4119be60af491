from functools import cache

from django.http import HttpRequest

from audit.trail import can_view_audit

from . import notifications


def navigation(request: HttpRequest) -> dict:
    """What the main navigation offers the signed-in user.

    Both are asked only when a template shows them (the full pages'
    navigation bar), not for every card a page renders on its own:
    ``can_view_audit`` (the user's Auditor group) and ``unseen_work`` (their
    count of finished work not yet seen), one query each.
    """
    user = getattr(request, "user", None)
    return {
        "can_view_audit": cache(lambda: can_view_audit(user) if user is not None else False),
        "unseen_work": cache(lambda: notifications.unseen_count(user) if user is not None else 0),
    }
