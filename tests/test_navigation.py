"""The main navigation's role-bound links (Audit log, Galleries): kept a minute in the shared cache
(#13), forgotten as soon as a user's groups, staff flags or gallery grants change."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.roles import GlobalRole
from leads import services

AUDIT_LINK = f'href="{reverse("audit_list")}"'
GALLERIES_LINK = f'href="{reverse("gallery_list")}"'


def menu(client) -> str:
    return client.get(reverse("case_list")).content.decode().split('<nav aria-label="Main">', 1)[1].split("</nav>")[0]


def test_the_links_follow_each_role(client, artist, auditor, admin):
    for user, audit, galleries in ((artist, False, False), (auditor, True, False), (admin, True, True)):
        client.force_login(user)
        shown = menu(client)
        assert (AUDIT_LINK in shown, GALLERIES_LINK in shown) == (audit, galleries), user


def test_a_second_page_asks_the_database_nothing_for_the_links(client, artist):
    client.force_login(artist)
    client.get(reverse("case_list"))
    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("case_list"))
    sql = " ".join(query["sql"] for query in queries.captured_queries)
    assert f"'{GlobalRole.AUDITOR}'" not in sql and "leads_gallerygrant" not in sql
    assert len(queries) <= 6, sql  # session, user, the list, its count, may they open a case


def test_joining_or_leaving_the_auditor_group_shows_at_once(client, artist, django_capture_on_commit_callbacks):
    client.force_login(artist)
    assert AUDIT_LINK not in menu(client)  # now kept

    auditors = Group.objects.get(name=GlobalRole.AUDITOR)
    with django_capture_on_commit_callbacks(execute=True):
        artist.groups.add(auditors)
    assert AUDIT_LINK in menu(client)

    with django_capture_on_commit_callbacks(execute=True):
        auditors.user_set.remove(artist)  # from the group's side, as the admin's group page does
    assert AUDIT_LINK not in menu(client)

    with django_capture_on_commit_callbacks(execute=True):
        auditors.user_set.add(artist)
    assert AUDIT_LINK in menu(client)
    with django_capture_on_commit_callbacks(execute=True):
        auditors.user_set.clear()
    assert AUDIT_LINK not in menu(client)


def test_a_grant_and_its_removal_show_at_once(client, investigator, admin, django_capture_on_commit_callbacks):
    gallery = services.create_gallery(user=admin, name="Custody photos", source="Custody", legal_basis="PACE")
    client.force_login(investigator)
    assert GALLERIES_LINK not in menu(client)

    with django_capture_on_commit_callbacks(execute=True):
        services.grant_search(gallery, investigator.username, user=admin)
    assert GALLERIES_LINK in menu(client)

    with django_capture_on_commit_callbacks(execute=True):
        services.revoke_search(gallery, investigator, user=admin)
    assert GALLERIES_LINK not in menu(client)


@pytest.mark.parametrize("flag", ["is_staff", "is_superuser"])
def test_a_user_made_staff_sees_their_links_at_once(client, investigator, flag, django_capture_on_commit_callbacks):
    client.force_login(investigator)
    assert GALLERIES_LINK not in menu(client)
    setattr(investigator, flag, True)
    with django_capture_on_commit_callbacks(execute=True):
        investigator.save()
    assert GALLERIES_LINK in menu(client)
