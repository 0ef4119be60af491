"""Who may do what with galleries. Every page, API endpoint and service asks here.

Deny by default, as with cases: a user who may not search a gallery cannot
learn that it exists. ``get_gallery_for`` answers 404, exactly as for an id
never used, and records the denial. Administrators (staff, superusers) make
galleries, import and remove photos and grant searches; investigators
search the galleries granted to them and see only the shortlists.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

import audit

from .models import Gallery, is_admin

#: What a request asked of a gallery, as the denial records it.
SEARCH, MANAGE = "search_gallery", "manage_gallery"


def record_gallery_denial(user, request: HttpRequest | None, *, object_id: str, ability: str, reason: str) -> None:
    """Record a refused request on a gallery: who, what they tried and why (``access_denied``)."""
    details = {"ability": ability, "reason": reason}
    if request is not None:
        details.update(method=request.method, path=request.path[:500])
    audit.record(
        audit.Action.ACCESS_DENIED,
        user=user if user.is_authenticated else None,
        request=request,
        object_type="gallery",
        object_id=object_id,
        outcome=audit.Outcome.DENIED,
        details=details,
    )


def get_gallery_for(user, pk, request: HttpRequest | None = None, ability: str = SEARCH) -> Gallery:
    """The gallery ``pk`` if ``user`` may search it (``SEARCH``) or manage it (``MANAGE``).

    Raises ``Http404``, audited, when the user may not search it (whether or
    not it exists), and ``PermissionDenied``, audited, when a user granted
    the search asks to manage it. Call it before opening a transaction.
    """
    try:
        gallery_id = int(pk)
    except (TypeError, ValueError):
        gallery_id = None
    gallery = Gallery.objects.searchable_by(user).filter(pk=gallery_id).first() if gallery_id is not None else None
    if gallery is None:
        record_gallery_denial(user, request, object_id=str(pk)[:64], ability=ability, reason="not_granted")
        raise Http404("No gallery found.")
    if ability == MANAGE:
        require_admin(user, request, object_id=str(gallery.pk))
    return gallery


def require_admin(user, request: HttpRequest | None = None, *, object_id: str = "") -> None:
    """Raise ``PermissionDenied`` (audited) unless ``user`` is an administrator."""
    if not is_admin(user):
        record_gallery_denial(user, request, object_id=object_id, ability=MANAGE, reason="role")
        raise PermissionDenied("Only administrators manage galleries.")


def may_see_galleries(user) -> bool:
    """Whether the navigation shows "Galleries": administrators and users granted one."""
    return is_admin(user) or (user.is_authenticated and user.is_active and user.gallery_grants.exists())
