"""A case's gallery searches: start one from a sketch, its shortlist, and what is made of each lead.

Every page asks ``get_case_for`` first and then whether the user may still
search the search's gallery (``services.get_search_for``): a shortlist is
seen only by someone who may see the case and is granted the gallery.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from cases.access import Ability, abilities, get_case_for
from cases.custody import UNAVAILABLE_MESSAGE, CustodyError, StorageUnavailable
from cases.evidence import altered_response, inline_image, record_page_view
from cases.models import Composite, WitnessSketch

from .. import services
from ..forms import DismissForm, SearchForm
from ..models import LeadResult
from ..services import CAVEAT


@login_required
@require_POST
def search_request(request: HttpRequest, pk: int, sketch_pk: int) -> HttpResponse:
    case = get_case_for(request.user, pk, request, ability=Ability.COMPARE)
    sketch = get_object_or_404(WitnessSketch, case=case, pk=sketch_pk)
    form = SearchForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a gallery, give a reason on one line and a shortlist size of 1 to 100.")
        return redirect("sketch_detail", case.pk, sketch.pk)
    try:
        search = services.request_search(
            sketch,
            form.cleaned_data["gallery"],
            user=request.user,
            reason=form.cleaned_data["reason"],
            shortlist_size=form.cleaned_data["shortlist_size"],
            request=request,
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("sketch_detail", case.pk, sketch.pk)
    return redirect("search_detail", case.pk, search.pk)


@login_required
@require_GET
def search_detail(request: HttpRequest, pk: int, search_pk: int) -> HttpResponse:
    case = get_case_for(request.user, pk, request)
    search = services.get_search_for(request.user, case, search_pk, request)
    results = list(search.results.select_related("photo", "decided_by", "candidate"))
    for result in results:
        result.probe_distances = list(zip(search.probes, result.distances, strict=False))
    granted = abilities(request.user, case)
    # What was searched with, shown as pictures beside the shortlist: the sketch's face crop and the composites.
    used = {probe["id"] for probe in search.probes if probe["kind"] == "composite"}
    composites = list(Composite.objects.filter(sketch=search.sketch, pk__in=used).defer("face_descriptor"))
    probe_sketch = search.sketch if any(probe["kind"] == "sketch" for probe in search.probes) else None
    probes = ([probe_sketch] if probe_sketch else []) + composites
    if results or probes:
        shown = [*probes, *(result.photo for result in results)]
        record_page_view(request, case, search, page="lead_search", shown=shown)
    return render(
        request,
        "leads/search_detail.html",
        {
            "case": case,
            "search": search,
            "results": results,
            "probe_sketch": probe_sketch,
            "probe_composites": composites,
            "caveat": CAVEAT,
            "can_add": Ability.ADD_CANDIDATE_PHOTO in granted,
            "can_decide": Ability.COMPARE in granted,
            "dismiss_form": DismissForm(),
        },
    )


@login_required
@require_GET
def search_status(request: HttpRequest, pk: int, search_pk: int) -> JsonResponse:
    case = get_case_for(request.user, pk, request)
    search = services.get_search_for(request.user, case, search_pk, request)
    return JsonResponse(
        {"status": search.status, "finished": search.finished, "label": search.get_status_display()},
        headers={"Cache-Control": "no-store"},
    )


def result_of(request: HttpRequest, pk: int, search_pk: int, rank: int, ability: Ability = Ability.VIEW_CASE):
    case = get_case_for(request.user, pk, request, ability=ability)
    search = services.get_search_for(request.user, case, search_pk, request)
    result = LeadResult.objects.select_related("photo", "search__case", "search__gallery").filter(
        search=search, rank=rank
    )
    found = result.first()
    if found is None:
        raise Http404("No such lead.")
    return case, search, found


@login_required
@require_GET
def lead_thumbnail(request: HttpRequest, pk: int, search_pk: int, rank: int) -> HttpResponse:
    """A shortlisted photo's thumbnail: the only way a searcher sees a gallery's photos."""
    case, _, result = result_of(request, pk, search_pk, rank)
    photo = result.photo
    if not photo.thumbnail:
        raise Http404("This photo has no thumbnail.")
    return inline_image(photo.thumbnail, photo.thumbnail_sha256, request=request, case=case, obj=photo)


@login_required
@require_POST
def lead_add(request: HttpRequest, pk: int, search_pk: int, rank: int) -> HttpResponse:
    case, search, result = result_of(request, pk, search_pk, rank, ability=Ability.ADD_CANDIDATE_PHOTO)
    try:
        candidate = services.add_lead(result, user=request.user, request=request)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    except StorageUnavailable:
        messages.error(request, UNAVAILABLE_MESSAGE)
    except CustodyError as error:
        return altered_response(request, error)
    else:
        messages.success(request, f"Lead {rank} is on the case as candidate photo {candidate.pk}.")
    return redirect("search_detail", case.pk, search.pk)


@login_required
@require_POST
def lead_dismiss(request: HttpRequest, pk: int, search_pk: int, rank: int) -> HttpResponse:
    case, search, result = result_of(request, pk, search_pk, rank, ability=Ability.COMPARE)
    form = DismissForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a note, on one line, saying why this lead is dismissed.")
        return redirect("search_detail", case.pk, search.pk)
    try:
        services.dismiss_lead(result, user=request.user, note=form.cleaned_data["note"], request=request)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Lead {rank} is dismissed.")
    return redirect("search_detail", case.pk, search.pk)
