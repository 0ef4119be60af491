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
