"""The app's database role does the app's work and cannot switch the audit trail's triggers off or get round them.

A superuser skips ordinary triggers (``SET session_replication_role =
replica``) and the audit tables' owner can disable or drop them, so the web
and workers log in as a plain role prepared by ``manage.py grant_app_role``
(docker-compose.yml's ``forensics_app``). Each test makes such a role with a
name of its own, logs in as it like the deployment does, and drops it.
"""

import contextlib
import io
import secrets
from dataclasses import dataclass

import psycopg2.errorcodes
import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, ProgrammingError, connection, transaction
from django.urls import reverse

from audit import integrity, privileges, trail
from audit.models import AuditChainHead, AuditEvent
from cases.models import Case, CaseMembership

from .factories import PASSWORD

Action = AuditEvent.Action

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="database roles and privileges are PostgreSQL's: SQLite has neither (set DATABASE_URL)",
    ),
    # The grants must be committed for the role's own connection to see them.
    pytest.mark.django_db(transaction=True),
]


@dataclass(frozen=True)
class Role:
    name: str
    password: str


@contextlib.contextmanager
def new_role(*options: str):
    """A login role with a name no other test run uses, dropped with whatever was granted to it."""
    role = Role(f"forensics_app_test_{secrets.token_hex(6)}", secrets.token_urlsafe(24))
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role.name} LOGIN {' '.join(options)} PASSWORD %s", [role.password])
    try:
        yield role
    finally:
        connection.close()  # whatever the test did, drop it as the owner
        with connection.cursor() as cursor:
            cursor.execute(f"DROP OWNED BY {role.name}")
            cursor.execute(f"DROP ROLE {role.name}")


@pytest.fixture
def app_role():
    """A plain role (NOSUPERUSER NOCREATEDB NOCREATEROLE) given what the app needs by ``grant_app_role``."""
    # Migration cases.0002 makes the chain head; an earlier transactional test's flush may have removed it.
    AuditChainHead.objects.get_or_create(pk=1, defaults={"hash": trail.GENESIS_HASH})
    with new_role("NOSUPERUSER", "NOCREATEDB", "NOCREATEROLE", "NOINHERIT") as role:
        call_command("grant_app_role", role.name, stdout=io.StringIO())
        yield role


@contextlib.contextmanager
def connected_as(role: Role):
    """Log the default connection in as ``role`` for the block, as the deployed web and workers do."""
    owner = {key: connection.settings_dict[key] for key in ("USER", "PASSWORD")}
    connection.close()
    connection.settings_dict.update(USER=role.name, PASSWORD=role.password)
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(owner)


def audit_table_owner() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'cases_auditevent'::regclass")
        return cursor.fetchone()[0]


def privileges_of(role: str) -> list[str]:
    """Every privilege granted to ``role`` on a table, sequence or the database, by name."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname || ': ' || privilege_type FROM pg_class, aclexplode(relacl) WHERE grantee = %s::regrole "
            "UNION ALL SELECT datname || ': ' || privilege_type FROM pg_database, aclexplode(datacl) "
            "WHERE grantee = %s::regrole",
            [role, role],
        )
        return [row for (row,) in cursor.fetchall()]


def refusal(sql: str):
    """The error PostgreSQL answers ``sql`` with, or None when it runs."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    except DatabaseError as error:
        return error.__cause__
    return None


def refused_for_lack_of_privilege(error) -> bool:
    """Refused by PostgreSQL's privilege checks, not by the append-only triggers (which also say 42501)."""
    return (
        error is not None
        and error.pgcode == psycopg2.errorcodes.INSUFFICIENT_PRIVILEGE
        and "PL/pgSQL" not in (error.diag.context or "")
    )


def test_the_app_role_logs_in_works_on_a_case_and_writes_an_intact_audit_chain(app_role, client, lead, outsider):
    with connected_as(app_role):
        with connection.cursor() as cursor:
            cursor.execute("SELECT session_user, current_user")
            assert cursor.fetchone() == (app_role.name, app_role.name)

        assert client.post(reverse("login"), {"username": "lead", "password": "wrong"}).status_code == 200
        assert client.post(reverse("login"), {"username": "lead", "password": PASSWORD}).status_code == 302
        opened = client.post(reverse("case_create"), {"reference": "2026-CID-0500", "title": "Bag snatch"})
        assert opened.status_code == 302
        case = Case.objects.get(reference="2026-CID-0500")
        assert client.get(reverse("case_detail", args=[case.pk])).status_code == 200
        member = {"username": outsider.username, "role": CaseMembership.Role.INVESTIGATOR}
        assert client.post(reverse("membership_grant", args=[case.pk]), member).status_code == 302
        assert client.post(reverse("membership_revoke", args=[case.pk, outsider.pk])).status_code == 302
        assert client.post(reverse("logout")).status_code == 302
        call_command("recover_composites", stdout=io.StringIO())  # what beat has the worker do
        call_command("verify_audit", stdout=io.StringIO())

    assert list(AuditEvent.objects.values_list("action", flat=True)) == [
        Action.LOGIN_FAILED,
        Action.LOGIN_SUCCEEDED,
        Action.CASE_CREATED,
        Action.MEMBERSHIP_GRANTED,
        Action.MEMBERSHIP_REVOKED,
        Action.LOGOUT,
        Action.AUDIT_VERIFIED,
    ]
    report = integrity.verify_chain()
    assert report.intact and report.protected


def test_the_app_role_cannot_switch_the_audit_triggers_off_or_get_round_them(app_role, lead):
    trail.record(Action.LOGIN_SUCCEEDED, user=lead)
    owner = audit_table_owner()
    attempts = [
        "SET session_replication_role = replica",
        f"SET ROLE {owner}",
        "ALTER ROLE CURRENT_USER SUPERUSER",
        "ALTER TABLE cases_auditevent DISABLE TRIGGER cases_auditevent_append_only",
        "ALTER TABLE cases_auditevent DISABLE TRIGGER ALL",
        "ALTER TABLE cases_auditevent ENABLE REPLICA TRIGGER cases_auditevent_append_only",
        "ALTER TABLE cases_auditchainhead DISABLE TRIGGER cases_auditchainhead_forward_only",
        "DROP TRIGGER cases_auditevent_append_only ON cases_auditevent",
        "CREATE OR REPLACE FUNCTION cases_audit_append_only() RETURNS trigger LANGUAGE plpgsql "
        "AS $$ BEGIN RETURN NEW; END $$",
        "CREATE TRIGGER sneak BEFORE INSERT ON cases_auditevent "
        "FOR EACH ROW EXECUTE FUNCTION cases_audit_append_only()",
        "UPDATE cases_auditevent SET username = 'someone-else'",
        "DELETE FROM cases_auditevent",
        "TRUNCATE cases_auditevent CASCADE",
        "DELETE FROM cases_auditchainhead",
        "TRUNCATE cases_auditchainhead",
        "INSERT INTO cases_auditchainhead (id, sequence, hash) VALUES (1, 0, 'genesis')",
        "ALTER TABLE cases_auditevent RENAME TO cases_auditevent_old",
        "DROP TABLE cases_auditevent CASCADE",
        "DROP TABLE cases_auditchainhead",
        # A table of its own named like the events would stand in for them in the chain head trigger.
        "CREATE TEMPORARY TABLE cases_auditevent (sequence bigint, hash varchar(64))",
        f"CREATE SCHEMA {app_role.name}",
        "CREATE TABLE public.sneak (id integer)",
    ]

    with connected_as(app_role):
        answers = {sql: refusal(sql) for sql in attempts}

    allowed = [sql for sql, error in answers.items() if not refused_for_lack_of_privilege(error)]
    assert allowed == [], {sql: str(answers[sql]) for sql in allowed}
    assert integrity.missing_append_only_triggers() == []
    assert list(AuditEvent.objects.values_list("username", flat=True)) == ["lead"]
    assert integrity.verify_chain().intact


def test_grant_app_role_takes_back_privileges_beyond_what_the_app_needs(app_role):
    with connection.cursor() as cursor:
        cursor.execute(f"GRANT ALL ON cases_auditevent, cases_auditchainhead TO {app_role.name}")
        cursor.execute(f"GRANT TEMPORARY ON DATABASE {connection.settings_dict['NAME']} TO {app_role.name}")
    assert privileges.powers_over_the_trail(connection, app_role.name) != []

    call_command("grant_app_role", app_role.name, stdout=io.StringIO())

    assert privileges.powers_over_the_trail(connection, app_role.name) == []


def test_grant_app_role_refuses_a_role_that_public_lets_alter_the_trail(app_role):
    with connection.cursor() as cursor:
        cursor.execute("GRANT DELETE ON cases_auditevent TO PUBLIC")
    try:
        with pytest.raises(CommandError, match="holds DELETE on cases_auditevent, through PUBLIC"):
            call_command("grant_app_role", app_role.name)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("REVOKE DELETE ON cases_auditevent FROM PUBLIC")


@pytest.mark.parametrize(
    "options, reason",
    [("SUPERUSER", "is a superuser"), ("IN ROLE {owner}", "can act as {owner}, the audit tables' owner")],
    ids=["superuser", "member-of-the-owner"],
)
def test_grant_app_role_refuses_a_role_no_grant_can_keep_off_the_triggers(options, reason):
    owner = audit_table_owner()
    with new_role(options.format(owner=owner)) as role:
        with pytest.raises(CommandError, match=reason.format(owner=owner)):
            call_command("grant_app_role", role.name)

        assert not privileges_of(role.name)


def test_grant_app_role_refuses_a_role_that_does_not_exist():
    with pytest.raises(CommandError, match="There is no role forensics_app_never_created"):
        call_command("grant_app_role", "forensics_app_never_created")


def test_check_deploy_warns_when_the_app_connects_as_a_superuser_or_the_owner(app_role):
    def warnings() -> list[str]:
        found = checks.run_checks(tags=[checks.Tags.database], include_deployment_checks=True, databases=["default"])
        return [message.id for message in found]

    assert "audit.W001" in warnings()  # the tests' own connection: a superuser, or the tables' owner
    with connected_as(app_role):
        assert "audit.W001" not in warnings()


def test_a_temporary_table_cannot_stand_in_for_the_audit_table(app_role):
    """Even for a role that may create temporary tables, the chain head's trigger reads the real
    ``cases_auditevent``: its function's ``search_path`` is pinned (``audit.0004``)."""
    with connection.cursor() as cursor:
        cursor.execute(f"GRANT TEMPORARY ON DATABASE {connection.settings_dict['NAME']} TO {app_role.name}")
    head = AuditChainHead.objects.get(pk=1)
    with connected_as(app_role), connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE cases_auditevent (sequence bigint, hash varchar(64))")
        cursor.execute("INSERT INTO cases_auditevent VALUES (%s, %s)", [head.sequence + 1, "f" * 64])
        with pytest.raises(ProgrammingError, match="only moves forward by one"), transaction.atomic():
            cursor.execute("UPDATE cases_auditchainhead SET sequence = sequence + 1, hash = %s", ["f" * 64])
    head.refresh_from_db()
    assert head.hash != "f" * 64
