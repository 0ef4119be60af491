from functools import cache

from django.core.cache import cache as shared_cache
from django.http import HttpRequest

from accounts.navigation import MENU_SECONDS, menu_key
from audit.trail import can_view_audit
from cases import notifications
from leads.access import may_see_galleries


def navigation(request: HttpRequest) -> dict:
    """What the main navigation offers the signed-in user.

    Worked out only when a template shows it (the full pages' navigation bar), not for each card
    a page renders on its own: ``menu`` (which of the Audit log and Galleries links to show) and
    ``unseen_work`` (their count of finished work not yet seen).
    """
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    return {
        "menu": cache(lambda: menu_links(user) if signed_in else {"audit": False, "galleries": False}),
        "unseen_work": cache(lambda: notifications.unseen_count(user) if signed_in else 0),
    }


def menu_links(user) -> dict[str, bool]:
    """Which of the role-bound links the menu shows ``user``, kept ``MENU_SECONDS`` in the shared cache.

    Two queries a page otherwise (#13). A change of the user's groups, staff flags or gallery grants
    forgets the entry (``accounts.signals``, ``leads.signals``); the pages behind the links check
    the user's rights on every request, so a stale link can only lead to a refusal.
    """
    key = menu_key(user)
    links = shared_cache.get(key)
    if links is None:
        links = {"audit": can_view_audit(user), "galleries": may_see_galleries(user)}
        shared_cache.set(key, links, MENU_SECONDS)
    return links
