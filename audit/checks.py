"""``manage.py check --deploy --database default`` warns when the app's database role could undo the audit trail's
protection: a superuser, the audit tables' owner, or a role holding more than ``grant_app_role`` gives it."""

from django.core import checks
from django.db import connections

from . import privileges


@checks.register(checks.Tags.database, checks.Tags.security, deploy=True)
def check_app_database_role(app_configs=None, databases=None, **kwargs) -> list[checks.CheckMessage]:
    messages = []
    for alias in databases or ():
        connection = connections[alias]
        if connection.vendor != "postgresql":
            continue
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            (role,) = cursor.fetchone()
        powers = privileges.powers_over_the_trail(connection, role)
        if powers:
            messages.append(
                checks.Warning(
                    f"The app connects to database {alias!r} as {role}, which {'; and '.join(powers)}.",
                    hint="Run the web and workers as a plain role prepared by `manage.py grant_app_role ROLE`, "
                    "and only migrations as the owner (README, Deploying).",
                    id="audit.W001",
                )
            )
    return messages
