import re
import uuid
from collections.abc import Callable

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
