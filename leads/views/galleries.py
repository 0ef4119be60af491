"""Gallery pages: the list, a gallery with its progress, the browser import, grants and removals.

Administrators see and manage everything; a user granted a search sees a
gallery's name, description and size only, never its photos; anyone else
gets 404 (``access.get_gallery_for``).
"""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

import audit
from cases.custody import UNAVAILABLE_MESSAGE, StorageUnavailable
from cases.evidence import inline_image, shown_item

from .. import imports, services
from ..access import MANAGE, get_gallery_for, require_admin
from ..forms import GalleryForm, GrantForm, RemovalForm
from ..models import Gallery, GalleryGrant, GalleryPhoto, ImportBatch, is_admin

#: Photos per page of a gallery.
PHOTOS_PER_PAGE = 48
#: Most files one browser request may import (the page sends bigger selections in several requests).
FILES_PER_REQUEST = 20
#: Most photos a zip sent from the browser may hold: each is checked in the request, which must end
#: well inside the web server's timeout. Larger imports run on the server (``import_gallery``).
ZIP_FILES_PER_REQUEST = 1_000


@login_required
def gallery_list(request: HttpRequest) -> HttpResponse:
    galleries = Gallery.objects.searchable_by(request.user).select_related("owner")
    admin = is_admin(request.user)
    form = GalleryForm(request.POST or None) if admin else None
    if request.method == "POST":
        require_admin(request.user, request)
        if form.is_valid():
            try:
                gallery = services.create_gallery(user=request.user, request=request, **form.cleaned_data)
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, f"Gallery {gallery.name} is made. Import its photos below.")
                return redirect("gallery_detail", gallery.pk)
    page = Paginator(galleries, 50).get_page(request.GET.get("page"))
    status = 400 if form is not None and form.errors else 200
    return render(request, "leads/gallery_list.html", {"page": page, "form": form, "admin": admin}, status=status)


@login_required
@require_GET
def gallery_detail(request: HttpRequest, pk: int) -> HttpResponse:
    gallery = get_gallery_for(request.user, pk, request)
    admin = is_admin(request.user)
    context = {"gallery": gallery, "admin": admin, "progress": gallery.photos.progress()}
    if admin:
        photos = gallery.photos.select_related("removed_by").order_by("-pk")
        page = Paginator(photos, PHOTOS_PER_PAGE).get_page(request.GET.get("page"))
        context |= {
            "page": page,
            "grants": GalleryGrant.objects.filter(gallery=gallery).select_related("user", "granted_by"),
            "batches": ImportBatch.objects.filter(gallery=gallery).select_related("imported_by")[:10],
            "grant_form": GrantForm(),
            "removal_form": RemovalForm(),
            "files_per_request": FILES_PER_REQUEST,
            "zip_files_per_request": ZIP_FILES_PER_REQUEST,
        }
        shown = [photo for photo in page if photo.thumbnail]
        if shown:
            audit.record(
                audit.Action.EVIDENCE_VIEWED,
                request=request,
                obj=gallery,
                details={"page": "gallery", "items": [shown_item(photo) for photo in shown]},
            )
    return render(request, "leads/gallery_detail.html", context)


@login_required
@require_GET
def gallery_progress(request: HttpRequest, pk: int) -> JsonResponse:
    """How far the workers have got with the gallery's photos, for the progress bar."""
    gallery = get_gallery_for(request.user, pk, request)
    return JsonResponse(gallery.photos.progress(), headers={"Cache-Control": "no-store"})


def wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@login_required
@require_POST
def gallery_import(request: HttpRequest, pk: int) -> HttpResponse:
    """Import the photos (``photos``, many) or the zip (``archive``) of one request as one batch."""
    gallery = get_gallery_for(request.user, pk, request, ability=MANAGE)
    try:
        photos = request.FILES.getlist("photos")
        archive = request.FILES.get("archive")
    except Exception as error:  # a body Django's multipart parser cannot read
        return import_answer(request, gallery, message=f"The upload could not be read: {error}", status=400)
    if not photos and archive is None:
        return import_answer(request, gallery, message="Choose photos or a zip file to import.", status=400)
    if len(photos) > FILES_PER_REQUEST:
        return import_answer(request, gallery, message=f"Send at most {FILES_PER_REQUEST} files at a time.", status=400)
    files = [imports.Incoming(upload.name or "", upload.read) for upload in photos]
    try:
        if archive is not None:
            members = list(imports.zip_members(archive))
            if len(members) > ZIP_FILES_PER_REQUEST:
                raise imports.ArchiveRefused(
                    f"The zip holds {len(members)} files; a zip sent from the browser may hold at most "
                    f"{ZIP_FILES_PER_REQUEST}. Split it, or ask for it to be imported on the server "
                    "(python manage.py import_gallery)."
                )
            files += members
        batch = imports.import_photos(
            gallery, files, user=request.user, source=ImportBatch.Source.BROWSER, request=request
        )
    except imports.ArchiveRefused as refusal:
        return import_answer(request, gallery, message=str(refusal), status=400)
    except StorageUnavailable:
        return import_answer(request, gallery, message=UNAVAILABLE_MESSAGE, status=503)
    return import_answer(request, gallery, batch=batch)


def import_answer(
    request: HttpRequest, gallery: Gallery, *, batch: ImportBatch | None = None, message: str = "", status: int = 200
) -> HttpResponse:
    """JSON for the page's script; for a plain form, a message and a redirect back to the gallery."""
    if wants_json(request):
        if batch is None:
            return JsonResponse({"message": message}, status=status)
        return JsonResponse(
            {
                "batch": batch.pk,
                "added": batch.added,
                "duplicates": batch.duplicates,
                "refused": batch.refused,
                "manifest_sha256": batch.manifest_sha256,
                "outcomes": batch.outcomes,
            }
        )
    if batch is None:
        messages.error(request, message)
    else:
        messages.success(
            request, f"{batch.added} added, {batch.duplicates} duplicates, {batch.refused} refused (import {batch.pk})."
        )
    return redirect("gallery_detail", gallery.pk)


@login_required
@require_POST
def gallery_grant(request: HttpRequest, pk: int) -> HttpResponse:
    gallery = get_gallery_for(request.user, pk, request, ability=MANAGE)
    form = GrantForm(request.POST)
    if form.is_valid():
        try:
            services.grant_search(gallery, form.cleaned_data["username"], user=request.user, request=request)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"{form.cleaned_data['username']} may now search {gallery.name}.")
    else:
        messages.error(request, "Give the user name of the person to grant.")
    return redirect("gallery_detail", gallery.pk)


@login_required
@require_POST
def gallery_revoke(request: HttpRequest, pk: int, user_id: int) -> HttpResponse:
    gallery = get_gallery_for(request.user, pk, request, ability=MANAGE)
    member = get_object_or_404(get_user_model(), pk=user_id)
    services.revoke_search(gallery, member, user=request.user, request=request)
    messages.success(request, f"{member.get_username()} may no longer search {gallery.name}.")
    return redirect("gallery_detail", gallery.pk)


@login_required
@require_POST
def gallery_photo_remove(request: HttpRequest, pk: int, photo_pk: int) -> HttpResponse:
    gallery = get_gallery_for(request.user, pk, request, ability=MANAGE)
    photo = get_object_or_404(GalleryPhoto, gallery=gallery, pk=photo_pk)
    form = RemovalForm(request.POST)
    if form.is_valid():
        try:
            services.remove_photo(photo, user=request.user, reason=form.cleaned_data["reason"], request=request)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"Photo {photo.pk} is left out of new searches.")
    else:
        messages.error(request, "Give a reason for removing the photo.")
    return redirect("gallery_detail", gallery.pk)


@login_required
@require_GET
def gallery_photo_thumbnail(request: HttpRequest, pk: int, photo_pk: int) -> HttpResponse:
    """A photo's thumbnail for the gallery page: administrators only (the page's view lists it)."""
    gallery = get_gallery_for(request.user, pk, request)
    services.deny_photo_browsing(request.user, gallery, request)
    photo = get_object_or_404(GalleryPhoto, gallery=gallery, pk=photo_pk)
    if not photo.thumbnail:
        raise Http404("This photo has no thumbnail yet.")
    return inline_image(photo.thumbnail, photo.thumbnail_sha256, request=request, case=None, obj=photo)
