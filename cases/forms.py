"""Forms for the pages. They validate input; the domain functions in
``cases.services`` make the changes and record them."""

from django import forms
from django.contrib.auth import get_user_model

from .boxes import NO_FACE_MESSAGE, check_box
from .models import Case, CaseMembership, Style, WitnessSketch, single_line

#: What the upload picker offers: the formats ``uploads.validate_upload`` accepts.
IMAGE_TYPES = "image/png,image/jpeg,image/webp,image/tiff"


class CaseForm(forms.ModelForm):
    class Meta:
        model = Case
        fields = ["reference", "title", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class CaseStatusForm(forms.Form):
    """The statuses the case may move to next (``Case.TRANSITIONS``)."""

    status = forms.ChoiceField(label="Change status to")
    reason = forms.CharField(label="Reason", max_length=500, required=False)

    def __init__(self, *args, case: Case, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        allowed = Case.TRANSITIONS[Case.Status(case.status)]
        labels = {Case.Status.OPEN: "Reopen", Case.Status.CLOSED: "Close", Case.Status.ARCHIVED: "Archive (final)"}
        self.fields["status"].choices = [(status.value, labels[status]) for status in Case.Status if status in allowed]


class SketchForm(forms.Form):
    # Empty files go on to add_sketch, which refuses them with an audit event.
    image = forms.FileField(
        label="Sketch image",
        help_text="A scan or photo of the drawing: PNG, JPEG, WebP or TIFF, up to 20 MB.",
        allow_empty_file=True,
    )
    style = forms.ChoiceField(
        label="Drawing style",
        choices=[("", "Suggest from the image"), *Style.choices],
        required=False,
        help_text="Each style has its own trained network. Leave the suggestion unless it is wrong.",
    )
    witness_reference = forms.CharField(
        label="Witness reference", max_length=100, required=False, validators=[single_line]
    )
    interview_notes = forms.CharField(label="Interview notes", required=False, widget=forms.Textarea(attrs={"rows": 4}))
    revises = forms.ModelChoiceField(
        label="Revision of",
        queryset=WitnessSketch.objects.none(),
        required=False,
        empty_label="None: this is a new sketch",
        help_text="Choose an earlier sketch when this drawing revises it. Earlier sketches and their composites stay.",
    )

    def __init__(self, *args, case: Case, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["revises"].queryset = WitnessSketch.objects.filter(case=case)
        self.fields["revises"].label_from_instance = lambda sketch: (
            f"Sketch {sketch.pk} · {sketch.get_style_display()} · {sketch.created_at:%d %b %Y %H:%M}"
        )
        self.fields["image"].widget.attrs["accept"] = IMAGE_TYPES


class CompositeRequestForm(forms.Form):
    """Which styles to render, and the face box the artist confirmed."""

    styles = forms.MultipleChoiceField(
        label="Styles",
        choices=Style.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one style."},
    )
    box_left = forms.IntegerField(label="Left", min_value=0, required=False)
    box_top = forms.IntegerField(label="Top", min_value=0, required=False)
    box_right = forms.IntegerField(label="Right", min_value=1, required=False)
    box_bottom = forms.IntegerField(label="Bottom", min_value=1, required=False)
    box_adjusted = forms.BooleanField(required=False, widget=forms.HiddenInput)
    box_confirmed = forms.BooleanField(label="The box is on the face", required=False)

    def __init__(self, *args, sketch: WitnessSketch, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sketch = sketch

    def clean(self) -> dict:
        """``box`` is the box a person drew or confirmed; None leaves the face to the aligner.

        When the aligner found no face, a box is required (``services.NO_FACE_MESSAGE``).
        """
        data = super().clean()
        box = [data.get(f"box_{side}") for side in ("left", "top", "right", "bottom")]
        chosen = data.get("box_adjusted") or data.get("box_confirmed")
        data["box"] = check_box(box, self.sketch.width, self.sketch.height) if chosen and None not in box else None
        if data["box"] is None and self.sketch.face_found is False:
            raise forms.ValidationError(NO_FACE_MESSAGE)
        return data


class ReleaseForm(forms.Form):
    """Why a composite is released for dissemination, and the releaser's word that they know it is final."""

    reason = forms.CharField(
        label="Reason for release",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded in the audit trail and the provenance, e.g. 'Press appeal approved by DI Shaw'.",
        error_messages={"required": "Give a reason for releasing this composite."},
    )
    confirm = forms.BooleanField(
        label="I understand that a release cannot be undone",
        error_messages={"required": "Tick the box to confirm: a release cannot be undone."},
    )


class MembershipForm(forms.Form):
    username = forms.CharField(label="User name", max_length=150)
    role = forms.ChoiceField(label="Role", choices=CaseMembership.Role.choices)

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise forms.ValidationError(f"There is no active user called {username!r}.")
        return user


class CandidatePhotoForm(forms.Form):
    image = forms.FileField(label="Photo", help_text="PNG, JPEG, WebP or TIFF.")
    label = forms.CharField(
        label="Source",
        max_length=200,
        validators=[single_line],
        help_text="Where the photo comes from, e.g. custody record 2026/1187.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["image"].widget.attrs["accept"] = IMAGE_TYPES
