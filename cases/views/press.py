"""The press sheet of a released composite: the investigator writes the public
description, then takes the sheet as a PDF or as a page to print (``cases.press``).

Who may: those who may release a composite (investigators and the case lead,
on an open case; ``Ability.RELEASE_COMPOSITE``). A press sheet is the
dissemination a release decides on, so it is in the same hands: artists and
administrators, who view the case, neither release nor speak to the public
for it, and a closed or archived case makes no new appeals until it is
reopened.

The answer to the form is the sheet itself, like a download: nothing is
stored but the audit event, which keeps the description as printed.
"""

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_http_methods

from .. import press
from ..access import Ability, get_case_for
from ..custody import CustodyError
from ..evidence import altered_response, record_page_view
from ..models import Case, Composite
from .composites import composite_of


class PressSheetForm(forms.Form):
    description = forms.CharField(
        label="Public description",
        widget=forms.Textarea(attrs={"rows": 8, "maxlength": press.DESCRIPTION_MAX_LENGTH}),
        help_text=(
            "What the public reads beside the image: when and where, what the person did, what to look out for. "
            "One or a few paragraphs; a blank line starts a new one. Nothing a witness said in confidence."
        ),
        error_messages={"required": "Write the description the public will read."},
    )
    kind = forms.ChoiceField(choices=[("pdf", "PDF"), ("html", "Printable page")])

    def clean_description(self) -> str:
        return press.clean_description(self.cleaned_data["description"])


@login_required
@require_http_methods(["GET", "POST"])
def press_sheet(request: HttpRequest, pk: int, composite_pk: int) -> HttpResponse:
    case = get_case_for(request.user, pk, request, ability=Ability.RELEASE_COMPOSITE)
    composite = composite_of(case, composite_pk)
    if not composite.released:
        raise PermissionDenied("Only a composite released for dissemination can have a press sheet.")
    form = PressSheetForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        kind = form.cleaned_data["kind"]
        try:
            sheet, document = press.make(
                composite, description=form.cleaned_data["description"], kind=kind, request=request
            )
        except CustodyError as error:
            return altered_response(request, error)
        if kind == "pdf":
            return pdf_response(document, f"{case.reference}-press-sheet-{composite.pk}.pdf")
        return render(request, "cases/press_sheet.html", {"case": case, "composite": composite, "sheet": sheet})
    if request.method == "GET":
        record_page_view(request, case, composite, page="press_sheet", shown=[composite])
    return render(
        request, "cases/press_form.html", form_context(case, composite, form), status=400 if form.errors else 200
    )


def form_context(case: Case, composite: Composite, form: PressSheetForm) -> dict:
    return {
        "case": case,
        "composite": composite,
        "form": form,
        "caveat": press.CAVEAT,
        "contact_lines": [line for line in settings.PRESS_CONTACT.splitlines() if line.strip()],
        "today": timezone.localdate(),
    }


def pdf_response(document: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(document, content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Cache-Control"] = "private, no-store"
    return response
