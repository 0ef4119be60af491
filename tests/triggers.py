"""Switching the audit tables' append-only triggers off and on again, as only the database owner can.

Used around the flush of transactional tests and by the tampering tests.
The SQLite triggers come from their migration (tests only: the app never
imports a migration module).
"""

import importlib

from audit.triggers import TABLES

SQLITE = importlib.import_module("cases.migrations.0004_audit_append_only").SQL["sqlite"]


def statements(vendor: str, *, on: bool) -> list[str]:
    if vendor == "postgresql":
        state = "ENABLE ALWAYS" if on else "DISABLE"
        return [f"ALTER TABLE {table} {state} TRIGGER {name}" for name, table in TABLES.items()]
    return SQLITE["install" if on else "uninstall"]
