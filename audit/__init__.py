"""The tamper-evident audit trail: one writer, a hash chain, append-only tables.

Other apps call ``audit.record(...)`` inside the transaction of the change
they record; nothing else writes events. ``audit.Action`` and
``audit.Outcome`` name what happened and how it ended. This package imports
no other app of the project: the case an event belongs to is a foreign key
by name, and the acting user's role on it is asked of the case itself
(``role_of``).
"""

from .actions import Action, Outcome


def record(action: str, **kwargs):
    """Append one audit event in the current transaction (``audit.trail.record``)."""
    from .trail import record

    return record(action, **kwargs)


__all__ = ["Action", "Outcome", "record"]
