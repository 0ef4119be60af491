"""Server-rendered pages: the case list and a case's page."""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse_lazy

from . import audit
from .access import abilities, can_create_case, can_view_audit, get_case_for
from .models import Case, CaseMembership, Composite, WitnessSketch


@login_required
def case_list(request: HttpRequest) -> HttpResponse:
    cases = (
        Case.objects.visible_to(request.user)
        .annotate(sketch_count=Count("sketches", distinct=True))
        .select_related("created_by")
    )
    status = request.GET.get("status", "")
    if status in Case.Status.values:
        cases = cases.filter(status=status)
    return render(
        request,
        "cases/case_list.html",
        {
            "cases": cases,
            "status": status,
            "statuses": Case.Status.choices,
            "can_create_case": can_create_case(request.user),
            "can_view_audit": can_view_audit(request.user),
        },
    )


@login_required
def case_detail(request: HttpRequest, pk: int) -> HttpResponse:
    case = get_case_for(request.user, pk, request)
    sketches = (
        WitnessSketch.objects.filter(case=case)
        .select_related("uploaded_by", "revises")
        .prefetch_related(Prefetch("composites", queryset=Composite.objects.order_by("created_at")))
    )
    memberships = CaseMembership.objects.filter(case=case).select_related("user")
    return render(
        request,
        "cases/case_detail.html",
        {
            "case": case,
            "sketches": sketches,
            "memberships": memberships,
            "abilities": abilities(request.user, case),
        },
    )


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change, audited."""

    success_url = reverse_lazy("case_list")

    def form_valid(self, form):
        response = super().form_valid(form)
        audit.record(
            audit.Action.PASSWORD_CHANGED,
            user=self.request.user,
            request=self.request,
            object_type="user",
            object_id=self.request.user.pk,
        )
        messages.success(self.request, "Your password was changed.")
        return response
