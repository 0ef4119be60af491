import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

# A request id from a trusted proxy is kept if it looks like one.
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIDMiddleware:
    """Give each request an id (``request.request_id``) that the audit trail and logs share.

    Reuses the ``X-Request-ID`` header when a proxy sets a sane one and
    echoes it in the response.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response


class ContentSecurityPolicyMiddleware:
    """Send ``settings.CONTENT_SECURITY_POLICY`` with every response that does not set its own.

    Django 5.2 has no Content-Security-Policy support of its own (6.0 adds it).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if settings.CONTENT_SECURITY_POLICY:
            response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        return response


class IdleSessionTimeoutMiddleware:
    """Log out a user whose session has seen no request for ``settings.SESSION_IDLE_TIMEOUT`` seconds.

    The logout is audited like any other (``user_logged_out``); the request
    then goes on as anonymous, so pages send it to the login page. The time
    of the last request is saved at most once a minute.
    """

    SESSION_KEY = "last_request_at"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        timeout = settings.SESSION_IDLE_TIMEOUT
        if timeout and request.user.is_authenticated:
            now = int(time.time())
            last = request.session.get(self.SESSION_KEY)
            if last is not None and now - last > timeout:
                logout(request)
            elif last is None or now - last >= 60:
                request.session[self.SESSION_KEY] = now
        return self.get_response(request)
