"""What a court or a records system asks of a piece of evidence: where it came
from, who handled it, and the SHA-256 that shows it is unchanged.

One definition, used by the downloads, the case export and the API.
"""

from typing import Any

from .models import CandidatePhoto, Case, Composite, WitnessSketch


def _when(value) -> str | None:
    return value.isoformat() if value else None


def _who(user) -> str | None:
    return user.get_username() if user else None


def sketch_provenance(sketch: WitnessSketch) -> dict[str, Any]:
    return {
        "id": sketch.pk,
        "file": sketch.original.name,
        "original_filename": sketch.original_filename,
        "sha256": sketch.sha256,
        "size": sketch.size,
        "width": sketch.width,
        "height": sketch.height,
        "style": sketch.style,
        "witness_reference": sketch.witness_reference,
        "interview_notes": sketch.interview_notes,
        "revises": sketch.revises_id,
        "uploaded_by": _who(sketch.uploaded_by),
        "uploaded_at": _when(sketch.created_at),
    }


def composite_provenance(composite: Composite) -> dict[str, Any]:
    return {
        "id": composite.pk,
        "label": "Composite image generated from a witness sketch. Not a photograph of a real person.",
        "sketch": composite.sketch_id,
        "sketch_sha256": composite.sketch.sha256,
        "style": composite.style,
        "status": composite.status,
        "file": composite.image.name or None,
        "sha256": composite.output_sha256 or None,
        "model_name": composite.model_name,
        "weights_sha256": composite.weights_sha256,
        "parameters": composite.parameters,
        "device": composite.device,
        "batch_size": composite.batch_size,
        "code_version": composite.code_version,
        "duration_ms": composite.duration_ms,
        "reused_from": composite.reused_from_id,
        "error_message": composite.error_message,
        "requested_by": _who(composite.requested_by),
        "requested_at": _when(composite.created_at),
        "started_at": _when(composite.started_at),
        "finished_at": _when(composite.finished_at),
        "released": composite.released,
        "released_by": _who(composite.released_by),
        "released_at": _when(composite.released_at),
        "release_reason": composite.release_reason,
    }


def candidate_provenance(photo: CandidatePhoto) -> dict[str, Any]:
    return {
        "id": photo.pk,
        "label": photo.label,
        "file": photo.image.name,
        "original_filename": photo.original_filename,
        "sha256": photo.sha256,
        "size": photo.size,
        "width": photo.width,
        "height": photo.height,
        "uploaded_by": _who(photo.uploaded_by),
        "uploaded_at": _when(photo.created_at),
    }


def case_summary(case: Case) -> dict[str, Any]:
    return {
        "id": case.pk,
        "reference": case.reference,
        "title": case.title,
        "description": case.description,
        "status": case.status,
        "created_by": _who(case.created_by),
        "created_at": _when(case.created_at),
    }


#: What is known of a sketch that must not leave with a released composite: who the witness is,
#: what they said, and the file name the artist gave the scan.
WITNESS_FIELDS = ("witness_reference", "interview_notes", "original_filename")


def released_provenance(composite: Composite) -> dict[str, Any]:
    """The provenance that goes out with a composite released to the press or the public.

    How the image was made and released, and the sketch only by its SHA-256
    and style: no witness data (``WITNESS_FIELDS``), no internal case notes.
    The full provenance stays with the case (``composite_provenance``,
    ``sketch_provenance``).
    """
    sketch = composite.sketch
    return {
        "case": {"reference": sketch.case.reference},
        "composite": composite_provenance(composite),
        "sketch": {"sha256": sketch.sha256, "style": sketch.style},
    }
