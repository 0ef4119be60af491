"""Who may do what. Every view, API endpoint and domain function asks here.

Access is deny-by-default and per case: a user's role on a case
(``CaseMembership.Role``) grants abilities on that case alone. A user who is
not a member cannot learn that a case exists: ``get_case_for`` answers 404,
exactly as for an id that was never used, and records the denial.

Global roles are Django groups: ``Forensic artist`` and ``Investigator`` may
open cases, ``Auditor`` reads the audit trail. Superusers (admins) manage
cases and memberships but do not handle evidence unless they are members.
"""

from enum import StrEnum

from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpRequest

from accounts.roles import GlobalRole
from audit.trail import record_denial

from .models import Case, CaseMembership


class Ability(StrEnum):
    VIEW_CASE = "view_case"
    EDIT_CASE = "edit_case"  # title, description, close, reopen, archive
    MANAGE_MEMBERS = "manage_members"
    UPLOAD_SKETCH = "upload_sketch"
    REQUEST_COMPOSITE = "request_composite"
    COMPARE = "compare"
    RELEASE_COMPOSITE = "release_composite"
    EXPORT_CASE = "export_case"
    ADD_CANDIDATE_PHOTO = "add_candidate_photo"  # a suspect's photo, set beside composites
    MAKE_MORPH = "make_morph"  # average finished composites of several witnesses (cases.morphs)


Role = CaseMembership.Role

ROLE_ABILITIES: dict[str, frozenset[Ability]] = {
    Role.FORENSIC_ARTIST: frozenset(
        {Ability.VIEW_CASE, Ability.UPLOAD_SKETCH, Ability.REQUEST_COMPOSITE, Ability.COMPARE}
    ),
    Role.INVESTIGATOR: frozenset(
        {
            Ability.VIEW_CASE,
            Ability.COMPARE,
            Ability.RELEASE_COMPOSITE,
            Ability.EXPORT_CASE,
            Ability.ADD_CANDIDATE_PHOTO,
            Ability.MAKE_MORPH,
        }
    ),
    Role.CASE_LEAD: frozenset(Ability),
}
ADMIN_ABILITIES = frozenset({Ability.VIEW_CASE, Ability.EDIT_CASE, Ability.MANAGE_MEMBERS})

# Abilities that add evidence or change it; only an open case accepts them.
OPEN_CASE_ONLY = frozenset(
    {
        Ability.UPLOAD_SKETCH,
        Ability.REQUEST_COMPOSITE,
        Ability.RELEASE_COMPOSITE,
        Ability.ADD_CANDIDATE_PHOTO,
        Ability.MAKE_MORPH,
    }
)


def abilities(user, case: Case) -> frozenset[Ability]:
    """Everything ``user`` may do on ``case`` in its current status."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    granted = set()
    role = case.role_of(user)
    if role is not None:
        granted |= ROLE_ABILITIES[role]
    if user.is_superuser:
        granted |= ADMIN_ABILITIES
    if case.status != Case.Status.OPEN:
        granted -= OPEN_CASE_ONLY
    if case.status == Case.Status.ARCHIVED:
        granted.discard(Ability.EDIT_CASE)
    return frozenset(granted)


def can(user, ability: Ability, case: Case) -> bool:
    return ability in abilities(user, case)


def can_create_case(user) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    return (
        user.is_superuser or user.groups.filter(name__in=[GlobalRole.FORENSIC_ARTIST, GlobalRole.INVESTIGATOR]).exists()
    )


def get_case_for(user, pk, request: HttpRequest | None = None, ability: Ability = Ability.VIEW_CASE) -> Case:
    """The case ``pk`` if ``user`` may exercise ``ability`` on it.

    Raises ``Http404`` when the user may not see the case (whether or not
    it exists) and ``PermissionDenied`` when a member lacks the ability.
    Either way the denial is audited. Call it before opening a transaction,
    so that the denial's audit event is committed and not rolled back with
    the request's work.
    """
    try:
        case_id = int(pk)
    except (TypeError, ValueError):
        case_id = None
    case = None
    if case_id is not None and user.is_authenticated:
        role = CaseMembership.objects.filter(case=OuterRef("pk"), user=user).values("role")[:1]
        cases = Case.objects.visible_to(user).filter(pk=case_id).select_related("created_by")
        case = cases.annotate(reader_role=Subquery(role)).first()
    if case is not None:
        case.know_role(user, case.reader_role)
    else:
        record_denial(
            user,
            request,
            case=Case.objects.filter(pk=case_id).first() if case_id is not None else None,
            object_id=str(pk)[:64],
            ability=ability,
            reason="not_member",
        )
        raise Http404("No case found.")
    require(user, ability, case, request)
    return case


def require(user, ability: Ability, case: Case, request: HttpRequest | None = None) -> None:
    """Raise ``PermissionDenied`` (audited) unless ``user`` may exercise ``ability`` on ``case``."""
    if not can(user, ability, case):
        record_denial(user, request, case=case, object_id=str(case.pk), ability=ability, reason="role")
        raise PermissionDenied(f"Your role on case {case.reference} does not allow this.")
