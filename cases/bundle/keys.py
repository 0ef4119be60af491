"""The instance's export key: an Ed25519 key that signs every case bundle's manifest.

It lives in files under ``settings.EXPORT_KEY_DIR``, outside the database,
so that someone who can rewrite the database cannot sign a bundle::

    EXPORT_KEY_DIR/
        export-key.pem   the current private key (PKCS #8 PEM, mode 0600)
        keys.json        every public key this instance has signed with, newest first

``create`` makes the first key or, with ``rotate``, a new one: the old
private key is deleted and its public key stays listed in ``keys.json`` with
the time it was retired, so bundles it signed can still be checked. The web
tier only reads these files; ``manage.py create_export_key`` writes them and
records each new and retired key in the audit trail (``admin_action``,
``object_type`` ``exportkey``), which is where the auditor's integrity page
lists them from.

A fingerprint is the SHA-256 of the 32 raw bytes of the public key, in hex.
"""

import base64
import datetime
import hashlib
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

ALGORITHM = "Ed25519"
PRIVATE_KEY_FILE = "export-key.pem"
KEYS_FILE = "keys.json"


class ExportKeyError(Exception):
    """The key files are unreadable or disagree with each other; the message says which."""


@dataclass(frozen=True)
class PublicKey:
    """One export key as published: what an examiner compares a bundle's signer with."""

    fingerprint: str
    public_key: str  # the 32 raw bytes, base64
    created_at: str
    retired_at: str | None = None
    algorithm: str = ALGORITHM

    @property
    def current(self) -> bool:
        return self.retired_at is None

    def as_dict(self) -> dict:
        return asdict(self)


def key_dir() -> Path:
    return Path(settings.EXPORT_KEY_DIR)


def fingerprint(raw_public_key: bytes) -> str:
    return hashlib.sha256(raw_public_key).hexdigest()


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_keys() -> list[PublicKey]:
    """Every key listed in ``keys.json``, newest first; empty when no key was ever made."""
    path = key_dir() / KEYS_FILE
    try:
        listed = json.loads(path.read_text())["keys"]
        return [PublicKey(**entry) for entry in listed]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ExportKeyError(f"{path} cannot be read: {error}") from None


def signing_key() -> tuple[Ed25519PrivateKey, PublicKey] | None:
    """The current private key and its listing, or None when there is none (bundles go unsigned).

    Refuses (``ExportKeyError``) a private key that ``keys.json`` does not
    list as current: a bundle must never be signed by a key nobody can look up.
    """
    path = key_dir() / PRIVATE_KEY_FILE
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ExportKeyError(f"{path} cannot be read: {error}") from None
    try:
        private = serialization.load_pem_private_key(pem, password=None)
    except ValueError as error:
        raise ExportKeyError(f"{path} is not a private key: {error}") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise ExportKeyError(f"{path} is not an {ALGORITHM} key")
    listed = fingerprint(raw_public(private.public_key()))
    current = [key for key in public_keys() if key.current]
    if [key.fingerprint for key in current] != [listed]:
        raise ExportKeyError(f"{path} (fingerprint {listed}) is not the one current key listed in {KEYS_FILE}")
    return private, current[0]


def sign(data: bytes) -> tuple[bytes, PublicKey] | None:
    """An Ed25519 signature of ``data`` with the current key, and the key; None without a key."""
    key = signing_key()
    if key is None:
        return None
    private, public = key
    return private.sign(data), public


def create(*, rotate: bool = False) -> tuple[PublicKey, list[PublicKey]]:
    """Make a new key: the first one, or with ``rotate`` a replacement. Returns it and the keys it retired.

    Refuses to replace a usable key without ``rotate``. A retired key's
    private half is deleted; its public half stays listed. A key listed as
    current whose private half is gone is retired too.
    """
    folder = key_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    existing = signing_key()
    if existing is not None and not rotate:
        raise ExportKeyError(f"An export key exists already ({existing[1].fingerprint}); use --rotate to replace it")
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    private = Ed25519PrivateKey.generate()
    raw = raw_public(private.public_key())
    new = PublicKey(fingerprint(raw), base64.b64encode(raw).decode(), created_at=now)
    previous = public_keys()
    retired = [replace(key, retired_at=now) for key in previous if key.current]
    listed = [new, *retired, *(key for key in previous if not key.current)]
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # The listing first: a crash in between leaves a listed key that signs nothing, never the reverse.
    _write(folder / KEYS_FILE, (json.dumps({"keys": [key.as_dict() for key in listed]}, indent=2) + "\n").encode())
    _write(folder / PRIVATE_KEY_FILE, pem, mode=0o600)
    return new, retired


def _write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` atomically, created with ``mode`` (a private key is never readable by others)."""
    part = path.with_name(path.name + ".part")
    part.unlink(missing_ok=True)
    descriptor = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(part, path)
