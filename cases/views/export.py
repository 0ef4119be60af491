"""The case bundle: what a court or a records system asks for."""

import hashlib
import io
import json
import zipfile

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

import audit
from audit.models import AuditEvent
from audit.trail import event_dict

from ..access import Ability, get_case_for
from ..custody import CustodyError
from ..evidence import altered_response, read_verified
from ..models import CandidatePhoto, Composite, WitnessSketch
from ..provenance import candidate_provenance, case_summary, composite_provenance, sketch_provenance


@login_required
@require_GET
def case_export(request: HttpRequest, pk: int) -> HttpResponse:
    """A zip of the original sketches, the composites, the candidate photos,
    ``provenance.json`` with every SHA-256, and the case's audit events."""
    case = get_case_for(request.user, pk, request, ability=Ability.EXPORT_CASE)
    sketches = WitnessSketch.objects.filter(case=case).select_related("uploaded_by").order_by("pk")
    composites = (
        Composite.objects.filter(sketch__case=case)
        .select_related("sketch", "requested_by", "released_by")
        .order_by("pk")
    )
    candidates = CandidatePhoto.objects.filter(case=case).select_related("uploaded_by").order_by("pk")
    provenance = {
        "case": case_summary(case),
        "exported_by": request.user.get_username(),
        "exported_at": timezone.now().isoformat(),
        "sketches": [],
        "composites": [],
        "candidate_photos": [],
    }
    buffer = io.BytesIO()
    try:
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
            for sketch in sketches:
                name = f"sketches/sketch-{sketch.pk}-{sketch.original.name.rsplit('/', 1)[-1]}"
                bundle.writestr(
                    name, read_verified(sketch.original, sketch.sha256, request=request, case=case, obj=sketch)
                )
                provenance["sketches"].append({**sketch_provenance(sketch), "bundle_path": name})
            for composite in composites:
                entry = composite_provenance(composite)
                if composite.status == Composite.Status.DONE and composite.image:
                    name = f"composites/composite-{composite.pk}-{composite.output_sha256}.png"
                    data = read_verified(
                        composite.image, composite.output_sha256, request=request, case=case, obj=composite
                    )
                    bundle.writestr(name, data)
                    entry["bundle_path"] = name
                provenance["composites"].append(entry)
            for photo in candidates:
                name = f"candidates/candidate-{photo.pk}-{photo.image.name.rsplit('/', 1)[-1]}"
                bundle.writestr(name, read_verified(photo.image, photo.sha256, request=request, case=case, obj=photo))
                provenance["candidate_photos"].append({**candidate_provenance(photo), "bundle_path": name})
            events = AuditEvent.objects.for_case(case).order_by("sequence")
            bundle.writestr("audit-events.jsonl", "".join(json.dumps(event_dict(e)) + "\n" for e in events))
            bundle.writestr("provenance.json", json.dumps(provenance, indent=2, ensure_ascii=False))
    except CustodyError as error:
        return altered_response(request, error)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    audit.record(
        audit.Action.CASE_EXPORTED,
        request=request,
        obj=case,
        details={
            "sha256": digest,
            "sketches": len(provenance["sketches"]),
            "composites": len(provenance["composites"]),
            "candidate_photos": len(provenance["candidate_photos"]),
        },
    )
    response = HttpResponse(data, content_type="application/zip")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = content_disposition_header(True, f"{case.reference}-{stamp}.zip")
    response["Cache-Control"] = "private, no-store"
    response["X-Bundle-SHA256"] = digest
    return response
