"""The project is complete and consistent: migrations, system checks, demo data."""

from io import StringIO

from django.contrib.auth.models import Group
from django.core.management import call_command


def test_migrations_are_complete(db):
    call_command("makemigrations", "--check", "--dry-run", stdout=StringIO())


def test_system_checks_pass(db):
    call_command("check", "--fail-level", "WARNING", stdout=StringIO())


def test_global_roles_exist_as_groups(db):
    assert set(Group.objects.values_list("name", flat=True)) >= {"Forensic artist", "Investigator", "Auditor"}
