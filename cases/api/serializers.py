from django.contrib.auth import get_user_model
from django.urls import reverse
from rest_framework import serializers

from ..boxes import check_box
from ..models import Case, CaseMembership, Composite, Style, WitnessSketch, single_line
from ..provenance import composite_provenance


class CaseSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Case
        fields = ["id", "reference", "title", "description", "status", "created_by", "created_at", "updated_at"]
        read_only_fields = ["status", "created_at", "updated_at"]


class MembershipSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(source="user.pk", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    granted_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = CaseMembership
        fields = ["user_id", "username", "role", "granted_by", "created_at"]


class MembershipGrantSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=CaseMembership.Role.choices)

    def validate_username(self, value: str):
        user = get_user_model().objects.filter(username=value, is_active=True).first()
        if user is None:
            raise serializers.ValidationError(f"There is no active user called {value!r}.")
        return user


class SketchSerializer(serializers.ModelSerializer):
    uploaded_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    image_url = serializers.SerializerMethodField()

    class Meta:
        model = WitnessSketch
        fields = [
            "id",
            "sha256",
            "size",
            "width",
            "height",
            "style",
            "original_filename",
            "witness_reference",
            "interview_notes",
            "revises",
            "uploaded_by",
            "created_at",
            "image_url",
        ]

    def get_image_url(self, sketch: WitnessSketch) -> str:
        return reverse("api:sketch_image", args=[sketch.case_id, sketch.pk])


class SketchUploadSerializer(serializers.Serializer):
    image = serializers.FileField(allow_empty_file=True)  # refused, and audited, by add_sketch
    style = serializers.ChoiceField(
        choices=Style.choices, required=False, allow_blank=True, help_text="Left out: suggested from the image."
    )
    witness_reference = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default="", validators=[single_line]
    )
    interview_notes = serializers.CharField(required=False, allow_blank=True, default="")
    revises = serializers.IntegerField(required=False, allow_null=True, help_text="The id of the sketch this revises.")


class CompositeSerializer(serializers.ModelSerializer):
    image_url = serializers.SerializerMethodField()
    provenance = serializers.SerializerMethodField()

    class Meta:
        model = Composite
        fields = [
            "id",
            "sketch",
            "style",
            "status",
            "output_sha256",
            "released",
            "created_at",
            "finished_at",
            "image_url",
            "provenance",
        ]

    def get_image_url(self, composite: Composite) -> str | None:
        if composite.status != Composite.Status.DONE:
            return None
        return reverse("api:composite_image", args=[composite.sketch.case_id, composite.pk])

    def get_provenance(self, composite: Composite) -> dict:
        return composite_provenance(composite)


class CompositeRequestSerializer(serializers.Serializer):
    style = serializers.ChoiceField(choices=Style.choices)
    box = serializers.ListField(
        child=serializers.IntegerField(min_value=0),
        min_length=4,
        max_length=4,
        required=False,
        help_text="The face box [left, top, right, bottom] in sketch pixels, when the detector's is wrong.",
    )

    def validate_box(self, box: list[int]) -> list[int]:
        sketch = self.context["sketch"]
        return check_box(box, sketch.width, sketch.height)


class ReleaseSerializer(serializers.Serializer):
    reason = serializers.CharField()


class MessageSerializer(serializers.Serializer):
    message = serializers.CharField()
