"""Domain operations. Each changes state and records it, in one transaction.

Every function checks the acting user's ability first (``access.require``,
audited when denied), then makes its change and calls ``audit.record``
inside the same ``transaction.atomic()``: the change and its audit event
commit together or not at all.
"""

from typing import IO

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

import audit
from audit.trail import record_denial
from inversion import cards

from . import custody, tasks
from .access import Ability, can_create_case, require
from .boxes import NO_FACE_MESSAGE, STILL_LOOKING_MESSAGE
from .models import (
    CandidatePhoto,
    Case,
    CaseMembership,
    Composite,
    Style,
    WitnessSketch,
    candidate_upload_to,
    sketch_upload_to,
)
from .styles import suggested_style
from .uploads import UploadRejected, validate_upload

Action = audit.Action

STATUS_ACTIONS = {
    Case.Status.OPEN: Action.CASE_REOPENED,
    Case.Status.CLOSED: Action.CASE_CLOSED,
    Case.Status.ARCHIVED: Action.CASE_ARCHIVED,
}


def create_case(*, user, reference: str, title: str, description: str = "", request: HttpRequest | None = None) -> Case:
    """Open a case; its creator becomes its case lead."""
    if not can_create_case(user):
        record_denial(user, request, case=None, object_id="", ability="create_case", reason="role")
        raise PermissionDenied("Your role does not allow opening cases.")
    with transaction.atomic():
        case = Case.objects.create(reference=reference, title=title, description=description, created_by=user)
        CaseMembership.objects.create(case=case, user=user, role=CaseMembership.Role.CASE_LEAD, granted_by=user)
        audit.record(
            Action.CASE_CREATED,
            user=user,
            request=request,
            obj=case,
            details={"reference": reference, "title": title, "lead": user.get_username()},
        )
    return case


def update_case(case: Case, *, user, title: str, description: str, request: HttpRequest | None = None) -> Case:
    require(user, Ability.EDIT_CASE, case, request)
    changes = {
        field: [getattr(case, field), value]
        for field, value in (("title", title), ("description", description))
        if getattr(case, field) != value
    }
    if not changes:
        return case
    with transaction.atomic():
        for field, (_, value) in changes.items():
            setattr(case, field, value)
        case.save(update_fields=[*changes, "updated_at"])
        audit.record(Action.CASE_UPDATED, user=user, request=request, obj=case, details={"changes": changes})
    return case


def set_case_status(case: Case, status: str, *, user, reason: str = "", request: HttpRequest | None = None) -> Case:
    """Close, reopen or archive a case, following ``Case.TRANSITIONS``."""
    require(user, Ability.EDIT_CASE, case, request)
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        if not locked.can_become(status):
            raise ValidationError(f"A case that is {locked.get_status_display().lower()} cannot become {status}.")
        previous = locked.status
        locked.status = status
        locked.save(update_fields=["status", "updated_at"])
        audit.record(
            STATUS_ACTIONS[status],
            user=user,
            request=request,
            obj=locked,
            details={"from": previous, "to": status, "reason": reason},
        )
    case.refresh_from_db()
    return case


def grant_membership(case: Case, member, role: str, *, user, request: HttpRequest | None = None) -> CaseMembership:
    """Give ``member`` ``role`` on ``case``, or change the role they have."""
    require(user, Ability.MANAGE_MEMBERS, case, request)
    role = CaseMembership.Role(role)
    with transaction.atomic():
        membership = CaseMembership.objects.select_for_update().filter(case=case, user=member).first()
        if membership is None:
            membership = CaseMembership.objects.create(case=case, user=member, role=role, granted_by=user)
            action, details = Action.MEMBERSHIP_GRANTED, {"member": member.get_username(), "role": role}
        elif membership.role != role:
            _keep_a_lead(case, membership)
            details = {"member": member.get_username(), "from": membership.role, "to": role}
            membership.role, membership.granted_by = role, user
            membership.save(update_fields=["role", "granted_by"])
            action = Action.MEMBERSHIP_CHANGED
        else:
            return membership
        case.forget_role()
        audit.record(action, user=user, request=request, obj=membership, case=case, details=details)
    return membership


def revoke_membership(case: Case, member, *, user, request: HttpRequest | None = None) -> None:
    require(user, Ability.MANAGE_MEMBERS, case, request)
    with transaction.atomic():
        membership = CaseMembership.objects.select_for_update().filter(case=case, user=member).first()
        if membership is None:
            return
        _keep_a_lead(case, membership)
        membership_id = membership.pk
        membership.delete()
        case.forget_role()
        audit.record(
            Action.MEMBERSHIP_REVOKED,
            user=user,
            request=request,
            case=case,
            object_type="casemembership",
            object_id=membership_id,
            details={"member": member.get_username(), "role": membership.role},
        )


def _keep_a_lead(case: Case, membership: CaseMembership) -> None:
    """Refuse to remove a case's last case lead."""
    if membership.role != CaseMembership.Role.CASE_LEAD:
        return
    leads = CaseMembership.objects.filter(case=case, role=CaseMembership.Role.CASE_LEAD).exclude(pk=membership.pk)
    if not leads.exists():
        raise ValidationError("A case needs at least one case lead.")


def accept_upload(
    upload: IO[bytes], *, user, case: Case, object_type: str, filename: str = "", request: HttpRequest | None = None
):
    """The upload checked by ``validate_upload``; a refusal is audited (``upload_rejected``) and raised.

    Every upload path (sketches, candidate photos; page and API) comes through here.
    """
    try:
        return validate_upload(upload)
    except UploadRejected as rejection:
        record_upload_rejected(
            user=user,
            case=case,
            object_type=object_type,
            request=request,
            reason=rejection.code,
            message=rejection.message,
            filename=filename or getattr(upload, "name", "") or "",
            details=rejection.details,
        )
        raise


def record_upload_rejected(
    *,
    user,
    case: Case,
    object_type: str,
    reason: str,
    message: str,
    filename: str = "",
    details: dict | None = None,
    request: HttpRequest | None = None,
) -> None:
    """Audit a refused upload: what was refused, why, and what is known of the file."""
    audit.record(
        Action.UPLOAD_REJECTED,
        user=user,
        request=request,
        case=case,
        object_type=object_type,
        outcome=audit.Outcome.FAILED,
        details={"reason": reason, "message": message, "filename": filename[:255]} | (details or {}),
    )


def store_upload(
    name: str, data: bytes, *, user, case: Case, object_type: str, filename: str, request: HttpRequest | None
) -> bool:
    """``custody.store`` for an accepted upload; a store that does not answer is an audited
    refusal (``upload_rejected``, reason ``storage_unavailable``) raised as ``StorageUnavailable``."""
    try:
        return custody.store(name, data, user=user, request=request, case=case)
    except custody.StorageUnavailable as error:
        record_upload_rejected(
            user=user,
            case=case,
            object_type=object_type,
            reason="storage_unavailable",
            message=custody.UNAVAILABLE_MESSAGE,
            filename=filename,
            details={"error": str(error)[:200]},
            request=request,
        )
        raise


def add_sketch(
    case: Case,
    upload: IO[bytes],
    *,
    user,
    style: str | None = None,
    filename: str = "",
    witness_reference: str = "",
    interview_notes: str = "",
    revises: WitnessSketch | None = None,
    request: HttpRequest | None = None,
) -> WitnessSketch:
    """Store a witness sketch exactly as uploaded, named by its SHA-256.

    Without a ``style`` the one the image suggests (``styles.suggested_style``) is used.
    """
    require(user, Ability.UPLOAD_SKETCH, case, request)
    if revises is not None and revises.case_id != case.pk:
        raise ValidationError("A revision must revise a sketch of the same case.")
    if revises is not None and not witness_reference:
        witness_reference = revises.witness_reference  # the same witness, unless the artist says otherwise
    original_filename = (filename or getattr(upload, "name", "") or "")[:255]
    image = accept_upload(
        upload, user=user, case=case, object_type="witnesssketch", filename=original_filename, request=request
    )
    sketch = WitnessSketch(
        case=case,
        uploaded_by=user,
        original_filename=original_filename,
        sha256=image.sha256,
        size=image.size,
        width=image.width,
        height=image.height,
        style=Style(style or suggested_style(image)),
        witness_reference=witness_reference,
        interview_notes=interview_notes,
        revises=revises,
    )
    name = sketch_upload_to(sketch, f"upload.{image.extension}")
    stored_now = store_upload(
        name, image.data, user=user, case=case, object_type="witnesssketch", filename=original_filename, request=request
    )
    sketch.original.name = name
    try:
        with transaction.atomic():
            sketch.save(force_insert=True)
            audit.record(
                Action.SKETCH_UPLOADED,
                user=user,
                request=request,
                obj=sketch,
                details={
                    "sha256": sketch.sha256,
                    "size": sketch.size,
                    "filename": sketch.original_filename,
                    "format": image.format,
                    "notes": list(image.notes),
                    "style": sketch.style,
                    "revises": revises.pk if revises else None,
                },
            )
    except Exception:
        if stored_now and not WitnessSketch.objects.filter(sha256=sketch.sha256).exists():
            default_storage.delete(name)
        raise
    tasks.enqueue_derive(sketch)
    sketch.refresh_from_db()  # without a broker the job has just run
    return sketch


def add_candidate_photo(
    case: Case, upload: IO[bytes], *, user, label: str, filename: str = "", request: HttpRequest | None = None
) -> CandidatePhoto:
    """Store a candidate photo exactly as uploaded, named by its SHA-256.

    The photo passes the same checks, and its refusal the same audit, as a sketch (``accept_upload``).
    """
    require(user, Ability.ADD_CANDIDATE_PHOTO, case, request)
    if not label.strip():
        raise ValidationError("Say where this photo comes from.")
    image = accept_upload(
        upload, user=user, case=case, object_type="candidatephoto", filename=filename, request=request
    )
    photo = CandidatePhoto(
        case=case,
        uploaded_by=user,
        original_filename=(filename or getattr(upload, "name", "") or "")[:255],
        sha256=image.sha256,
        size=image.size,
        width=image.width,
        height=image.height,
        label=label.strip(),
    )
    photo.image.name = candidate_upload_to(photo, f"upload.{image.extension}")
    stored_now = store_upload(
        photo.image.name,
        image.data,
        user=user,
        case=case,
        object_type="candidatephoto",
        filename=photo.original_filename,
        request=request,
    )
    try:
        with transaction.atomic():
            photo.save(force_insert=True)
            audit.record(
                Action.CANDIDATE_ADDED,
                user=user,
                request=request,
                obj=photo,
                details={
                    "sha256": photo.sha256,
                    "size": photo.size,
                    "label": photo.label,
                    "filename": photo.original_filename,
                },
            )
    except Exception:
        if stored_now and not CandidatePhoto.objects.filter(sha256=photo.sha256).exists():
            default_storage.delete(photo.image.name)
        raise
    tasks.enqueue_derive(photo)
    photo.refresh_from_db()  # without a broker the job has just run
    return photo


def request_composite(
    sketch: WitnessSketch, style: str, *, user, parameters: dict | None = None, request: HttpRequest | None = None
) -> tuple[Composite, bool]:
    """Ask for a composite of ``sketch`` in ``style``; (the composite, whether it is new).

    A new composite starts as ``requested`` and is sent to a worker when the
    transaction commits. An identical request (same sketch, style and face
    box) while one is waiting, running, or done with the installed weights
    returns that composite instead of adding another. A sketch in which the
    aligner found no face needs a face box from the requester
    (``NO_FACE_MESSAGE``).
    """
    require(user, Ability.REQUEST_COMPOSITE, sketch.case, request)
    style = Style(style)
    parameters = parameters or {}
    if sketch.face_found is None and not parameters.get("box"):
        raise ValidationError(STILL_LOOKING_MESSAGE)
    if sketch.face_found is False and not parameters.get("box"):
        raise ValidationError(NO_FACE_MESSAGE)
    with transaction.atomic():
        WitnessSketch.objects.select_for_update().filter(pk=sketch.pk).first()  # one request at a time per sketch
        existing = _identical_composite(sketch, style, parameters)
        if existing is not None:
            return existing, False
        composite = Composite.objects.create(sketch=sketch, style=style, requested_by=user, parameters=parameters)
        audit.record(
            Action.COMPOSITE_REQUESTED,
            user=user,
            request=request,
            obj=composite,
            details={"sketch": sketch.pk, "sketch_sha256": sketch.sha256, "style": composite.style},
        )
        tasks.enqueue(composite)
    return composite, True


def _identical_composite(sketch: WitnessSketch, style: str, parameters: dict) -> Composite | None:
    """A composite of ``sketch`` in ``style`` with ``parameters`` that is waiting, running, or
    done with the weights installed now (new weights deserve a new composite)."""
    installed = installed_weights_sha256(style)
    for composite in sketch.composites.filter(style=style).exclude(status=Composite.Status.FAILED).order_by("pk"):
        if composite.request_parameters != parameters:
            continue
        if composite.status != Composite.Status.DONE or composite.weights_sha256 == installed:
            return composite
    return None


def installed_weights_sha256(style: str) -> str:
    """The SHA-256 of the weights installed for ``style``, from its model card ("" when there is none)."""
    try:
        return cards.model_card(style).get("weights_sha256", "")
    except (cards.WeightsError, ValueError):
        return ""


def release_composite(composite: Composite, *, user, reason: str, request: HttpRequest | None = None) -> Composite:
    """Mark a finished composite as released for dissemination."""
    require(user, Ability.RELEASE_COMPOSITE, composite.sketch.case, request)
    if not reason.strip():
        raise ValidationError("Give a reason for releasing this composite.")
    with transaction.atomic():
        locked = Composite.objects.select_for_update().get(pk=composite.pk)
        if locked.status != Composite.Status.DONE:
            raise ValidationError("Only a finished composite can be released.")
        if not locked.face_located:
            raise ValidationError(
                "This composite was made without a face the aligner found or a person confirmed, so it cannot "
                "be released. Draw or confirm the face box on the sketch and request a new composite."
            )
        if locked.released:
            return locked
        locked.released, locked.released_by, locked.released_at = True, user, timezone.now()
        locked.release_reason = reason
        locked.save(update_fields=["released", "released_by", "released_at", "release_reason"])
        audit.record(
            Action.COMPOSITE_RELEASED,
            user=user,
            request=request,
            obj=locked,
            case=locked.sketch.case,
            details={"reason": reason, "output_sha256": locked.output_sha256},
        )
    return locked
