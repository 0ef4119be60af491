"""The case list, opening a case, the case page and its members."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from cases.models import Case, CaseMembership

from .factories import CaseFactory, MembershipFactory
from .web import add_sketch, done_composite, finish

Action = AuditEvent.Action
Role = CaseMembership.Role


def test_anonymous_visitors_are_sent_to_log_in(client, case):
    for url in (reverse("case_list"), reverse("case_detail", args=[case.pk]), reverse("case_create")):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_case_list_shows_only_the_users_cases(client, case, artist):
    CaseFactory(reference="2026-CID-9999", title="Someone else's case")
    client.force_login(artist)
    response = client.get(reverse("case_list"))
    assert response.status_code == 200
    assert b"2026-CID-0042" in response.content
    assert b"2026-CID-9999" not in response.content


def test_case_list_searches_reference_and_title(client, artist, case):
    other = CaseFactory(reference="2026-CID-0100", title="Burglary at the mill")
    MembershipFactory(case=other, user=artist, role=Role.FORENSIC_ARTIST)
    client.force_login(artist)
    by_title = client.get(reverse("case_list"), {"q": "mill"}).content
    assert b"2026-CID-0100" in by_title and b"2026-CID-0042" not in by_title
    by_reference = client.get(reverse("case_list"), {"q": "0042"}).content
    assert b"2026-CID-0042" in by_reference and b"2026-CID-0100" not in by_reference
    assert b"No case of yours matches" in client.get(reverse("case_list"), {"q": "nothing"}).content


def test_artist_opens_a_case_and_becomes_its_lead(client, artist, audit_log):
    client.force_login(artist)
    assert client.get(reverse("case_create")).status_code == 200
    audit_log.mark()
    response = client.post(reverse("case_create"), {"reference": "2026-CID-0077", "title": "Bag snatch"})
    case = Case.objects.get(reference="2026-CID-0077")
    assert response.status_code == 302 and response.url == reverse("case_detail", args=[case.pk])
    assert CaseMembership.objects.get(case=case, user=artist).role == Role.CASE_LEAD
    assert [e.action for e in audit_log.new()] == [Action.CASE_CREATED]


def test_duplicate_reference_is_refused_with_a_message(client, artist, case):
    client.force_login(artist)
    response = client.post(reverse("case_create"), {"reference": case.reference, "title": "Again"})
    assert response.status_code == 400
    assert b"already exists" in response.content


def test_auditor_may_not_open_cases(client, auditor, audit_log):
    client.force_login(auditor)
    response = client.get(reverse("case_create"))
    assert response.status_code == 403
    assert b"does not allow opening cases" in response.content
    assert audit_log.new()[-1].action == Action.ACCESS_DENIED


@pytest.mark.parametrize("role", ["lead", "artist", "investigator", "admin"])
def test_members_and_admins_see_the_case_page(client, case, role, request):
    client.force_login(request.getfixturevalue(role))
    response = client.get(reverse("case_detail", args=[case.pk]))
    assert response.status_code == 200
    assert b"Street robbery" in response.content


@pytest.mark.parametrize("role", ["outsider", "auditor"])
def test_non_members_get_404_and_the_attempt_is_audited(client, case, role, request, audit_log):
    client.force_login(request.getfixturevalue(role))
    response = client.get(reverse("case_detail", args=[case.pk]))
    assert response.status_code == 404
    assert b"Street robbery" not in response.content
    assert audit_log.new()[-1].action == Action.ACCESS_DENIED


def test_case_page_shows_a_timeline_of_sketches_revisions_and_composites(client, case, artist, investigator):
    first = add_sketch(case, artist, seed=1)
    revision = add_sketch(case, artist, seed=2, revises=first)
    done_composite(revision, artist)
    client.force_login(investigator)
    content = client.get(reverse("case_detail", args=[case.pk])).content.decode()
    assert f"Sketch {first.pk} uploaded" in content
    assert f"revising sketch {first.pk}" in content
    assert "composite" in content and "finished" in content


def test_actions_follow_the_role(client, case, artist, investigator):
    client.force_login(artist)
    content = client.get(reverse("case_detail", args=[case.pk])).content.decode()
    assert "Upload a sketch" in content and "Export case bundle" not in content
    client.force_login(investigator)
    content = client.get(reverse("case_detail", args=[case.pk])).content.decode()
    assert "Upload a sketch" not in content and "Export case bundle" in content
    assert "Add a member" not in content


def test_lead_grants_and_revokes_membership(client, case, lead, outsider, audit_log):
    client.force_login(lead)
    audit_log.mark()
    response = client.post(
        reverse("membership_grant", args=[case.pk]), {"username": "outsider", "role": Role.INVESTIGATOR}
    )
    assert response.status_code == 302
    assert CaseMembership.objects.get(case=case, user=outsider).role == Role.INVESTIGATOR
    response = client.post(reverse("membership_revoke", args=[case.pk, outsider.pk]))
    assert response.status_code == 302
    assert not CaseMembership.objects.filter(case=case, user=outsider).exists()
    assert [e.action for e in audit_log.new()] == [Action.MEMBERSHIP_GRANTED, Action.MEMBERSHIP_REVOKED]


def test_the_case_pages_kept_sections_follow_membership_and_candidate_changes(client, case, lead, outsider):
    """The members list, candidate photos and form fields are kept rendered (#13): a change shows at once,
    and each Remove button posts the page's one CSRF-carrying members form to that member's address."""
    import io

    from cases import services

    from .web import face_png

    client.force_login(lead)
    page = reverse("case_detail", args=[case.pk])
    content = client.get(page).content.decode()
    assert "outsider" not in content and "Candidate photos" not in content
    client.post(reverse("membership_grant", args=[case.pk]), {"username": "outsider", "role": Role.INVESTIGATOR})
    services.add_candidate_photo(case, io.BytesIO(face_png(3)), user=lead, label="Custody record 2026/77")
    content = client.get(page).content.decode()
    revoke = reverse("membership_revoke", args=[case.pk, outsider.pk])
    assert f'form="members-form" formaction="{revoke}"' in content
    members_form = (
        '<form method="post" id="members-form" class="inline"><input type="hidden" name="csrfmiddlewaretoken"'
    )
    assert members_form in content
    assert "Custody record 2026/77" in content and 'name="username"' in content
    assert client.post(revoke).status_code == 302
    content = client.get(page).content.decode()
    assert revoke not in content and "<span>outsider <span" not in content
    client.force_login(outsider)  # the same case for a member who may not manage it: no buttons, no form
    MembershipFactory(case=case, user=outsider, role=Role.INVESTIGATOR)
    content = client.get(page).content.decode()
    assert "members-form" not in content and "Remove" not in content and "<span>outsider <span" in content


def test_unknown_user_and_last_lead_are_explained(client, case, lead):
    client.force_login(lead)
    response = client.post(
        reverse("membership_grant", args=[case.pk]), {"username": "nobody", "role": Role.INVESTIGATOR}, follow=True
    )
    assert "There is no active user called" in response.content.decode()
    response = client.post(reverse("membership_revoke", args=[case.pk, lead.pk]), follow=True)
    assert "at least one case lead" in response.content.decode()
    assert CaseMembership.objects.filter(case=case, user=lead).exists()


def test_artist_may_not_manage_members_and_outsider_gets_404(client, case, artist, outsider):
    client.force_login(artist)
    data = {"username": "outsider", "role": Role.INVESTIGATOR}
    assert client.post(reverse("membership_grant", args=[case.pk]), data).status_code == 403
    client.force_login(outsider)
    assert client.post(reverse("membership_grant", args=[case.pk]), data).status_code == 404
    assert client.get(reverse("membership_grant", args=[case.pk])).status_code in (404, 405)


def test_lead_closes_and_reopens_the_case(client, case, lead, audit_log):
    client.force_login(lead)
    assert "Change status" in client.get(reverse("case_detail", args=[case.pk])).content.decode()
    audit_log.mark()
    response = client.post(reverse("case_status", args=[case.pk]), {"status": "closed", "reason": "Charged"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == Case.Status.CLOSED
    page = client.get(reverse("case_detail", args=[case.pk])).content.decode()
    assert "Upload a sketch" not in page and "Reopen" in page
    client.post(reverse("case_status", args=[case.pk]), {"status": "open"})
    case.refresh_from_db()
    assert case.status == Case.Status.OPEN
    assert [e.action for e in audit_log.new()] == [Action.CASE_CLOSED, Action.CASE_REOPENED]


def test_status_changes_need_the_role_and_a_valid_transition(client, case, lead, investigator):
    client.force_login(investigator)
    assert client.post(reverse("case_status", args=[case.pk]), {"status": "closed"}).status_code == 403
    client.force_login(lead)
    response = client.post(reverse("case_status", args=[case.pk]), {"status": "open"}, follow=True)
    assert "Select a valid choice" in response.content.decode()


def test_a_failed_login_says_why(client, artist):
    response = client.post(reverse("login"), {"username": "artist", "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_case_page_shows_a_page_of_originals_each_with_its_revisions(client, case, artist, monkeypatch, audit_log):
    """A large case is shown a few originals at a time, newest first; a revision is never split from its original."""
    from cases.views import cases as case_views

    monkeypatch.setattr(case_views, "SKETCH_GROUPS_PER_PAGE", 2)
    first = add_sketch(case, artist, seed=1)
    second = add_sketch(case, artist, seed=2)
    revision = add_sketch(case, artist, seed=3, revises=first)
    third = add_sketch(case, artist, seed=4)
    client.force_login(artist)
    audit_log.mark()
    page_one = client.get(reverse("case_detail", args=[case.pk])).content.decode()
    shown = [pk for pk in (first.pk, second.pk, revision.pk, third.pk) if f'id="sketch-{pk}"' in page_one]
    assert shown == [second.pk, third.pk]
    assert "Originals 1\N{EN DASH}2 of 3, newest first" in page_one and "?page=2" in page_one
    viewed = [e for e in audit_log.new() if e.action == Action.EVIDENCE_VIEWED]
    assert sorted(item["id"] for item in viewed[0].details["items"]) == [second.pk, third.pk]

    page_two = client.get(reverse("case_detail", args=[case.pk]), {"page": 2}).content.decode()
    shown = [pk for pk in (first.pk, second.pk, revision.pk, third.pk) if f'id="sketch-{pk}"' in page_two]
    assert shown == [first.pk, revision.pk]
    assert page_two.index(f'id="sketch-{first.pk}"') < page_two.index(f'id="sketch-{revision.pk}"')
    assert client.get(reverse("case_detail", args=[case.pk]), {"page": "x²"}).status_code == 200


def test_case_page_shows_the_latest_of_its_timeline_and_all_of_it_on_request(client, case, artist, monkeypatch):
    from cases.views import cases as case_views

    monkeypatch.setattr(case_views, "TIMELINE_SHOWN", 2)
    sketches = [add_sketch(case, artist, seed=seed) for seed in (1, 2, 3)]
    client.force_login(artist)
    content = client.get(reverse("case_detail", args=[case.pk])).content.decode()
    assert "The latest 2 of 3 entries" in content and "?timeline=all" in content
    assert f"Sketch {sketches[0].pk} uploaded" not in content and f"Sketch {sketches[2].pk} uploaded" in content
    content = client.get(reverse("case_detail", args=[case.pk]), {"timeline": "all"}).content.decode()
    assert all(f"Sketch {sketch.pk} uploaded" in content for sketch in sketches)
    assert "The latest" not in content


def test_a_sketch_card_shows_its_composites_current_state_after_a_change(client, case, artist):
    """The case page keeps each rendered sketch card; a composite that finishes makes a new card."""
    from cases import services

    sketch = add_sketch(case, artist, seed=1)
    composite, _ = services.request_composite(sketch, "color", user=artist)
    client.force_login(artist)
    before = client.get(reverse("case_detail", args=[case.pk])).content.decode()
    assert "Colour · Requested" in before or "Color · Requested" in before
    finish(composite)
    after = client.get(reverse("case_detail", args=[case.pk])).content.decode()
    assert f"composite {composite.pk}" in after and "· Done" in after and "· Requested" not in after


def test_the_case_list_pages_and_keeps_its_filters(client, artist, monkeypatch):
    from cases.views import cases as case_views

    monkeypatch.setattr(case_views, "CASES_PER_PAGE", 2)
    for n in range(5):
        MembershipFactory(case=CaseFactory(reference=f"2026-CID-10{n}", title=f"Burglary & theft {n}"), user=artist)
    client.force_login(artist)

    first = client.get(reverse("case_list"), {"q": "Burglary & theft"}).content.decode()
    assert first.count("2026-CID-10") == 2 and "Page 1 of 3 (5 cases)" in first
    assert "?q=Burglary+%26+theft&amp;page=2" in first  # the search goes along, encoded
    last = client.get(reverse("case_list"), {"q": "Burglary & theft", "page": 3}).content.decode()
    assert last.count("2026-CID-10") == 1 and 'rel="prev"' in last and 'rel="next"' not in last
    assert client.get(reverse("case_list"), {"page": "9999"}).status_code == 200  # past the end: the last page


def test_kept_fragments_are_keyed_by_the_templates_so_a_release_never_serves_the_old_html(settings, tmp_path):
    from cases.views import cases as case_views

    (tmp_path / "_part.html").write_text("one")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path]}]
    case_views.templates_version.cache_clear()
    try:
        before = case_views.templates_version()
        (tmp_path / "_part.html").write_text("two")
        case_views.templates_version.cache_clear()
        assert case_views.templates_version() != before
    finally:
        case_views.templates_version.cache_clear()
