"""Gallery and search operations. Each checks who acts, makes its change and records it, in one transaction.

Imports are in ``leads.imports``; the search itself runs in a worker
(``leads.searching``).
"""

import io

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

import audit
from cases import custody
from cases import services as case_services
from cases.access import Ability, require
from cases.models import CandidatePhoto, Case, WitnessSketch, has_control_characters
from cases.sending import send_after_commit

from .access import SEARCH, get_gallery_for, record_gallery_denial, require_admin
from .models import Gallery, GalleryGrant, GalleryPhoto, LeadResult, LeadSearch, is_admin

Action = audit.Action

#: Shown with every shortlist.
CAVEAT = (
    "These are leads for a person to check, not identifications. A composite is an impression of a face, and "
    "face recognition ranks photos by likeness only: the right person may be missing from the gallery or far "
    "down the list, and the first photos may be of people who merely look alike."
)


def one_line(value: str, what: str, *, max_length: int = 500) -> str:
    """``value`` stripped, or ``ValidationError`` saying what is missing or wrong with it."""
    value = (value or "").strip()
    if not value:
        raise ValidationError(f"Give {what}.")
    if has_control_characters(value):
        raise ValidationError(f"Write {what} on one line, without control characters.")
    if len(value) > max_length:
        raise ValidationError(f"Keep {what} to {max_length} characters.")
    return value


def create_gallery(
    *, user, name: str, source: str, legal_basis: str, description: str = "", request: HttpRequest | None = None
) -> Gallery:
    """Make a gallery (administrators); its maker owns it."""
    require_admin(user, request)
    name = one_line(name, "the gallery a name", max_length=200)
    if not (source or "").strip():
        raise ValidationError("Say where the photos come from.")
    if not (legal_basis or "").strip():
        raise ValidationError("Give the legal basis for searching these photos.")
    with transaction.atomic():
        if Gallery.objects.filter(name=name).exists():
            raise ValidationError("A gallery of that name exists already.")
        gallery = Gallery.objects.create(
            name=name, description=description, source=source.strip(), legal_basis=legal_basis.strip(), owner=user
        )
        audit.record(
            Action.GALLERY_CREATED,
            user=user,
            request=request,
            obj=gallery,
            details={"name": name, "source": gallery.source, "legal_basis": gallery.legal_basis},
        )
    return gallery


def grant_search(gallery: Gallery, username: str, *, user, request: HttpRequest | None = None) -> GalleryGrant:
    """Let the user called ``username`` search ``gallery`` (administrators)."""
    require_admin(user, request, object_id=str(gallery.pk))
    member = get_user_model().objects.filter(username=username, is_active=True).first()
    if member is None:
        raise ValidationError("No active user of that name.")
    with transaction.atomic():
        grant, created = GalleryGrant.objects.get_or_create(gallery=gallery, user=member, defaults={"granted_by": user})
        if created:
            audit.record(
                Action.GALLERY_GRANTED,
                user=user,
                request=request,
                obj=gallery,
                details={"gallery": gallery.name, "member": member.get_username()},
            )
    return grant


def revoke_search(gallery: Gallery, member, *, user, request: HttpRequest | None = None) -> None:
    require_admin(user, request, object_id=str(gallery.pk))
    with transaction.atomic():
        deleted, _ = GalleryGrant.objects.filter(gallery=gallery, user=member).delete()
        if deleted:
            audit.record(
                Action.GALLERY_REVOKED,
                user=user,
                request=request,
                obj=gallery,
                details={"gallery": gallery.name, "member": member.get_username()},
            )


def remove_photo(photo: GalleryPhoto, *, user, reason: str, request: HttpRequest | None = None) -> GalleryPhoto:
    """Leave ``photo`` out of new searches (administrators); the row and file stay for past ones."""
    require_admin(user, request, object_id=str(photo.gallery_id))
    reason = one_line(reason, "a reason for removing this photo")
    with transaction.atomic():
        locked = GalleryPhoto.objects.select_for_update().get(pk=photo.pk)
        if locked.removed_at is not None:
            return locked
        locked.removed_at, locked.removed_by, locked.removal_reason = timezone.now(), user, reason
        locked.save(update_fields=["removed_at", "removed_by", "removal_reason"])
        audit.record(
            Action.GALLERY_PHOTO_REMOVED,
            user=user,
            request=request,
            obj=locked,
            details={"gallery": photo.gallery_id, "sha256": locked.sha256, "reason": reason},
        )
    return locked


def request_search(
    sketch: WitnessSketch,
    gallery_id,
    *,
    user,
    reason: str,
    shortlist_size: int = LeadSearch.DEFAULT_SHORTLIST,
    request: HttpRequest | None = None,
) -> LeadSearch:
    """Search gallery ``gallery_id`` with ``sketch`` and its finished composites; a worker runs it after commit.

    The user needs the COMPARE ability on the sketch's case and a grant of
    the gallery (404, audited, otherwise: the gallery's existence is not told).
    """
    case = sketch.case
    require(user, Ability.COMPARE, case, request)
    gallery = get_gallery_for(user, gallery_id, request, ability=SEARCH)
    reason = one_line(reason, "a reason for this search")
    try:
        shortlist_size = int(shortlist_size)
    except (TypeError, ValueError):
        raise ValidationError("The shortlist size is a whole number.") from None
    if not 1 <= shortlist_size <= LeadSearch.MAX_SHORTLIST:
        raise ValidationError(f"Ask for 1 to {LeadSearch.MAX_SHORTLIST} results.")
    with transaction.atomic():
        search = LeadSearch.objects.create(
            case=case, sketch=sketch, gallery=gallery, requested_by=user, reason=reason, shortlist_size=shortlist_size
        )
        audit.record(
            Action.LEAD_SEARCH_REQUESTED,
            user=user,
            request=request,
            obj=search,
            case=case,
            details={
                "gallery": gallery.pk,
                "gallery_name": gallery.name,
                "sketch": sketch.pk,
                "sketch_sha256": sketch.sha256,
                "reason": reason,
                "shortlist_size": shortlist_size,
            },
        )
    from .tasks import run_search

    send_after_commit(run_search, search.pk)
    return search


def get_search_for(user, case: Case, pk, request: HttpRequest | None = None) -> LeadSearch:
    """Search ``pk`` of ``case`` if ``user`` may still search its gallery (404, audited, otherwise)."""
    try:
        search = LeadSearch.objects.select_related("gallery", "sketch", "requested_by").get(case=case, pk=int(pk))
    except (LeadSearch.DoesNotExist, TypeError, ValueError):
        from django.http import Http404

        raise Http404("No search found.") from None
    get_gallery_for(user, search.gallery_id, request, ability=SEARCH)
    return search


def add_lead(result: LeadResult, *, user, request: HttpRequest | None = None) -> CandidatePhoto:
    """Put a lead onto its search's case as a candidate photo: normal case evidence, with its own derive."""
    search = result.search
    case = search.case
    require(user, Ability.ADD_CANDIDATE_PHOTO, case, request)
    if result.decision != LeadResult.Decision.OPEN:
        raise ValidationError("This lead has been decided already.")
    photo = result.photo
    data = custody.open_verified(photo.image, photo.sha256, user=user, request=request, case=case, obj=photo)
    source = photo.reference or photo.original_filename
    label = f"Gallery {search.gallery.name}, {source} (lead {result.rank} of search {search.pk})"
    candidate = case_services.add_candidate_photo(
        case, io.BytesIO(data), user=user, label=label[:200], filename=photo.original_filename, request=request
    )
    with transaction.atomic():
        locked = LeadResult.objects.select_for_update().get(pk=result.pk)
        locked.decision, locked.decided_by, locked.decided_at = LeadResult.Decision.ADDED, user, timezone.now()
        locked.candidate = candidate
        locked.save(update_fields=["decision", "decided_by", "decided_at", "candidate"])
        audit.record(
            Action.LEAD_ADDED,
            user=user,
            request=request,
            obj=search,
            case=case,
            details={
                "search": search.pk,
                "rank": result.rank,
                "photo": photo.pk,
                "sha256": photo.sha256,
                "candidate": candidate.pk,
            },
        )
    return candidate


def dismiss_lead(result: LeadResult, *, user, note: str, request: HttpRequest | None = None) -> LeadResult:
    """Set a lead aside with a note saying why."""
    search = result.search
    require(user, Ability.COMPARE, search.case, request)
    note = one_line(note, "a note saying why this lead is dismissed")
    with transaction.atomic():
        locked = LeadResult.objects.select_for_update().get(pk=result.pk)
        if locked.decision != LeadResult.Decision.OPEN:
            raise ValidationError("This lead has been decided already.")
        locked.decision, locked.decided_by, locked.decided_at = LeadResult.Decision.DISMISSED, user, timezone.now()
        locked.note = note
        locked.save(update_fields=["decision", "decided_by", "decided_at", "note"])
        audit.record(
            Action.LEAD_DISMISSED,
            user=user,
            request=request,
            obj=search,
            case=search.case,
            details={"search": search.pk, "rank": locked.rank, "photo": locked.photo_id, "note": note},
        )
    return locked


def deny_photo_browsing(user, gallery: Gallery, request: HttpRequest | None) -> None:
    """A user granted a search asked to browse the gallery's photos: refused, audited."""
    if not is_admin(user):
        record_gallery_denial(user, request, object_id=str(gallery.pk), ability="browse_gallery", reason="role")
        raise PermissionDenied("You may search this gallery, not browse it.")
