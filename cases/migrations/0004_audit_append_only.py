"""The database refuses to change or remove audit events.

On PostgreSQL a trigger function rejects UPDATE and DELETE of any audit
event and TRUNCATE of the table; on SQLite, BEFORE UPDATE/DELETE triggers
abort. Both also guard the chain head: it may only move forward by one, to
the event just appended (or be rewritten unchanged), and cannot be deleted. Only the database owner can
switch these off (``ALTER TABLE ... DISABLE TRIGGER``, dropping them), which
``verify_audit`` notices and reports.

The SQL lives here, frozen with the migration; ``cases.integrity`` reads
``TRIGGERS`` and ``SQL`` from this module (as ``TRIGGERS`` and ``TRIGGER_SQL``).
"""

from django.db import migrations

# Trigger names per vendor, so that their presence can be checked.
TRIGGERS = {
    "postgresql": (
        "cases_auditevent_append_only",
        "cases_auditevent_no_truncate",
        "cases_auditchainhead_forward_only",
        "cases_auditchainhead_no_truncate",
    ),
    "sqlite": (
        "cases_auditevent_no_update",
        "cases_auditevent_no_delete",
        "cases_auditchainhead_forward_only",
        "cases_auditchainhead_no_delete",
    ),
}

SQL = {
    "postgresql": {
        "install": [
            """
            CREATE OR REPLACE FUNCTION cases_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'audit events are append-only: % on % refused', TG_OP, TG_TABLE_NAME
                    USING ERRCODE = 'insufficient_privilege';
            END
            $$
            """,
            """
            CREATE OR REPLACE FUNCTION cases_audit_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP <> 'UPDATE' THEN
                    RAISE EXCEPTION 'the audit chain head cannot be removed: % refused', TG_OP
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
                IF NEW IS NOT DISTINCT FROM OLD THEN
                    RETURN NEW;  -- rewriting the same values changes nothing
                END IF;
                IF NEW.id <> OLD.id OR NEW.sequence <> OLD.sequence + 1 OR NOT EXISTS (
                    SELECT 1 FROM cases_auditevent WHERE sequence = NEW.sequence AND hash = NEW.hash
                ) THEN
                    RAISE EXCEPTION 'the audit chain head only moves forward by one, to the event just appended'
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
                RETURN NEW;
            END
            $$
            """,
            """
            CREATE TRIGGER cases_auditevent_append_only BEFORE UPDATE OR DELETE ON cases_auditevent
            FOR EACH ROW EXECUTE FUNCTION cases_audit_append_only()
            """,
            """
            CREATE TRIGGER cases_auditevent_no_truncate BEFORE TRUNCATE ON cases_auditevent
            FOR EACH STATEMENT EXECUTE FUNCTION cases_audit_append_only()
            """,
            """
            CREATE TRIGGER cases_auditchainhead_forward_only BEFORE UPDATE OR DELETE ON cases_auditchainhead
            FOR EACH ROW EXECUTE FUNCTION cases_audit_head_forward_only()
            """,
            """
            CREATE TRIGGER cases_auditchainhead_no_truncate BEFORE TRUNCATE ON cases_auditchainhead
            FOR EACH STATEMENT EXECUTE FUNCTION cases_audit_head_forward_only()
            """,
        ],
        "uninstall": [
            "DROP TRIGGER IF EXISTS cases_auditevent_append_only ON cases_auditevent",
            "DROP TRIGGER IF EXISTS cases_auditevent_no_truncate ON cases_auditevent",
            "DROP TRIGGER IF EXISTS cases_auditchainhead_forward_only ON cases_auditchainhead",
            "DROP TRIGGER IF EXISTS cases_auditchainhead_no_truncate ON cases_auditchainhead",
            "DROP FUNCTION IF EXISTS cases_audit_append_only()",
            "DROP FUNCTION IF EXISTS cases_audit_head_forward_only()",
        ],
    },
    "sqlite": {
        "install": [
            """
            CREATE TRIGGER cases_auditevent_no_update BEFORE UPDATE ON cases_auditevent
            BEGIN SELECT RAISE(ABORT, 'audit events are append-only: UPDATE on cases_auditevent refused'); END
            """,
            """
            CREATE TRIGGER cases_auditevent_no_delete BEFORE DELETE ON cases_auditevent
            BEGIN SELECT RAISE(ABORT, 'audit events are append-only: DELETE on cases_auditevent refused'); END
            """,
            """
            CREATE TRIGGER cases_auditchainhead_forward_only BEFORE UPDATE ON cases_auditchainhead
            WHEN (NEW.id, NEW.sequence, NEW.hash) IS NOT (OLD.id, OLD.sequence, OLD.hash) AND (
                NEW.id <> OLD.id OR NEW.sequence <> OLD.sequence + 1 OR NOT EXISTS (
                    SELECT 1 FROM cases_auditevent WHERE sequence = NEW.sequence AND hash = NEW.hash
                )
            )
            BEGIN
                SELECT RAISE(ABORT, 'the audit chain head only moves forward by one, to the event just appended');
            END
            """,
            """
            CREATE TRIGGER cases_auditchainhead_no_delete BEFORE DELETE ON cases_auditchainhead
            BEGIN SELECT RAISE(ABORT, 'the audit chain head cannot be removed: DELETE refused'); END
            """,
        ],
        "uninstall": [
            "DROP TRIGGER IF EXISTS cases_auditevent_no_update",
            "DROP TRIGGER IF EXISTS cases_auditevent_no_delete",
            "DROP TRIGGER IF EXISTS cases_auditchainhead_forward_only",
            "DROP TRIGGER IF EXISTS cases_auditchainhead_no_delete",
        ],
    },
}


def run(step: str):
    def operation(apps, schema_editor) -> None:
        statements = SQL.get(schema_editor.connection.vendor)
        if statements is None:
            raise RuntimeError(f"No append-only audit triggers for {schema_editor.connection.vendor}")
        for statement in statements[step]:
            schema_editor.execute(statement, params=None)

    return operation


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0003_candidate_photo"),
    ]

    operations = [migrations.RunPython(run("install"), run("uninstall"))]
