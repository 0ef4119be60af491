"""The project is complete and consistent: migrations, system checks, demo data."""

from io import StringIO

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command

from cases.models import AuditEvent, Case, CaseMembership


def test_migrations_are_complete(db):
    call_command("makemigrations", "--check", "--dry-run", stdout=StringIO())


def test_system_checks_pass(db):
    call_command("check", "--fail-level", "WARNING", stdout=StringIO())


def test_global_roles_exist_as_groups(db):
    assert set(Group.objects.values_list("name", flat=True)) >= {"Forensic artist", "Investigator", "Auditor"}


def test_seed_demo_is_idempotent_and_prints_the_logins(db):
    first, second = StringIO(), StringIO()

    call_command("seed_demo", stdout=first)
    counts = (get_user_model().objects.count(), Case.objects.count(), CaseMembership.objects.count())
    events = AuditEvent.objects.count()
    call_command("seed_demo", stdout=second)

    assert (get_user_model().objects.count(), Case.objects.count(), CaseMembership.objects.count()) == counts
    assert AuditEvent.objects.count() == events
    for name in ("artist", "investigator", "lead", "auditor", "admin"):
        assert name in first.getvalue()
    assert first.getvalue() == second.getvalue()


def test_seed_demo_users_can_log_in(client, db):
    call_command("seed_demo", stdout=StringIO())

    assert client.login(username="artist", password="charcoal-lines-7")


def test_seed_demo_leaves_a_database_with_real_users_alone(db):
    get_user_model().objects.create_user("real.officer", password="x" * 16)

    out = StringIO()
    call_command("seed_demo", "--if-empty", stdout=out)

    assert not Case.objects.exists()
    assert not get_user_model().objects.filter(username="artist").exists()


def test_seed_demo_records_the_case_and_its_memberships_in_the_audit_trail(db):
    call_command("seed_demo", stdout=StringIO())

    assert list(AuditEvent.objects.values_list("action", "username")) == [
        (AuditEvent.Action.CASE_CREATED, "lead"),
        (AuditEvent.Action.MEMBERSHIP_GRANTED, "lead"),
        (AuditEvent.Action.MEMBERSHIP_GRANTED, "lead"),
    ]
