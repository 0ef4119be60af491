"""API endpoints. Each asks ``get_case_for`` first, exactly as the pages do,
and changes state only through ``cases.services``."""

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from .. import services
from ..access import Ability, get_case_for
from ..custody import UNAVAILABLE_MESSAGE, StorageUnavailable
from ..evidence import image_response, read_verified, record_view
from ..models import Case, CaseMembership, Composite, WitnessSketch
from ..upload_requests import unreadable_upload
from . import serializers as s

#: Worker-made data no serializer shows: 128 numbers a row to decode for nothing (#13).
UNSERIALIZED = ("face_descriptor",)
SKETCH_UNSERIALIZED = ("sketch__face_descriptor",)

ERRORS = {
    400: OpenApiResponse(s.MessageSerializer, description="Invalid input"),
    403: OpenApiResponse(s.MessageSerializer, description="Your role does not allow this"),
    404: OpenApiResponse(s.MessageSerializer, description="No such case (or not a member)"),
}
UNAVAILABLE = OpenApiResponse(s.MessageSerializer, description="Evidence storage is unavailable; nothing was stored")
IMAGE = OpenApiResponse(OpenApiTypes.BINARY, description="The image, checked against its SHA-256")


class CaseList(generics.ListCreateAPIView):
    """Cases you are a member of; open a case (you become its case lead)."""

    serializer_class = s.CaseSerializer

    def get_queryset(self) -> QuerySet:
        cases = Case.objects.visible_to(self.request.user).select_related("created_by")
        return cases.search(self.request.query_params.get("q", ""))

    def perform_create(self, serializer) -> None:
        serializer.instance = services.create_case(
            user=self.request.user, request=self.request, **serializer.validated_data
        )


class CaseDetail(generics.RetrieveAPIView):
    serializer_class = s.CaseSerializer

    def get_object(self) -> Case:
        return get_case_for(self.request.user, self.kwargs["pk"], self.request)


class MembershipList(generics.GenericAPIView):
    serializer_class = s.MembershipSerializer

    @extend_schema(responses={200: s.MembershipSerializer(many=True), **ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        case = get_case_for(request.user, pk, request)
        memberships = CaseMembership.objects.filter(case=case).select_related("user", "granted_by")
        return Response(s.MembershipSerializer(memberships, many=True).data)

    @extend_schema(request=s.MembershipGrantSerializer, responses={201: s.MembershipSerializer, **ERRORS})
    def post(self, request: Request, pk: int) -> Response:
        case = get_case_for(request.user, pk, request, ability=Ability.MANAGE_MEMBERS)
        grant = s.MembershipGrantSerializer(data=request.data)
        grant.is_valid(raise_exception=True)
        membership = services.grant_membership(
            case, grant.validated_data["username"], grant.validated_data["role"], user=request.user, request=request
        )
        return Response(s.MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


class MembershipDetail(generics.GenericAPIView):
    serializer_class = s.MembershipSerializer

    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request: Request, pk: int, user_id: int) -> Response:
        case = get_case_for(request.user, pk, request, ability=Ability.MANAGE_MEMBERS)
        member = get_object_or_404(get_user_model(), pk=user_id)
        services.revoke_membership(case, member, user=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SketchList(generics.GenericAPIView):
    serializer_class = s.SketchSerializer
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses={200: s.SketchSerializer(many=True), **ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        case = get_case_for(request.user, pk, request)
        sketches = WitnessSketch.objects.filter(case=case).select_related("uploaded_by").defer(*UNSERIALIZED)
        return Response(s.SketchSerializer(sketches, many=True).data)

    @extend_schema(request=s.SketchUploadSerializer, responses={201: s.SketchSerializer, **ERRORS, 503: UNAVAILABLE})
    def post(self, request: Request, pk: int) -> Response:
        case = get_case_for(request.user, pk, request, ability=Ability.UPLOAD_SKETCH)
        problem = unreadable_upload(request, user=request.user, case=case, object_type="witnesssketch")
        if problem:
            raise ValidationError({"image": [problem]})
        upload = s.SketchUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        data = upload.validated_data
        revises = None
        if data.get("revises") is not None:
            revises = get_object_or_404(WitnessSketch, case=case, pk=data["revises"])
        try:
            sketch = services.add_sketch(
                case,
                data["image"],
                user=request.user,
                style=data.get("style") or None,
                filename=data["image"].name,
                witness_reference=data["witness_reference"],
                interview_notes=data["interview_notes"],
                revises=revises,
                request=request,
            )
        except StorageUnavailable:
            return Response({"message": UNAVAILABLE_MESSAGE}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response(s.SketchSerializer(sketch).data, status=status.HTTP_201_CREATED)


class SketchDetail(generics.RetrieveAPIView):
    serializer_class = s.SketchSerializer

    def get_object(self) -> WitnessSketch:
        case = get_case_for(self.request.user, self.kwargs["pk"], self.request)
        return get_object_or_404(WitnessSketch, case=case, pk=self.kwargs["sketch_pk"])


class SketchImage(generics.GenericAPIView):
    serializer_class = s.MessageSerializer

    @extend_schema(responses={200: IMAGE, **ERRORS})
    def get(self, request: Request, pk: int, sketch_pk: int) -> HttpResponse:
        case = get_case_for(request.user, pk, request)
        sketch = get_object_or_404(WitnessSketch, case=case, pk=sketch_pk)
        data = read_verified(sketch.original, sketch.sha256, request=request, case=case, obj=sketch)
        record_view(request, sketch, case, sha256=sketch.sha256, download=True, via="api")
        name = sketch.original.name.rsplit("/", 1)[-1]
        return image_response(data, name, download_as=f"sketch-{sketch.pk}-{name}")


class CompositeRequest(generics.GenericAPIView):
    serializer_class = s.CompositeSerializer
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(
        request=s.CompositeRequestSerializer,
        responses={202: s.CompositeSerializer, 200: s.CompositeSerializer, **ERRORS},
    )
    def post(self, request: Request, pk: int, sketch_pk: int) -> Response:
        case = get_case_for(request.user, pk, request, ability=Ability.REQUEST_COMPOSITE)
        sketch = get_object_or_404(WitnessSketch, case=case, pk=sketch_pk)
        wanted = s.CompositeRequestSerializer(data=request.data, context={"sketch": sketch})
        wanted.is_valid(raise_exception=True)
        box = wanted.validated_data.get("box")
        composite, created = services.request_composite(
            sketch,
            wanted.validated_data["style"],
            user=request.user,
            parameters={"box": box} if box else {},
            request=request,
        )
        composite.refresh_from_db()
        # An identical request returns the composite already waiting or done (200), not a new one (202).
        return Response(
            s.CompositeSerializer(composite).data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK
        )


def composite_for(request: Request, pk: int, composite_pk: int, ability: Ability = Ability.VIEW_CASE) -> Composite:
    case = get_case_for(request.user, pk, request, ability=ability)
    composites = Composite.objects.select_related("sketch__case").defer(*UNSERIALIZED, *SKETCH_UNSERIALIZED)
    return get_object_or_404(composites, sketch__case=case, pk=composite_pk)


class CompositeList(generics.ListAPIView):
    serializer_class = s.CompositeSerializer

    def get_queryset(self) -> QuerySet:
        case = get_case_for(self.request.user, self.kwargs["pk"], self.request)
        return (
            Composite.objects.filter(sketch__case=case)
            .select_related("sketch__case", "requested_by", "released_by")
            .defer(*UNSERIALIZED, *SKETCH_UNSERIALIZED)
        )


class CompositeDetail(generics.RetrieveAPIView):
    """A composite's status, provenance and image URL (poll it until ``status`` is done or failed)."""

    serializer_class = s.CompositeSerializer

    def get_object(self) -> Composite:
        return composite_for(self.request, self.kwargs["pk"], self.kwargs["composite_pk"])


class CompositeImage(generics.GenericAPIView):
    serializer_class = s.MessageSerializer

    @extend_schema(responses={200: IMAGE, **ERRORS})
    def get(self, request: Request, pk: int, composite_pk: int) -> HttpResponse:
        composite = composite_for(request, pk, composite_pk)
        if composite.status != Composite.Status.DONE or not composite.image:
            return Response({"message": f"This composite is {composite.status}; it has no image yet."}, status=409)
        case = composite.sketch.case
        data = read_verified(composite.image, composite.output_sha256, request=request, case=case, obj=composite)
        record_view(request, composite, case, sha256=composite.output_sha256, download=True, via="api")
        return image_response(data, "composite.png", download_as=f"{case.reference}-composite-{composite.pk}.png")


class CompositeRelease(generics.GenericAPIView):
    serializer_class = s.CompositeSerializer

    @extend_schema(request=s.ReleaseSerializer, responses={200: s.CompositeSerializer, **ERRORS})
    def post(self, request: Request, pk: int, composite_pk: int) -> Response:
        composite = composite_for(request, pk, composite_pk, ability=Ability.RELEASE_COMPOSITE)
        release = s.ReleaseSerializer(data=request.data)
        release.is_valid(raise_exception=True)
        composite = services.release_composite(
            composite, user=request.user, reason=release.validated_data["reason"], request=request
        )
        return Response(s.CompositeSerializer(composite).data)
