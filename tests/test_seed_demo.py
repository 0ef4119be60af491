"""``seed_demo``: demo users and a demo case on a laptop, never on a real installation."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from cases.models import Case, CaseMembership

NOT_PRODUCTION = "--i-know-this-is-not-production"


@pytest.fixture
def debug(settings):
    """DEBUG on, as `make run` sets it (tests run with DEBUG off)."""
    settings.DEBUG = True


@pytest.mark.parametrize("arguments", [[], ["--if-empty"]])
def test_seed_demo_refuses_to_run_with_debug_off_and_changes_nothing(db, settings, arguments):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="runs only with DEBUG=1") as refused:
        call_command("seed_demo", *arguments, stdout=StringIO())

    assert NOT_PRODUCTION in str(refused.value)
    assert not get_user_model().objects.exists()
    assert not Case.objects.exists()
    assert not AuditEvent.objects.exists()


def test_seed_demo_runs_with_debug_off_when_told_this_is_not_production(db, settings):
    settings.DEBUG = False

    call_command("seed_demo", NOT_PRODUCTION, stdout=StringIO())

    assert get_user_model().objects.get(username="admin").is_superuser


def test_seed_demo_as_make_run_calls_it_seeds_an_empty_database(db, debug):
    out = StringIO()

    call_command("seed_demo", "--if-empty", stdout=out)

    assert Case.objects.get().reference == "DEMO-0001"
    assert "admin-console-2" in out.getvalue()


def test_seed_demo_is_idempotent_and_prints_the_logins(db, debug):
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


def test_seed_demo_users_can_log_in(client, db, debug):
    call_command("seed_demo", stdout=StringIO())

    assert client.login(username="artist", password="charcoal-lines-7")


def test_seed_demo_leaves_a_database_with_real_users_alone(db, debug):
    get_user_model().objects.create_user("real.officer", password="x" * 16)

    out = StringIO()
    call_command("seed_demo", "--if-empty", stdout=out)

    assert "no demo data added" in out.getvalue()
    assert not Case.objects.exists()
    assert not get_user_model().objects.filter(username="artist").exists()


def test_seed_demo_records_the_case_and_its_memberships_in_the_audit_trail(db, debug):
    call_command("seed_demo", stdout=StringIO())

    assert list(AuditEvent.objects.values_list("action", "username")) == [
        (AuditEvent.Action.CASE_CREATED, "lead"),
        (AuditEvent.Action.MEMBERSHIP_GRANTED, "lead"),
        (AuditEvent.Action.MEMBERSHIP_GRANTED, "lead"),
    ]
