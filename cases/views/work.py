"""The signed-in user's work: the composites and morphs they requested, across
the cases they may still see, newest first, with a live status; and whether
they want e-mail when one finishes (``cases.notifications``).

Opening the page (or its poll, while it is open) marks everything finished
until then as seen, which clears the count in the navigation bar.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST

from .. import notifications
from ..models import Composite
from ..notifications import WorkItem
from .sketches import PROGRESS

#: Items on one page of the work queue.
PAGE_SIZE = 50

Status = Composite.Status

#: How each status reads on the page, and the badge it wears (morphs' statuses are the same).
SHOWN_AS = {
    Status.REQUESTED: ("Waiting", "status status-closed"),
    Status.RUNNING: ("Running", "status status-released"),
    Status.DONE: ("Done", "outcome outcome-success"),
    Status.FAILED: ("Failed", "outcome outcome-failed"),
}


class EmailForm(forms.Form):
    email_when_finished = forms.BooleanField(
        label="E-mail me when a composite I requested is done or has failed", required=False
    )


def page_of_work(request: HttpRequest) -> tuple[Page, list[WorkItem]]:
    page = Paginator(notifications.work_of(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return page, notifications.items(page.object_list)


def item_html(item: WorkItem, seen_at) -> str:
    """One item as the page shows it (rendered without the request: no context processor runs per item)."""
    label, badge = SHOWN_AS[item.job.status]
    finished_at = item.job.finished_at
    new = item.finished and finished_at is not None and (seen_at is None or finished_at > seen_at)
    return render_to_string(
        "cases/_work_item.html",
        {"item": item, "job": item.job, "label": label, "badge": badge, "step": PROGRESS[item.job.status], "new": new},
    )


@login_required
@require_GET
def work(request: HttpRequest) -> HttpResponse:
    preference = notifications.preference(request.user)
    seen_at = preference.work_seen_at  # before this visit: what finished since is marked new
    page, items = page_of_work(request)
    cards = [item_html(item, seen_at) for item in items]
    notifications.mark_seen(request.user)
    return render(
        request,
        "cases/work.html",
        {
            "page": page,
            "cards": cards,
            "outstanding": any(not item.finished for item in items),
            "email_form": EmailForm(initial={"email_when_finished": preference.email_when_finished}),
            "has_email": bool(request.user.email),
        },
    )


@login_required
@require_GET
def work_status(request: HttpRequest) -> JsonResponse:
    """The items of one page of the work queue as the page shows them, for its poll."""
    seen_at = notifications.preference(request.user).work_seen_at
    _, items = page_of_work(request)
    answer = {
        "items": [{"id": item.key, "status": item.job.status, "html": item_html(item, seen_at)} for item in items],
        "outstanding": sum(not item.finished for item in items),
    }
    notifications.mark_seen(request.user)
    return JsonResponse(answer, headers={"Cache-Control": "no-store"})


@login_required
@require_POST
def work_email(request: HttpRequest) -> HttpResponse:
    form = EmailForm(request.POST)
    wanted = form.is_valid() and form.cleaned_data["email_when_finished"]
    notifications.set_email(request.user, wanted)
    if wanted and not request.user.email:
        messages.warning(request, "E-mail is on, but your account has no e-mail address: ask an administrator.")
    elif wanted:
        messages.success(request, f"You will get an e-mail at {request.user.email} when a composite of yours finishes.")
    else:
        messages.success(request, "No e-mail: follow your work on this page.")
    return redirect("work")
