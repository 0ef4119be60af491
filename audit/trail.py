"""The audit trail's only writer, and what is read back from it.

``record`` appends one event inside the caller's transaction: if the change
it records rolls back, so does the event. Events form a SHA-256 hash chain;
``canonical_content`` is the one definition of what is hashed.
"""

import datetime
import hashlib
import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone

from .actions import AUDITOR_GROUP, Action, Outcome
from .models import AuditChainHead, AuditEvent

GENESIS_HASH = "0" * 64

# The fields covered by the hash, in the canonical form's key order.
HASHED_FIELDS = (
    "sequence",
    "timestamp",
    "user_id",
    "username",
    "role",
    "action",
    "object_type",
    "object_id",
    "case_id",
    "outcome",
    "ip",
    "user_agent",
    "request_id",
    "details",
    "prev_hash",
)


@dataclass
class RequestContext:
    """What every event recorded while serving one request adds to its details, and which events those were.

    Set as ``request.audit_context`` by whatever authenticated the request
    with a credential of its own (an API token: ``accounts.tokens``), so that
    each event names the credential, and a request that recorded no event
    can be recorded once after its response.
    """

    details: dict[str, Any]
    recorded: list[str] = field(default_factory=list)  # the hashes of the events recorded


def canonical_content(event: AuditEvent) -> bytes:
    """The bytes hashed for an event: its content and ``prev_hash`` as canonical JSON."""
    content = {name: getattr(event, name) for name in HASHED_FIELDS}
    content["timestamp"] = event.timestamp.astimezone(datetime.UTC).isoformat(timespec="microseconds")
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compute_hash(event: AuditEvent) -> str:
    return hashlib.sha256(canonical_content(event)).hexdigest()


def record(
    action: str,
    *,
    user=None,
    request: HttpRequest | None = None,
    obj: models.Model | None = None,
    case: models.Model | None = None,
    outcome: str = Outcome.SUCCESS,
    details: dict[str, Any] | None = None,
    username: str | None = None,
    role: str | None = None,
    object_type: str | None = None,
    object_id: str | int | None = None,
) -> AuditEvent:
    """Append an audit event in the current transaction and return it.

    ``user`` defaults to ``request.user``; IP, user agent and request id come
    from ``request``. ``obj`` fills ``object_type``/``object_id`` (and
    ``case`` when the object belongs to one). ``username`` overrides the
    recorded name (a failed login has a name but no user); ``role`` defaults
    to the user's role on ``case``, else their global roles. The request's
    ``audit_context`` (``RequestContext``), if any, adds to ``details``.
    """
    context: RequestContext | None = getattr(request, "audit_context", None)
    if context is not None:
        details = {**(details or {}), **context.details}
    if user is None and request is not None and request.user.is_authenticated:
        user = request.user
    if user is not None and not user.is_authenticated:
        user = None
    if case is None and obj is not None:
        case = _case_of(obj)
    event = AuditEvent(
        timestamp=timezone.now(),
        user=user,
        username=username if username is not None else (user.get_username() if user else ""),
        role=role if role is not None else _role_of(user, case),
        action=Action(action),
        object_type=object_type if object_type is not None else (obj._meta.model_name if obj is not None else ""),
        object_id=str(object_id if object_id is not None else (obj.pk if obj is not None else "")),
        case=case,
        outcome=Outcome(outcome),
        ip=client_ip(request),
        user_agent=request.headers.get("User-Agent", "")[:512] if request else "",
        request_id=getattr(request, "request_id", "") if request else "",
        # Stored exactly as hashed: JSON round-tripped once here.
        details=json.loads(json.dumps(details or {}, cls=DjangoJSONEncoder)),
    )
    with transaction.atomic():
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1, defaults={"hash": GENESIS_HASH})
        event.sequence = head.sequence + 1
        event.prev_hash = head.hash
        event.hash = compute_hash(event)
        event.save(force_insert=True)
        head.sequence, head.hash = event.sequence, event.hash
        head.save(update_fields=["sequence", "hash"])
    if context is not None:
        context.recorded.append(event.hash)
    return event


def _case_of(obj: models.Model) -> models.Model | None:
    """The case ``obj`` is, or belongs to (its ``case`` attribute), if any."""
    case_model = AuditEvent._meta.get_field("case").related_model
    if isinstance(obj, case_model):
        return obj
    case = getattr(obj, "case", None)
    return case if isinstance(case, case_model) else None


def _role_of(user, case) -> str:
    """The user's role on ``case`` (``case.role_of(user)``), else their global roles."""
    if user is None:
        return ""
    if case is not None:
        role = case.role_of(user)
        if role:
            return role
    roles = sorted(group.name for group in user.groups.all())
    if user.is_superuser:
        roles.insert(0, "admin")
    return ", ".join(roles)[:100]


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or behind ``TRUSTED_PROXY_COUNT`` proxies the
    address the outermost one saw.

    Each trusted proxy appends the address it was connected from to
    ``X-Forwarded-For``, so the client is the entry that many places from
    the right; anything further left was written by the client and is
    ignored (a forged entry cannot move the address in the trail or dodge
    the per-address lockout). A header shorter than the proxy count means a
    proxy is missing: ``REMOTE_ADDR`` is used.
    """
    if request is None:
        return None
    address = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = [entry.strip() for entry in request.headers.get("X-Forwarded-For", "").split(",") if entry.strip()]
    if proxies and len(forwarded) >= proxies:
        address = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def can_view_audit(user) -> bool:
    """Auditors and superusers read the trail."""
    if not (user.is_authenticated and user.is_active):
        return False
    return user.is_superuser or user.groups.filter(name=AUDITOR_GROUP).exists()


def record_denial(user, request: HttpRequest | None, *, ability: str, reason: str, case=None, object_id="") -> None:
    """Record a refused request: who, what they tried (``ability``) and why it was refused."""
    details = {"ability": ability, "reason": reason}
    if request is not None:
        details.update(method=request.method, path=request.path[:500])
    record(
        Action.ACCESS_DENIED,
        user=user if user.is_authenticated else None,
        request=request,
        case=case,
        object_type="case",
        object_id=object_id,
        outcome=Outcome.DENIED,
        details=details,
    )


def event_dict(event: AuditEvent) -> dict[str, Any]:
    """An audit event with every hashed field and its hash, so a reader can re-check the chain."""
    return {
        "sequence": event.sequence,
        "timestamp": event.timestamp.isoformat(),
        "user_id": event.user_id,
        "username": event.username,
        "role": event.role,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "case_id": event.case_id,
        "outcome": event.outcome,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "request_id": event.request_id,
        "details": event.details,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }
