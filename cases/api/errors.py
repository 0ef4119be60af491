"""Every API error is JSON with a ``message`` a client can show as it is."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..custody import CustodyError


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for field, value in detail.items():
            message = _first_message(value)
            return message if field in ("detail", "non_field_errors") else f"{field}: {message}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def exception_handler(exc, context) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        return Response({"message": " ".join(exc.messages)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, CustodyError):
        return Response({"message": str(exc)}, status=status.HTTP_409_CONFLICT)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    body = {"message": _first_message(detail)}
    if isinstance(detail, dict) and set(detail) - {"detail"}:
        body["errors"] = detail
    response.data = body
    return response
