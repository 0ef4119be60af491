from django import forms

from cases.models import single_line

from .models import Gallery, LeadSearch


class GalleryForm(forms.ModelForm):
    class Meta:
        model = Gallery
        fields = ["name", "description", "source", "legal_basis"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2}), "source": forms.Textarea(attrs={"rows": 2})}
        help_texts = {"legal_basis": "The law or policy under which these photos may be searched."}


class GrantForm(forms.Form):
    username = forms.CharField(max_length=150, label="User name", validators=[single_line])


class RemovalForm(forms.Form):
    reason = forms.CharField(max_length=500, validators=[single_line], help_text="Why the photo leaves the gallery.")


class SearchForm(forms.Form):
    gallery = forms.IntegerField(widget=forms.Select)
    reason = forms.CharField(
        max_length=500, validators=[single_line], help_text="Why this search is needed, for the audit trail."
    )
    shortlist_size = forms.IntegerField(
        min_value=1, max_value=LeadSearch.MAX_SHORTLIST, initial=LeadSearch.DEFAULT_SHORTLIST, label="Shortlist size"
    )


class DismissForm(forms.Form):
    note = forms.CharField(max_length=500, validators=[single_line], help_text="Why this lead is set aside.")
