"""The audit log's filters, shared by the page, the exports and the API."""

from django import forms

from .actions import READS
from .models import AuditEvent

#: What the log shows: the audit log page starts with changes and refusals.
KINDS = [("all", "Everything"), ("changes", "Changes and refusals (no page views)"), ("reads", "Page views only")]


class AuditFilterForm(forms.Form):
    user = forms.CharField(label="User", required=False)
    case = forms.CharField(label="Case reference", required=False)
    action = forms.ChoiceField(label="Action", choices=[("", "Any"), *AuditEvent.Action.choices], required=False)
    outcome = forms.ChoiceField(label="Outcome", choices=[("", "Any"), *AuditEvent.Outcome.choices], required=False)
    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    kind = forms.ChoiceField(label="Show", choices=KINDS, required=False)

    def filter(self, events):
        """``events`` narrowed by the valid filters."""
        data = self.cleaned_data if self.is_valid() else {}
        if data.get("user"):
            events = events.filter(username__iexact=data["user"].strip())
        if data.get("case"):
            events = events.filter(case__reference__iexact=data["case"].strip())
        if data.get("action"):
            events = events.filter(action=data["action"])
        if data.get("outcome"):
            events = events.filter(outcome=data["outcome"])
        if data.get("since"):
            events = events.filter(timestamp__date__gte=data["since"])
        if data.get("until"):
            events = events.filter(timestamp__date__lte=data["until"])
        if data.get("kind") == "changes":
            events = events.exclude(action__in=READS)
        elif data.get("kind") == "reads":
            events = events.filter(action__in=READS)
        return events

    def applied(self) -> dict[str, str]:
        """The filters in use, for the audit event that records the search."""
        if not self.is_valid():
            return {}
        return {name: str(value) for name, value in self.cleaned_data.items() if value}
