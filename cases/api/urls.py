from django.urls import path

from . import views

urlpatterns = [
    path("cases/", views.CaseList.as_view(), name="case_list"),
    path("cases/<int:pk>/", views.CaseDetail.as_view(), name="case_detail"),
    path("cases/<int:pk>/memberships/", views.MembershipList.as_view(), name="membership_list"),
    path("cases/<int:pk>/memberships/<int:user_id>/", views.MembershipDetail.as_view(), name="membership_detail"),
    path("cases/<int:pk>/sketches/", views.SketchList.as_view(), name="sketch_list"),
    path("cases/<int:pk>/sketches/<int:sketch_pk>/", views.SketchDetail.as_view(), name="sketch_detail"),
    path("cases/<int:pk>/sketches/<int:sketch_pk>/image", views.SketchImage.as_view(), name="sketch_image"),
    path(
        "cases/<int:pk>/sketches/<int:sketch_pk>/composites/",
        views.CompositeRequest.as_view(),
        name="composite_request",
    ),
    path("cases/<int:pk>/composites/", views.CompositeList.as_view(), name="composite_list"),
    path("cases/<int:pk>/composites/<int:composite_pk>/", views.CompositeDetail.as_view(), name="composite_detail"),
    path("cases/<int:pk>/composites/<int:composite_pk>/image", views.CompositeImage.as_view(), name="composite_image"),
    path(
        "cases/<int:pk>/composites/<int:composite_pk>/release/",
        views.CompositeRelease.as_view(),
        name="composite_release",
    ),
]
