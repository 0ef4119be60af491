"""The gallery-search panel the sketch and compare pages include (``leads/_search_form.html``).

What it needs is worked out here, from the page's ``case`` and ``sketch``,
so that the case views know nothing of galleries.
"""

from django import template

from cases.access import Ability, abilities

from ..models import Gallery, LeadSearch

register = template.Library()


@register.inclusion_tag("leads/_search_panel.html", takes_context=True)
def lead_search_panel(context) -> dict:
    """The panel, or nothing where there is no sketch, no COMPARE ability or no gallery granted."""
    case, sketch, request = context.get("case"), context.get("sketch"), context.get("request")
    user = getattr(request, "user", None)
    if case is None or sketch is None or user is None or Ability.COMPARE not in abilities(user, case):
        return {"show": False}
    galleries = list(Gallery.objects.searchable_by(user).only("pk", "name"))
    if not galleries:
        return {"show": False}
    searches = LeadSearch.objects.filter(sketch=sketch, gallery__in=galleries).select_related(
        "gallery", "requested_by"
    )[:5]
    return {
        "show": True,
        "case": case,
        "sketch": sketch,
        "galleries": galleries,
        "searches": searches,
        "max_shortlist": LeadSearch.MAX_SHORTLIST,
        "default_shortlist": LeadSearch.DEFAULT_SHORTLIST,
        "csrf_token": context.get("csrf_token"),
    }
