from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme


def back_to(request: HttpRequest, fallback: str) -> str:
    """The ``next`` address of the form or query, if it is a path on this site; else ``fallback``.

    Only a path ("/cases/4/") is followed: ``redirect`` would take anything else
    for the name of a view, and a control character has no place in an address.
    """
    target = request.POST.get("next") or request.GET.get("next") or ""
    on_this_site = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    if on_this_site and target.startswith("/") and target.isprintable():
        return target
    return fallback


#: How long the menu's role-bound links may lag behind a change that no signal announces (#13).
MENU_SECONDS = 60


def menu_key(user) -> str:
    """The shared cache's key for the links the menu shows ``user`` (``forensics.context_processors``).

    The join time is in it with the id: a database made anew (tests, a fresh install on a shared
    Redis) gives its users the same ids, never the same join times."""
    return f"menu-links:{user.pk}:{user.date_joined.timestamp()}"


def forget_menu(*users) -> None:
    """Forget the users' links now and again once the change commits: a page read in between still
    saw the old rights."""
    keys = [menu_key(user) for user in users]
    cache.delete_many(keys)
    transaction.on_commit(lambda: cache.delete_many(keys))
