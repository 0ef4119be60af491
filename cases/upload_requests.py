"""An upload whose request body cannot even be parsed is refused, and audited, like any other refused upload.

Django's multipart parser refuses some requests before a view sees the
file: a part header over 1,024 bytes (a file name of about a thousand
characters), a broken boundary. Views that take uploads ask here first.
"""

from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError
from rest_framework.exceptions import ParseError

from . import services
from .models import Case

MESSAGE = (
    "The upload could not be read: the file's name may be too long, or the upload was cut short. "
    "Rename the file to something short and upload it again."
)


def unreadable_upload(request: HttpRequest, *, user, case: Case, object_type: str) -> str | None:
    """Parse the request's files; when they cannot be parsed, audit the refusal and return what to tell the user."""
    try:
        request.data if hasattr(request, "data") else request.FILES
    except (MultiPartParserError, ParseError) as error:
        services.record_upload_rejected(
            user=user,
            case=case,
            object_type=object_type,
            request=request,
            reason="filename" if "header" in str(error).lower() else "unreadable_request",
            message=MESSAGE,
            details={"error": str(error)[:200]},
        )
        return MESSAGE
    return None
