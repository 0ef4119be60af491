"""The append-only triggers fire for every session on PostgreSQL (``ENABLE ALWAYS``).

Created plainly, a trigger fires only in ordinary sessions: a session with
``session_replication_role = replica`` skips it, and ``ENABLE REPLICA
TRIGGER`` turns it off for everyone else. ``ENABLE ALWAYS`` closes both
gaps; ``verify_audit`` reports any other state as broken. SQLite has no
such states.
"""

from django.db import migrations

TRIGGERS = {
    "cases_auditevent_append_only": "cases_auditevent",
    "cases_auditevent_no_truncate": "cases_auditevent",
    "cases_auditchainhead_forward_only": "cases_auditchainhead",
    "cases_auditchainhead_no_truncate": "cases_auditchainhead",
}


def enable(state: str):
    def operation(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for trigger, table in TRIGGERS.items():
            schema_editor.execute(f"ALTER TABLE {table} ENABLE {state} TRIGGER {trigger}")

    return operation


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(enable("ALWAYS"), enable(""))]
