"""Objects named the way users name them in the audit log: "sketch 2 (revision of 1)",
not "witnesssketch 2".

The audit app knows no other app's models; each app registers how to name its
own (``register``, called from its ``AppConfig.ready``). A namer takes the ids
of one object type shown on a page and answers in one query.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable

#: object_type -> namer(ids) -> {id: name}
NAMERS: dict[str, Callable[[list[str]], dict[str, str]]] = {}

#: Plain nouns for object types no app names itself.
NOUNS = {"case": "case", "auditevent": "audit log", "user": "user", "apitoken": "API token"}


def register(object_type: str, namer: Callable[[list[str]], dict[str, str]]) -> None:
    NAMERS[object_type] = namer


def names(events: Iterable) -> dict[tuple[str, str], str]:
    """``(object_type, object_id) -> name`` for every object the ``events`` mention."""
    wanted = defaultdict(set)
    for event in events:
        if event.object_type and event.object_id:
            wanted[event.object_type].add(event.object_id)
    found = {}
    for object_type, ids in wanted.items():
        namer = NAMERS.get(object_type)
        given = namer(sorted(ids)) if namer else {}
        noun = NOUNS.get(object_type, object_type)
        for object_id in ids:
            found[(object_type, object_id)] = given.get(object_id, f"{noun} {object_id}")
    return found
