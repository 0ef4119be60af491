"""How the audit log names this app's objects (``audit.naming``): one query per type and page."""

from .models import CandidatePhoto, CaseMembership, Composite, WitnessSketch


def numeric(ids: list[str]) -> list[int]:
    return [int(value) for value in ids if value.isascii() and value.isdigit()]


def sketch_names(ids: list[str]) -> dict[str, str]:
    sketches = WitnessSketch.objects.filter(pk__in=numeric(ids)).values_list("pk", "revises_id")
    return {str(pk): f"sketch {pk} (revision of {revises})" if revises else f"sketch {pk}" for pk, revises in sketches}


def composite_names(ids: list[str]) -> dict[str, str]:
    composites = Composite.objects.filter(pk__in=numeric(ids)).values_list("pk", "style", "sketch_id")
    labels = dict(Composite._meta.get_field("style").choices)
    return {str(pk): f"{labels[style].lower()} composite {pk} of sketch {sketch}" for pk, style, sketch in composites}


def candidate_names(ids: list[str]) -> dict[str, str]:
    photos = CandidatePhoto.objects.filter(pk__in=numeric(ids)).values_list("pk", "label")
    return {str(pk): f"candidate photo {pk} ({label})" for pk, label in photos}


def membership_names(ids: list[str]) -> dict[str, str]:
    memberships = CaseMembership.objects.filter(pk__in=numeric(ids)).values_list("pk", "user__username")
    return {str(pk): f"membership of {username}" for pk, username in memberships}
