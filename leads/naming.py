"""How the audit log names this app's objects (``audit.naming``): one query per type and page."""

from cases.naming import numeric

from .models import Gallery, GalleryPhoto, LeadSearch


def gallery_names(ids: list[str]) -> dict[str, str]:
    return {
        str(pk): f"gallery {name}" for pk, name in Gallery.objects.filter(pk__in=numeric(ids)).values_list("pk", "name")
    }


def photo_names(ids: list[str]) -> dict[str, str]:
    photos = GalleryPhoto.objects.filter(pk__in=numeric(ids)).values_list("pk", "reference", "gallery__name")
    return {
        str(pk): f"photo {pk} ({reference or 'no reference'}) of gallery {gallery}" for pk, reference, gallery in photos
    }


def search_names(ids: list[str]) -> dict[str, str]:
    searches = LeadSearch.objects.filter(pk__in=numeric(ids)).values_list("pk", "gallery__name", "sketch_id")
    return {str(pk): f"search {pk} of gallery {gallery} with sketch {sketch}" for pk, gallery, sketch in searches}
