"""A second login factor: time-based one-time codes from an authenticator app (RFC 6238).

A user enrols an authenticator (``TOTPDevice``) and from then on every
login asks for a code after the password. ``OTP_REQUIRED_FOR_AUDITORS_AND_ADMINS``
makes auditors and superusers enrol before they can do anything else.
``SecondFactorMiddleware`` (``cases.middleware``) sends a logged-in user who
still owes a code to ``second_factor_verify`` or ``second_factor_setup``.

Codes: HMAC-SHA1 over the 30-second step, six digits, the step before and
after accepted for clock drift, each step at most once.
"""

import base64
import hashlib
import hmac
import secrets
import struct
import time
from urllib.parse import quote, urlencode

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from .access import GlobalRole, has_global_role
from .models import TOTPDevice

STEP_SECONDS = 30
DIGITS = 6
ISSUER = "Sketch inversion"
SESSION_KEY = "second_factor_user"
PENDING_SECRET_KEY = "second_factor_pending_secret"


def new_secret() -> str:
    return base64.b32encode(secrets.token_bytes(20)).decode()


def code_at(secret: str, step: int) -> str:
    digest = hmac.new(base64.b32decode(secret), struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**DIGITS).zfill(DIGITS)


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP_SECONDS)


def provisioning_uri(user, secret: str) -> str:
    """The ``otpauth://`` address an authenticator app reads (typed in, or as a QR code)."""
    label = quote(f"{ISSUER}:{user.get_username()}")
    query = urlencode({"secret": secret, "issuer": ISSUER, "digits": DIGITS, "period": STEP_SECONDS})
    return f"otpauth://totp/{label}?{query}"


def matching_step(secret: str, code: str, *, after: int = 0) -> int | None:
    """The step (now, or one either side) whose code ``code`` is, if later than ``after``."""
    code = "".join(code.split())
    if len(code) != DIGITS or not code.isdigit():
        return None
    now = current_step()
    for step in (now - 1, now, now + 1):
        if step > after and hmac.compare_digest(code_at(secret, step), code):
            return step
    return None


def verify(device: TOTPDevice, code: str) -> bool:
    """Whether ``code`` is the device's code for now and not used before; if so it is used up."""
    with transaction.atomic():
        locked = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        step = matching_step(locked.secret, code, after=locked.last_step)
        if step is None:
            return False
        locked.last_step = device.last_step = step
        locked.save(update_fields=["last_step"])
    return True


def enrol(user, secret: str, code: str) -> TOTPDevice | None:
    """Confirm a new authenticator for ``user`` with its first code; None if the code is wrong."""
    step = matching_step(secret, code)
    if step is None:
        return None
    device, _ = TOTPDevice.objects.update_or_create(
        user=user, defaults={"secret": secret, "confirmed_at": timezone.now(), "last_step": step}
    )
    return device


def confirmed_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed_at__isnull=False).first()


def required_for(user) -> bool:
    """Whether ``user`` must use a second factor even without having chosen to."""
    if not settings.OTP_REQUIRED_FOR_AUDITORS_AND_ADMINS:
        return False
    return user.is_superuser or has_global_role(user, GlobalRole.AUDITOR)


def passed(request: HttpRequest) -> bool:
    return request.session.get(SESSION_KEY) == request.user.pk


def mark_passed(request: HttpRequest) -> None:
    request.session.cycle_key()
    request.session[SESSION_KEY] = request.user.pk
