"""Morphs: the request from the compare page, a morph's page with its live
status and provenance, its image, and its release for dissemination."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.navigation import back_to

from .. import morphs
from ..access import Ability, abilities, get_case_for
from ..evidence import inline_image, record_page_view
from ..forms import ReleaseForm
from ..models import Case, Morph
from .compare import ids

#: How far a morph has got, for the progress bar (of 3).
PROGRESS = {Morph.Status.REQUESTED: 1, Morph.Status.RUNNING: 2, Morph.Status.DONE: 3, Morph.Status.FAILED: 3}


class MorphReleaseForm(ReleaseForm):
    """The composites' release form, worded for a morph."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].error_messages["required"] = "Give a reason for releasing this morph."


def morph_of(case: Case, morph_pk: int) -> Morph:
    return get_object_or_404(
        Morph.objects.select_related("case", "requested_by", "released_by"), case=case, pk=morph_pk
    )


@login_required
@require_POST
def morph_request(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask for the morph of the ticked composites (``composite``); a refusal goes back to the
    comparison with the same composites ticked and the reason."""
    case = get_case_for(request.user, pk, request, ability=Ability.MAKE_MORPH)
    chosen = ids(request.POST.getlist("composite"))
    try:
        morph, created = morphs.request_morph(case, chosen, user=request.user, request=request)
    except ValidationError as error:
        messages.error(request, "No morph was made. " + " ".join(error.messages))
        query = urlencode([("composite", pk) for pk in chosen[: Morph.MAX_SOURCES + 1]])
        return redirect(reverse("compare", args=[case.pk]) + (f"?{query}" if query else ""))
    if created:
        messages.success(request, f"Morph {morph.pk} of {len(set(chosen))} composites is requested.")
    else:
        messages.info(request, f"Morph {morph.pk} of these composites was already requested.")
    return redirect("morph_detail", case.pk, morph.pk)


@login_required
@require_GET
def morph_detail(request: HttpRequest, pk: int, morph_pk: int) -> HttpResponse:
    case = get_case_for(request.user, pk, request)
    morph = morph_of(case, morph_pk)
    sources = list(morph.sources.select_related("sketch").order_by("pk"))
    shown = [morph] if morph.status == Morph.Status.DONE else []
    record_page_view(request, case, morph, page="morph", shown=[*shown, *sources])
    return render(
        request,
        "cases/morph_detail.html",
        {"case": case, "morph": morph, "card": morph_card(request, morph, sources), "sources": sources},
    )


@login_required
@require_GET
def morph_status(request: HttpRequest, pk: int, morph_pk: int) -> JsonResponse:
    """The morph as its page shows it, for the progress poll (the composites' poll reads it)."""
    case = get_case_for(request.user, pk, request)
    morph = morph_of(case, morph_pk)
    sources = list(morph.sources.select_related("sketch").order_by("pk"))
    outstanding = morph.status in (Morph.Status.REQUESTED, Morph.Status.RUNNING)
    return JsonResponse(
        {
            "composites": [
                {"id": f"morph-{morph.pk}", "status": morph.status, "html": morph_card(request, morph, sources)}
            ],
            "outstanding": int(outstanding),
        },
        headers={"Cache-Control": "no-store"},
    )


def morph_card(request: HttpRequest, morph: Morph, sources: list) -> str:
    case = morph.case
    return render_to_string(
        "cases/_morph.html",
        {
            "case": case,
            "morph": morph,
            "sources": sources,
            "step": PROGRESS[morph.status],
            "can_release": Ability.RELEASE_COMPOSITE in abilities(request.user, case),
            "next_url": reverse("morph_detail", args=[case.pk, morph.pk]),
        },
        request=request,
    )


@login_required
@require_GET
def morph_image(request: HttpRequest, pk: int, morph_pk: int) -> HttpResponse:
    case = get_case_for(request.user, pk, request)
    morph = morph_of(case, morph_pk)
    if morph.status != Morph.Status.DONE or not morph.image:
        raise Http404("This morph has no image yet.")
    return inline_image(morph.image, morph.output_sha256, request=request, case=case, obj=morph)


@login_required
@require_http_methods(["GET", "POST"])
def morph_release(request: HttpRequest, pk: int, morph_pk: int) -> HttpResponse:
    """Release a morph for dissemination, as a composite is released: a reason and a
    confirmation; a refused release shows the form again with the reason (400)."""
    case = get_case_for(request.user, pk, request, ability=Ability.RELEASE_COMPOSITE)
    morph = morph_of(case, morph_pk)
    next_url = back_to(request, reverse("morph_detail", args=[case.pk, morph.pk]))
    if morph.released:
        when = timezone.localtime(morph.released_at).strftime("%d %b %Y %H:%M")
        messages.info(request, f"Morph {morph.pk} was already released, on {when}.")
        return redirect(next_url)
    form = MorphReleaseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            morphs.release_morph(morph, user=request.user, reason=form.cleaned_data["reason"], request=request)
        except ValidationError as error:
            form.add_error(None, " ".join(error.messages))
        else:
            messages.success(request, f"Morph {morph.pk} is released for dissemination.")
            return redirect(next_url)
    return render(
        request,
        "cases/morph_release.html",
        {"case": case, "morph": morph, "form": form, "next_url": next_url},
        status=400 if form.errors else 200,
    )
