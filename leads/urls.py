from django.urls import path

from .views import galleries, searches

urlpatterns = [
    path("galleries/", galleries.gallery_list, name="gallery_list"),
    path("galleries/<int:pk>/", galleries.gallery_detail, name="gallery_detail"),
    path("galleries/<int:pk>/progress.json", galleries.gallery_progress, name="gallery_progress"),
    path("galleries/<int:pk>/import/", galleries.gallery_import, name="gallery_import"),
    path("galleries/<int:pk>/grants/", galleries.gallery_grant, name="gallery_grant"),
    path("galleries/<int:pk>/grants/<int:user_id>/revoke/", galleries.gallery_revoke, name="gallery_revoke"),
    path(
        "galleries/<int:pk>/photos/<int:photo_pk>/thumbnail",
        galleries.gallery_photo_thumbnail,
        name="gallery_photo_thumbnail",
    ),
    path(
        "galleries/<int:pk>/photos/<int:photo_pk>/remove/", galleries.gallery_photo_remove, name="gallery_photo_remove"
    ),
    path("cases/<int:pk>/sketches/<int:sketch_pk>/searches/", searches.search_request, name="search_request"),
    path("cases/<int:pk>/searches/<int:search_pk>/", searches.search_detail, name="search_detail"),
    path("cases/<int:pk>/searches/<int:search_pk>/status.json", searches.search_status, name="search_status"),
    path(
        "cases/<int:pk>/searches/<int:search_pk>/leads/<int:rank>/thumbnail",
        searches.lead_thumbnail,
        name="lead_thumbnail",
    ),
    path("cases/<int:pk>/searches/<int:search_pk>/leads/<int:rank>/add/", searches.lead_add, name="lead_add"),
    path(
        "cases/<int:pk>/searches/<int:search_pk>/leads/<int:rank>/dismiss/", searches.lead_dismiss, name="lead_dismiss"
    ),
]
