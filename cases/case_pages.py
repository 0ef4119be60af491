"""What a case page shows, read from the database once per change of the case (#13).

A case page's sketches, composites, candidate photos, morphs, timeline and members are the same for
everyone who may see them until something in the case changes. They are kept in the shared cache
under the case's *version*: a random token that every change to the case's evidence or members
replaces (``forget``, called by the receivers in ``cases.signals`` and by the few updates that
bypass ``save()``); ``kept`` keeps a read under it. A view of an unchanged case then reads only
the reader, their access to the case and the cached page, and records its audit event.

The token is forgotten at once and again when the change commits: a page read in between saw the
old rows, and what it cached lands under a token no later view asks for. A token the cache evicted
is replaced by a new one, never by an old one, so an eviction can only cost a re-read.
"""

import uuid
from collections.abc import Callable
from typing import TypeVar

from django.core.cache import cache
from django.db import transaction

T = TypeVar("T")

#: How long a kept read is held. A change to the case makes new keys, so this only frees memory.
KEPT_SECONDS = 3600


def kept(case_id: int, name: str, *parts: str, read: Callable[[], T]) -> T:
    """``read()`` kept in the shared cache under the case's current version, ``name`` and ``parts``
    (whatever else the result depends on): read again only after the case changes."""
    key = ":".join((name, str(case_id), version(case_id), *parts))  # the version is read before the rows
    value = cache.get(key)
    if value is None:
        value = read()
        cache.set(key, value, KEPT_SECONDS)
    return value


def version_key(case_id: int) -> str:
    return f"case-version:{case_id}"


#: Replaced when anyone's name changes: every case page shows the names of the people who acted.
PEOPLE_KEY = "case-version:people"


def version(case_id: int) -> str:
    """The case's current version token (with the people's), made on first use."""
    keys = [version_key(case_id), PEOPLE_KEY]
    tokens = cache.get_many(keys)
    return ".".join(tokens.get(key) or new_token(key) for key in keys)


def new_token(key: str) -> str:
    token = uuid.uuid4().hex
    if not cache.add(key, token, timeout=None):  # another process made one first: theirs stands
        token = cache.get(key) or token
    return token


def forget(*case_ids: int) -> None:
    """Something in these cases changed: their pages are read again, now and once the change commits."""
    forget_keys([version_key(case_id) for case_id in case_ids if case_id is not None])


def forget_people() -> None:
    """A user was renamed (or otherwise changed): every case page is read again."""
    forget_keys([PEOPLE_KEY])


def forget_keys(keys: list[str]) -> None:
    if keys:
        cache.delete_many(keys)
        transaction.on_commit(lambda: cache.delete_many(keys))
