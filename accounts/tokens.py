"""API tokens: made and revoked (both audited), checked on every API request, and every use audited.

A secret is ``si_`` and 43 URL-safe random characters (256 bits). It is
shown once; the database keeps its SHA-256 and its first 11 characters.
``ApiTokenAuthentication`` finds a token by the digest of what the client
sent, so comparing secrets takes no time that depends on them, and refuses
unknown, revoked and expired tokens, and those of disabled accounts, with a
401 (each refusal audited). A token request does not pass through the
session's second factor or idle timeout: a token is its own credential,
made behind the second factor, and it expires.

Every audit event recorded while serving a token request names the token
(``audit.trail.RequestContext``); a request that records none of its own is
recorded once, as ``api_token_used``, after its response
(``accounts.middleware.ApiTokenUseMiddleware``).
"""

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import NoReturn

from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

import audit
from audit.models import AuditEvent
from audit.trail import RequestContext

from .models import ApiToken

TAG = "si_"
PREFIX_LENGTH = len(TAG) + 8
#: The words accepted before the secret in the ``Authorization`` header.
KEYWORDS = ("token", "bearer")
MALFORMED = "Send the header as 'Authorization: Token <secret>': one secret, no spaces."
#: ``last_used_at`` is saved at most this often.
LAST_USED_STEP = timedelta(minutes=1)


def digest_of(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(owner, name: str, lifetime: int, *, request: HttpRequest | None = None) -> tuple[ApiToken, str]:
    """A new token for ``owner`` lasting ``lifetime`` days, and its secret: show it once, it is not kept."""
    secret = TAG + secrets.token_urlsafe(32)
    now = timezone.now()
    token = ApiToken(
        owner=owner,
        name=name,
        prefix=secret[:PREFIX_LENGTH],
        digest=digest_of(secret),
        created_at=now,
        expires_at=now + timedelta(days=ApiToken.Lifetime(lifetime)),
    )
    token.full_clean()
    with transaction.atomic():
        token.save(force_insert=True)
        audit.record(
            audit.Action.API_TOKEN_CREATED,
            user=owner,
            request=request,
            object_type="api_token",
            object_id=token.pk,
            details={"api_token": token.audit_details(), "expires_at": token.expires_at, "lifetime_days": lifetime},
        )
    return token, secret


def revoke(token: ApiToken, *, by, request: HttpRequest | None = None) -> bool:
    """Revoke ``token`` for good, as ``by`` (its owner, or an administrator); False if it already was."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().select_related("owner").get(pk=token.pk)
        if token.revoked_at is not None:
            return False
        token.revoked_at, token.revoked_by = timezone.now(), by
        token.save(update_fields=["revoked_at", "revoked_by"])
        audit.record(
            audit.Action.API_TOKEN_REVOKED,
            user=by,
            request=request,
            object_type="api_token",
            object_id=token.pk,
            details={"api_token": token.audit_details(), "owner": token.owner.get_username()},
        )
    return True


def get_token_for(user, pk: int, request: HttpRequest) -> ApiToken:
    """``user``'s own token ``pk``; anyone else's, or none, is a 404 and an audited denial."""
    token = ApiToken.objects.owned_by(user).filter(pk=pk).first()
    if token is None:
        audit.record(
            audit.Action.ACCESS_DENIED,
            user=user,
            request=request,
            object_type="api_token",
            object_id=pk,
            outcome=audit.Outcome.DENIED,
            details={
                "ability": "manage_api_token",
                "reason": "not_owner",
                "method": request.method,
                "path": request.path[:500],
            },
        )
        raise Http404("No API token found.")
    return token


class TokenRefused(exceptions.APIException):
    """A 401 with ``WWW-Authenticate``. DRF turns an ``AuthenticationFailed`` into a 403
    when the first authentication class, session authentication, names no such header."""

    status_code = 401
    default_code = "token_refused"
    auth_header = 'Token realm="api"'


class ApiTokenAuthentication(BaseAuthentication):
    """``Authorization: Token <secret>`` (or ``Bearer <secret>``) → the token's owner."""

    def authenticate(self, request):
        words = get_authorization_header(request).split()
        if not words or words[0].lower().decode(errors="replace") not in KEYWORDS:
            return None
        if len(words) != 2:
            raise TokenRefused(MALFORMED)
        try:
            secret = words[1].decode("ascii")
        except UnicodeDecodeError:
            raise TokenRefused(MALFORMED) from None
        return self.check(request._request, secret)

    def check(self, request: HttpRequest, secret: str):
        digest = digest_of(secret)
        token = ApiToken.objects.select_related("owner").filter(digest=digest).first()
        if token is None or not hmac.compare_digest(token.digest, digest):
            refuse(request, None, "unknown", "This API token is not valid.")
        if token.revoked_at is not None:
            refuse(request, token, "revoked", f"This API token was revoked on {token.revoked_at:%Y-%m-%d %H:%M} UTC.")
        if token.status == ApiToken.Status.EXPIRED:
            refuse(request, token, "expired", f"This API token expired on {token.expires_at:%Y-%m-%d %H:%M} UTC.")
        if not token.owner.is_active:
            refuse(request, token, "account_disabled", "The account this API token belongs to is disabled.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_STEP:
            token.last_used_at = now
            token.save(update_fields=["last_used_at"])
        request.api_token = token
        request.audit_context = RequestContext(details={"api_token": token.audit_details()})
        return token.owner, token

    def authenticate_header(self, request) -> str:
        return TokenRefused.auth_header


def refuse(request: HttpRequest, token: ApiToken | None, reason: str, message: str) -> NoReturn:
    """Record the refusal (naming the token, never the secret sent) and answer 401 with ``message``."""
    details = {"reason": reason, "method": request.method, "path": request.path[:500]}
    if token is not None:
        details["api_token"] = token.audit_details()
    audit.record(
        audit.Action.API_TOKEN_REFUSED,
        user=token.owner if token is not None else None,
        request=request,
        object_type="api_token",
        object_id=token.pk if token is not None else "",
        outcome=audit.Outcome.DENIED,
        details=details,
    )
    hint = "" if reason == "account_disabled" else " Make a new one under “API tokens” in your account."
    raise TokenRefused(message + hint)


def record_use(request: HttpRequest, response: HttpResponse) -> None:
    """After a token request: one ``api_token_used`` event, unless the request recorded events of its own
    (each naming the token) that were kept."""
    token = getattr(request, "api_token", None)
    if token is None:
        return
    recorded = request.audit_context.recorded
    if recorded and AuditEvent.objects.filter(hash__in=recorded).exists():
        return
    audit.record(
        audit.Action.API_TOKEN_USED,
        user=token.owner,
        request=request,
        object_type="api_token",
        object_id=token.pk,
        details={"method": request.method, "path": request.path[:500], "status": response.status_code},
    )


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes ``ApiTokenAuthentication``."""

    target_class = ApiTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Token")
