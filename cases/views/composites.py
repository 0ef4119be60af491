"""A composite's image, its release for dissemination, and the download of a
released composite with its provenance."""

import io
import json
import zipfile

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods

from accounts.navigation import back_to

from .. import services
from ..access import Ability, get_case_for
from ..custody import CustodyError
from ..evidence import altered_response, inline_image, read_verified, record_view
from ..forms import ReleaseForm
from ..models import Case, Composite
from ..provenance import released_provenance


def composite_of(case: Case, composite_pk: int) -> Composite:
    return get_object_or_404(Composite.objects.select_related("sketch__case"), sketch__case=case, pk=composite_pk)


@login_required
@require_GET
def composite_image(request: HttpRequest, pk: int, composite_pk: int) -> HttpResponse:
    case = get_case_for(request.user, pk, request)
    composite = composite_of(case, composite_pk)
    if composite.status != Composite.Status.DONE or not composite.image:
        raise Http404("This composite has no image yet.")
    return inline_image(composite.image, composite.output_sha256, request=request, case=case, obj=composite)


@login_required
@require_http_methods(["GET", "POST"])
def composite_release(request: HttpRequest, pk: int, composite_pk: int) -> HttpResponse:
    """Release a composite for dissemination. A refused release shows the form again on a
    page of its own, with the reason next to the field it concerns (400)."""
    case = get_case_for(request.user, pk, request, ability=Ability.RELEASE_COMPOSITE)
    composite = composite_of(case, composite_pk)
    next_url = back_to(request, reverse("sketch_detail", args=[case.pk, composite.sketch_id]))
    if composite.released:
        when = timezone.localtime(composite.released_at).strftime("%d %b %Y %H:%M")
        messages.info(request, f"Composite {composite.pk} was already released, on {when}.")
        return redirect(next_url)
    form = ReleaseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.release_composite(
                composite, user=request.user, reason=form.cleaned_data["reason"], request=request
            )
        except ValidationError as error:
            form.add_error(None, " ".join(error.messages))
        else:
            messages.success(request, f"Composite {composite.pk} is released for dissemination.")
            return redirect(next_url)
    return render(
        request,
        "cases/composite_release.html",
        {"case": case, "composite": composite, "form": form, "next_url": next_url},
        status=400 if form.errors else 200,
    )


@login_required
@require_GET
def composite_download(request: HttpRequest, pk: int, composite_pk: int) -> HttpResponse:
    """A released composite as a zip: the image as rendered (labelled, with its
    provenance in PNG text chunks) and ``provenance.json``."""
    case = get_case_for(request.user, pk, request)
    composite = composite_of(case, composite_pk)
    if not composite.released:
        raise PermissionDenied("Only a composite released for dissemination can be downloaded on its own.")
    try:
        data = read_verified(composite.image, composite.output_sha256, request=request, case=case, obj=composite)
    except CustodyError as error:
        return altered_response(request, error)
    provenance = released_provenance(composite)
    name = f"composite-{composite.pk}.png"
    provenance["composite"] |= {"file": name, "stored_as": composite.image.name}  # the path in this zip
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr(name, data)
        bundle.writestr("provenance.json", json.dumps(provenance, indent=2, ensure_ascii=False))
    record_view(request, composite, case, sha256=composite.output_sha256, download=True, bundle="released")
    response = HttpResponse(buffer.getvalue(), content_type="application/zip")
    response["Content-Disposition"] = content_disposition_header(True, f"{case.reference}-composite-{composite.pk}.zip")
    response["Cache-Control"] = "private, no-store"
    return response
