import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse
from django.utils.http import urlencode

from . import totp

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


class SecondFactorMiddleware:
    """Hold back a logged-in user who owes an authenticator code (``cases.totp``).

    A user with a confirmed authenticator is sent to enter a code, and one
    who must have one (``OTP_REQUIRED_FOR_AUDITORS_AND_ADMINS``) to set it
    up, before any other page; API calls get a 403. A user who owes nothing
    is marked in the session once, so later requests cost no query.
    """

    EXEMPT = frozenset({"second_factor_verify", "second_factor_setup", "logout"})

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated and not totp.passed(request) and not self.exempt(request):
            if totp.confirmed_device(request.user):
                target = "second_factor_verify"
            elif totp.required_for(request.user):
                target = "second_factor_setup"
            else:
                request.session[totp.SESSION_KEY] = request.user.pk
                return self.get_response(request)
            if request.path.startswith("/api/"):
                return JsonResponse({"message": "Enter the code from your authenticator app first."}, status=403)
            return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)

    def exempt(self, request: HttpRequest) -> bool:
        try:
            return resolve(request.path_info).url_name in self.EXEMPT
        except Resolver404:
            return False
