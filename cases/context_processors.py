from django.http import HttpRequest

from audit.trail import can_view_audit


def navigation(request: HttpRequest) -> dict:
    """What the main navigation offers the signed-in user."""
    return {"can_view_audit": can_view_audit(request.user) if hasattr(request, "user") else False}
