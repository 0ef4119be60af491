"""``manage.py grant_app_role ROLE``: give the role the web and workers log in as exactly what the app needs.

Run it as the owner of the tables (the role that runs ``migrate``), after
every ``migrate``, so new tables are covered; docker-compose.yml's
``migrate`` service does both. ROLE must already exist, log in, and be
neither a superuser nor able to act as the owner: those could switch the
audit trail's triggers off whatever is granted.

ROLE gets CONNECT on the database, USAGE on the schema, SELECT, INSERT,
UPDATE and DELETE on the app's tables, and on the audit trail only what
``audit.record`` does: SELECT and INSERT on the events, SELECT and UPDATE
on the chain head (``audit.privileges.TABLE_PRIVILEGES``). Privileges
beyond those are revoked from it, and temporary tables and new schemas from
everyone (PUBLIC). Nothing is changed unless all of it succeeds.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from audit import privileges


class Command(BaseCommand):
    help = "Grant the app's database role (not a superuser, not the owner) what the app needs, and nothing more."

    def add_arguments(self, parser) -> None:
        parser.add_argument("role", help="The role the web and workers log in as, e.g. forensics_app.")
        parser.add_argument(
            "--database", default=DEFAULT_DB_ALIAS, help="The database to grant on (default: %(default)s)."
        )

    def handle(self, *args, role: str, database: str, **options) -> None:
        connection = connections[database]
        if connection.vendor != "postgresql":
            raise CommandError(
                f"grant_app_role is for PostgreSQL; this database is {connection.vendor}, which has no roles."
            )
        with transaction.atomic(using=database):
            with connection.cursor() as cursor:
                cursor.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", [role])
                found = cursor.fetchone()
            if found is None:
                raise CommandError(
                    f"There is no role {role}. Create it first (README, Deploying). Nothing was changed."
                )
            above = privileges.beyond_grants(connection, role)
            if above is not None:
                raise CommandError(
                    f"{role} {above}. The app must log in as a plain role (NOSUPERUSER, not a member of the "
                    "owner); no grant can take that back. Nothing was changed."
                )
            tables = privileges.grant(connection, role)
            left = privileges.powers_over_the_trail(connection, role)
            if left:
                raise CommandError(
                    f"{role} still {'; '.join(left)}, through PUBLIC or a role it belongs to: revoke it there. "
                    "Nothing was changed."
                )
        if not found[0]:
            self.stderr.write(f"Note: {role} cannot log in (NOLOGIN); the app connects with a role that can.")
        narrowed = [table for table in tables if tables[table] != privileges.READ_WRITE]
        self.stdout.write(
            f"Granted {role} {', '.join(privileges.READ_WRITE)} on {len(tables) - len(narrowed)} tables; "
            + "; ".join(f"{', '.join(tables[table])} on {table}" for table in narrowed)
            + "."
        )
