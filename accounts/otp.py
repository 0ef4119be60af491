"""The second login factor, on django-otp: an authenticator app (RFC 6238
time-based codes, ``TOTPDevice``) and ten single-use backup codes
(``StaticDevice``) for when the phone is lost.

A user enrols an authenticator and from then on every login asks for a code
after the password. ``OTP_REQUIRED_FOR_AUDITORS_AND_ADMINS`` makes auditors
and superusers enrol before they can do anything else.
``accounts.middleware.SecondFactorMiddleware`` sends a signed-in user who
still owes a code to ``second_factor_verify`` or ``second_factor_setup``.

Codes: six digits, 30-second steps, one step of clock drift either way,
each step accepted once (django-otp's ``last_t``); repeated wrong codes slow
the device down (django-otp's throttling) and count towards the login
lockout (``accounts.lockout``).
"""

import base64
from binascii import unhexlify
from urllib.parse import quote, urlencode

import django_otp
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.util import random_hex

from .roles import GlobalRole, has_global_role

ISSUER = "Sketch inversion"
AUTHENTICATOR_NAME = "Authenticator app"
BACKUP_NAME = "Backup codes"
BACKUP_CODES = 10
#: Set in the session once a signed-in user is known to owe no code, so later requests cost no query.
NOT_NEEDED_KEY = "second_factor_not_needed"


PENDING_KEY = "second_factor_pending_key"
STEP_SECONDS = 30
DIGITS = 6


def new_key() -> str:
    """A new authenticator key (20 random bytes, hex), kept in the session until a code confirms it."""
    return random_hex(20)


def secret_of(key: str) -> str:
    """The key as an authenticator app is given it: base32."""
    return base64.b32encode(unhexlify(key)).decode()


def provisioning_uri(user, key: str) -> str:
    """The ``otpauth://`` address an authenticator app reads (typed in, or as a QR code)."""
    label = quote(f"{ISSUER}:{user.get_username()}")
    query = urlencode({"secret": secret_of(key), "issuer": ISSUER, "digits": DIGITS, "period": STEP_SECONDS})
    return f"otpauth://totp/{label}?{query}"


def enrol(user, key: str, code: str) -> list[str] | None:
    """Confirm a new authenticator with its first code; return new backup codes, or None if the code is wrong.

    The code is checked by django-otp's TOTP (one step of drift either way)
    and its step recorded, so it cannot be used again. The user's earlier
    authenticator and backup codes are replaced.
    """
    totp = TOTP(unhexlify(key), step=STEP_SECONDS, digits=DIGITS)
    try:
        accepted = totp.verify(int(_normalised(code)), tolerance=1)
    except ValueError:
        accepted = False
    if not accepted:
        return None
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        TOTPDevice.objects.create(
            user=user,
            name=AUTHENTICATOR_NAME,
            key=key,
            step=STEP_SECONDS,
            digits=DIGITS,
            last_t=totp.t(),
            confirmed=True,
        )
        return renew_backup_codes(user)


def renew_backup_codes(user) -> list[str]:
    """Ten new single-use backup codes for ``user``; earlier ones stop working."""
    with transaction.atomic():
        StaticDevice.objects.filter(user=user).delete()
        backup = StaticDevice.objects.create(user=user, name=BACKUP_NAME, confirmed=True)
        codes = [StaticToken.random_token() for _ in range(BACKUP_CODES)]
        StaticToken.objects.bulk_create(StaticToken(device=backup, token=code) for code in codes)
    return codes


def verify(user, code: str):
    """The device (authenticator or backup codes) that accepts ``code``, or None. A backup code is used up."""
    code = _normalised(code)
    for device in django_otp.devices_for_user(user):
        if django_otp.verify_token(user, device.persistent_id, code):
            return device
    return None


def is_backup_code(device) -> bool:
    return isinstance(device, StaticDevice)


def has_second_factor(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def backup_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def required_for(user) -> bool:
    """Whether ``user`` must use a second factor even without having chosen to."""
    if not settings.OTP_REQUIRED_FOR_AUDITORS_AND_ADMINS:
        return False
    return user.is_superuser or has_global_role(user, GlobalRole.AUDITOR)


def passed(request: HttpRequest) -> bool:
    """Whether this session has given a code, or owes none."""
    return request.user.is_verified() or request.session.get(NOT_NEEDED_KEY) == request.user.pk


def owed_before_new_credential(request: HttpRequest) -> str | None:
    """The page (URL name) a user must pass before making a new credential such as an API token, or None.

    Stricter than ``passed``: a session let through before the user enrolled,
    or before the setting required it (``NOT_NEEDED_KEY``), is not enough.
    """
    user = request.user
    if has_second_factor(user):
        return None if user.is_verified() else "second_factor_verify"
    return "second_factor_setup" if required_for(user) else None


def authenticator_of(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def mark_passed(request: HttpRequest, device) -> None:
    request.session.cycle_key()
    django_otp.login(request, device)


def _normalised(code: str) -> str:
    """As typed, without spaces; backup codes are lower case."""
    return "".join(code.split()).lower()
