"""API of galleries and gallery searches, with the same rules as the pages.

Galleries: administrators list and read them with their photos; a user
granted a search reads a gallery's name and size only; anyone else gets
404. Searches: started from a sketch (``202`` with the search's id), read
back with their status and, when done, the shortlist with its scores.
"""

from django.core.exceptions import ValidationError as DomainError
from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from cases.access import Ability, get_case_for
from cases.api.serializers import MessageSerializer
from cases.models import WitnessSketch

from . import services
from .access import get_gallery_for
from .models import Gallery, GalleryPhoto, LeadResult, LeadSearch, is_admin
from .services import CAVEAT

ERRORS = {
    400: OpenApiResponse(MessageSerializer, description="Invalid input"),
    403: OpenApiResponse(MessageSerializer, description="Your role does not allow this"),
    404: OpenApiResponse(MessageSerializer, description="No such case or gallery (or not yours to see)"),
}


class GallerySerializer(serializers.ModelSerializer):
    size = serializers.IntegerField(read_only=True, help_text="Photos not removed.")

    class Meta:
        model = Gallery
        fields = ["id", "name", "description", "size"]


class GalleryAdminSerializer(GallerySerializer):
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta(GallerySerializer.Meta):
        fields = [*GallerySerializer.Meta.fields, "source", "legal_basis", "owner", "created_at"]


class GalleryPhotoSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True)

    class Meta:
        model = GalleryPhoto
        fields = [
            "id",
            "reference",
            "original_filename",
            "sha256",
            "size",
            "width",
            "height",
            "status",
            "derive_error",
            "created_at",
            "removed_at",
            "removal_reason",
        ]


class SearchRequestSerializer(serializers.Serializer):
    gallery = serializers.IntegerField()
    reason = serializers.CharField(max_length=500)
    shortlist_size = serializers.IntegerField(
        min_value=1, max_value=LeadSearch.MAX_SHORTLIST, default=LeadSearch.DEFAULT_SHORTLIST
    )


class LeadResultSerializer(serializers.ModelSerializer):
    photo_reference = serializers.CharField(source="photo.reference", read_only=True)

    class Meta:
        model = LeadResult
        fields = ["rank", "photo", "photo_reference", "photo_sha256", "fused_distance", "distances", "decision", "note"]


class LeadSearchSerializer(serializers.ModelSerializer):
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    results = serializers.SerializerMethodField()
    caveat = serializers.SerializerMethodField()

    class Meta:
        model = LeadSearch
        fields = [
            "id",
            "case",
            "sketch",
            "gallery",
            "requested_by",
            "reason",
            "shortlist_size",
            "status",
            "probes",
            "skipped_probes",
            "gallery_size",
            "recognizer",
            "fusion",
            "error_message",
            "created_at",
            "finished_at",
            "caveat",
            "results",
        ]

    def get_caveat(self, search: LeadSearch) -> str:
        return CAVEAT

    @extend_schema_field(LeadResultSerializer(many=True))
    def get_results(self, search: LeadSearch) -> list[dict]:
        results = search.results.select_related("photo")
        return LeadResultSerializer(results, many=True).data


def with_size(galleries: QuerySet) -> QuerySet:
    return galleries.annotate(size=Count("photos", filter=Q(photos__removed_at__isnull=True))).order_by("name")


class GalleryList(generics.ListAPIView):
    """Galleries you may search (administrators: all of them)."""

    serializer_class = GallerySerializer

    def get_serializer_class(self):
        return GalleryAdminSerializer if is_admin(self.request.user) else GallerySerializer

    def get_queryset(self) -> QuerySet:
        return with_size(Gallery.objects.searchable_by(self.request.user)).select_related("owner")


class GalleryDetail(generics.RetrieveAPIView):
    serializer_class = GallerySerializer

    def get_serializer_class(self):
        return GalleryAdminSerializer if is_admin(self.request.user) else GallerySerializer

    def get_object(self) -> Gallery:
        gallery = get_gallery_for(self.request.user, self.kwargs["pk"], self.request)
        return with_size(Gallery.objects.filter(pk=gallery.pk)).select_related("owner").get()


class GalleryPhotoList(generics.ListAPIView):
    """A gallery's photos: administrators only (a user granted a search may not browse them)."""

    serializer_class = GalleryPhotoSerializer

    def get_queryset(self) -> QuerySet:
        gallery = get_gallery_for(self.request.user, self.kwargs["pk"], self.request)
        services.deny_photo_browsing(self.request.user, gallery, self.request)
        return GalleryPhoto.objects.filter(gallery=gallery).order_by("pk")


class SearchStart(generics.GenericAPIView):
    serializer_class = LeadSearchSerializer
    parser_classes = [JSONParser, FormParser]

    @extend_schema(request=SearchRequestSerializer, responses={202: LeadSearchSerializer, **ERRORS})
    def post(self, request: Request, pk: int, sketch_pk: int) -> Response:
        """Search a gallery you are granted with this sketch and its finished composites; a worker runs it."""
        case = get_case_for(request.user, pk, request, ability=Ability.COMPARE)
        sketch = get_object_or_404(WitnessSketch, case=case, pk=sketch_pk)
        given = SearchRequestSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            data = given.validated_data
            search = services.request_search(
                sketch,
                data["gallery"],
                user=request.user,
                reason=data["reason"],
                shortlist_size=data["shortlist_size"],
                request=request,
            )
        except DomainError as error:
            raise ValidationError({"message": error.messages}) from error
        search.refresh_from_db()  # without a broker it has run already
        return Response(LeadSearchSerializer(search).data, status=status.HTTP_202_ACCEPTED)


class SearchDetail(generics.RetrieveAPIView):
    """A search's status and, once done, its shortlist: leads to check, not identifications."""

    serializer_class = LeadSearchSerializer

    def get_object(self) -> LeadSearch:
        case = get_case_for(self.request.user, self.kwargs["pk"], self.request)
        return services.get_search_for(self.request.user, case, self.kwargs["search_pk"], self.request)


urlpatterns = [
    path("galleries/", GalleryList.as_view(), name="gallery_list"),
    path("galleries/<int:pk>/", GalleryDetail.as_view(), name="gallery_detail"),
    path("galleries/<int:pk>/photos/", GalleryPhotoList.as_view(), name="gallery_photo_list"),
    path("cases/<int:pk>/sketches/<int:sketch_pk>/searches/", SearchStart.as_view(), name="search_start"),
    path("cases/<int:pk>/searches/<int:search_pk>/", SearchDetail.as_view(), name="search_detail"),
]
