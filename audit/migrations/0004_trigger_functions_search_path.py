"""The audit trigger functions look up tables in ``public`` only, never in ``pg_temp``.

``cases_audit_head_forward_only`` reads ``cases_auditevent`` by its bare
name. Without a fixed ``search_path`` a session's temporary table of that
name would be found first (``pg_temp`` is searched before ``public``), and
the chain head could be moved to an event that does not exist. With
``search_path = public, pg_temp`` the real table always wins, whatever
privileges a role holds. SQLite has no schemas or temporary shadowing of this kind.
"""

from django.db import migrations

FUNCTIONS = ("cases_audit_append_only()", "cases_audit_head_forward_only()")


def pin(search_path: str | None):
    def operation(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for function in FUNCTIONS:
            setting = f"SET search_path = {search_path}" if search_path else "RESET search_path"
            schema_editor.execute(f"ALTER FUNCTION {function} {setting}")

    return operation


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_api_token_actions"), ("cases", "0004_audit_append_only")]

    operations = [migrations.RunPython(pin("public, pg_temp"), pin(None))]
