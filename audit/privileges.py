"""The database role the app runs as: what it may do, and what would let it get round the audit trail's triggers.

The audit tables are append-only through triggers (``audit.triggers``), but
a superuser skips ordinary triggers (``SET session_replication_role =
replica``) and the tables' owner can switch them off (``ALTER TABLE ...
DISABLE TRIGGER``, ``ENABLE REPLICA TRIGGER``) or drop the tables. So the web
and workers connect as a plain role that owns nothing, and only migrations
run as the owner. ``grant`` (``manage.py grant_app_role ROLE``, run by the
owner after every ``migrate``) gives that role exactly the privileges below;
``powers_over_the_trail`` names what a role holds beyond them, for that
command and for ``manage.py check --deploy --database default``.

PostgreSQL only: SQLite has no roles.
"""

from django.db.backends.base.base import BaseDatabaseWrapper

from .models import AuditChainHead, AuditEvent

AUDIT_TABLES = (AuditEvent._meta.db_table, AuditChainHead._meta.db_table)

#: What the app does with the tables of its models.
READ_WRITE = ("SELECT", "INSERT", "UPDATE", "DELETE")

#: The tables the app uses with fewer privileges than READ_WRITE.
TABLE_PRIVILEGES: dict[str, tuple[str, ...]] = {
    # Append only: audit.record inserts events and reads the chain; nothing changes or removes one.
    AuditEvent._meta.db_table: ("SELECT", "INSERT"),
    # audit.record locks the one head row (SELECT ... FOR UPDATE) and moves it forward.
    # Migration cases.0002 created the row, so the app never inserts one.
    AuditChainHead._meta.db_table: ("SELECT", "UPDATE"),
    # Which migrations have run: the app may read it; only the owner migrates.
    "django_migrations": ("SELECT",),
}

#: Every privilege PostgreSQL knows on a table (before version 17's MAINTAIN).
TABLE_PRIVILEGE_TYPES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


def privileges_by_table(connection: BaseDatabaseWrapper) -> dict[str, tuple[str, ...]]:
    """The privileges the app role gets on each table of the app that exists in the database."""
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    existing = set(connection.introspection.table_names())
    tables += [table for table in TABLE_PRIVILEGES if table in existing and table not in tables]
    return {table: TABLE_PRIVILEGES.get(table, READ_WRITE) for table in sorted(tables)}


def grant(connection: BaseDatabaseWrapper, role: str) -> dict[str, tuple[str, ...]]:
    """Give ``role`` exactly the privileges the app needs, taking back any others it holds; return them per table.

    Run as the owner of the tables, inside a transaction. Idempotent: run it
    again after each ``migrate``, so that new tables are covered.
    """
    tables = privileges_by_table(connection)
    with connection.cursor() as cursor:
        cursor.execute("SELECT quote_ident(%s), quote_ident(current_database()), quote_ident(current_schema())", [role])
        grantee, database, schema = cursor.fetchone()
        statements = [
            f"GRANT CONNECT ON DATABASE {database} TO {grantee}",
            # A temporary table or a schema of the role's own named like an audit table would stand in
            # for it inside the chain head trigger's check, for the role's sessions.
            f"REVOKE CREATE, TEMPORARY ON DATABASE {database} FROM PUBLIC, {grantee}",
            f"REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC, {grantee}",
            f"GRANT USAGE ON SCHEMA {schema} TO {grantee}",
            f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {grantee}",
            f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {grantee}",
        ]
        for table, privileges in tables.items():
            statements.append(f"GRANT {', '.join(privileges)} ON TABLE {connection.ops.quote_name(table)} TO {grantee}")
            if "INSERT" in privileges:  # serial columns need their sequence; identity columns do not
                for sequence in connection.introspection.get_sequences(cursor, table):
                    statements.append(
                        f"GRANT USAGE ON SEQUENCE {connection.ops.quote_name(sequence['name'])} TO {grantee}"
                    )
        for statement in statements:
            cursor.execute(statement)
    return tables


def beyond_grants(connection: BaseDatabaseWrapper, role: str) -> str | None:
    """Why no grant or revoke can keep ``role`` off the triggers, or None.

    A superuser passes every privilege check and may skip the triggers
    (``session_replication_role``); the owner of the audit tables, or a
    member of it, may switch them off or drop the tables.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role])
        (superuser,) = cursor.fetchone()
        if superuser:
            return "is a superuser: it can skip the triggers (session_replication_role) and switch them off"
        cursor.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class "
            "WHERE oid = ANY(%s::regclass[]) AND pg_has_role(%s, relowner, 'MEMBER')",
            [list(AUDIT_TABLES), role],
        )
        owner = cursor.fetchone()
    if owner is None:
        return None
    if owner[0] == role:
        return "owns the audit tables: it can switch their triggers off or drop them"
    return f"can act as {owner[0]}, the audit tables' owner: it can switch their triggers off or drop them"


def powers_over_the_trail(connection: BaseDatabaseWrapper, role: str) -> list[str]:
    """What ``role`` holds that would let it switch the audit tables' triggers off or get round them.

    Empty for a role prepared by ``grant``. Each entry completes the sentence
    "``role`` ...".
    """
    above = beyond_grants(connection, role)
    if above is not None:
        return [above]
    powers = []
    with connection.cursor() as cursor:
        if connection.pg_version >= 150000:  # before 15 only superusers may
            cursor.execute("SELECT has_parameter_privilege(%s, 'session_replication_role', 'SET')", [role])
            if cursor.fetchone()[0]:
                powers.append("may set session_replication_role, which skips the triggers")
        cursor.execute(
            "SELECT has_database_privilege(%s, current_database(), 'TEMPORARY') "
            "OR has_database_privilege(%s, current_database(), 'CREATE')",
            [role, role],
        )
        if cursor.fetchone()[0]:
            powers.append(
                "may create temporary tables or schemas, whose tables named like the audit tables would stand in "
                "for them in the chain head trigger's check"
            )
        for table in AUDIT_TABLES:
            cursor.execute(
                "SELECT privilege FROM unnest(%s::text[]) AS privilege WHERE has_table_privilege(%s, %s, privilege)",
                [list(TABLE_PRIVILEGE_TYPES), role, table],
            )
            extra = [privilege for (privilege,) in cursor.fetchall() if privilege not in TABLE_PRIVILEGES[table]]
            if extra:
                powers.append(f"holds {', '.join(extra)} on {table}")
    return powers
