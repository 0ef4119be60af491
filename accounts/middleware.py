"""The idle timeout and the second factor, applied to every request, and the audit of API token use."""

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse
from django.utils.http import urlencode

from . import otp, tokens


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
    """Hold back a signed-in user who owes a code from their authenticator (``accounts.otp``).

    Runs after django-otp's ``OTPMiddleware``. A user with a confirmed
    authenticator is sent to enter a code, and one who must have one
    (``OTP_REQUIRED_FOR_AUDITORS_AND_ADMINS``) to set it up, before any
    other page; API calls get a 403. A user who owes nothing is marked in
    the session once, so later requests cost no query.
    """

    EXEMPT = frozenset({"second_factor_verify", "second_factor_setup", "logout"})

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated and not otp.passed(request) and not self.exempt(request):
            if otp.has_second_factor(request.user):
                target = "second_factor_verify"
            elif otp.required_for(request.user):
                target = "second_factor_setup"
            else:
                request.session[otp.NOT_NEEDED_KEY] = request.user.pk
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


class ApiTokenUseMiddleware:
    """After a request made with an API token, record its use if nothing else did (``tokens.record_use``).

    The token is checked inside the API view (``tokens.ApiTokenAuthentication``),
    so its use can only be seen on the way out.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        tokens.record_use(request, response)
        return response
