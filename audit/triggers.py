"""The append-only triggers that guard the audit tables, by name, per database vendor.

Migration ``cases.0004_audit_append_only`` installs them (its SQL is frozen
there); ``audit.0002_triggers_always`` makes the PostgreSQL ones fire for
every session, replication sessions included (``ENABLE ALWAYS``). The
verifier (``audit.integrity``) requires exactly these, in that state.
"""

TRIGGERS: dict[str, tuple[str, ...]] = {
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

#: The table each PostgreSQL trigger is on.
TABLES = {
    "cases_auditevent_append_only": "cases_auditevent",
    "cases_auditevent_no_truncate": "cases_auditevent",
    "cases_auditchainhead_forward_only": "cases_auditchainhead",
    "cases_auditchainhead_no_truncate": "cases_auditchainhead",
}

#: ``pg_trigger.tgenabled`` of a trigger that fires in every session: 'A' (ENABLE ALWAYS).
#: 'O' fires only for ordinary sessions (skipped under ``session_replication_role = replica``),
#: 'R' only for replica sessions, 'D' never.
ALWAYS = "A"
