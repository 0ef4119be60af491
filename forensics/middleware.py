from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from cases.custody import StorageUnavailable


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


class StorageUnavailableMiddleware:
    """Answer 503, saying so, when the evidence store does not answer (``custody.StorageUnavailable``).

    Views that write evidence handle the outage themselves (nothing is
    stored, the refusal is audited); this catches every other request that
    needed the store: viewing, downloading, exporting.
    """

    RETRY_AFTER = "30"
    MESSAGE = (
        "Evidence storage is not answering at the moment. "
        "Try again in a minute; if this goes on, tell your administrator."
    )

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, StorageUnavailable):
            return None
        if request.path.startswith("/api/"):
            response = JsonResponse({"message": self.MESSAGE}, status=503)
        else:
            response = render(request, "503.html", {"message": self.MESSAGE}, status=503)
        response["Retry-After"] = self.RETRY_AFTER
        return response
