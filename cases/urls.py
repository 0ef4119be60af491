from django.urls import path

from . import views

urlpatterns = [
    path("", views.case_list, name="case_list"),
    path("new/", views.case_create, name="case_create"),
    path("<int:pk>/", views.case_detail, name="case_detail"),
    path("<int:pk>/status/", views.case_status, name="case_status"),
    path("<int:pk>/members/", views.membership_grant, name="membership_grant"),
    path("<int:pk>/members/<int:user_id>/revoke/", views.membership_revoke, name="membership_revoke"),
    path("<int:pk>/sketches/new/", views.sketch_upload, name="sketch_upload"),
    path("<int:pk>/sketches/suggest-style/", views.sketch_suggest_style, name="sketch_suggest_style"),
    path("<int:pk>/sketches/<int:sketch_pk>/", views.sketch_detail, name="sketch_detail"),
    path("<int:pk>/sketches/<int:sketch_pk>/image", views.sketch_image, name="sketch_image"),
    path("<int:pk>/sketches/<int:sketch_pk>/crop.png", views.sketch_crop, name="sketch_crop"),
    path("<int:pk>/sketches/<int:sketch_pk>/hints/", views.sketch_hints, name="sketch_hints"),
    path("<int:pk>/sketches/<int:sketch_pk>/composites/", views.composites_request, name="composites_request"),
    path("<int:pk>/sketches/<int:sketch_pk>/status.json", views.composites_status, name="composites_status"),
    path("<int:pk>/composites/<int:composite_pk>/image", views.composite_image, name="composite_image"),
    path("<int:pk>/composites/<int:composite_pk>/release/", views.composite_release, name="composite_release"),
    path("<int:pk>/composites/<int:composite_pk>/download", views.composite_download, name="composite_download"),
    path("<int:pk>/composites/<int:composite_pk>/press/", views.press_sheet, name="press_sheet"),
    path("<int:pk>/candidates/new/", views.candidate_add, name="candidate_add"),
    path("<int:pk>/candidates/<int:candidate_pk>/image", views.candidate_image, name="candidate_image"),
    path("<int:pk>/compare/", views.compare, name="compare"),
    path("<int:pk>/morphs/new/", views.morph_request, name="morph_request"),
    path("<int:pk>/morphs/<int:morph_pk>/", views.morph_detail, name="morph_detail"),
    path("<int:pk>/morphs/<int:morph_pk>/status.json", views.morph_status, name="morph_status"),
    path("<int:pk>/morphs/<int:morph_pk>/image", views.morph_image, name="morph_image"),
    path("<int:pk>/morphs/<int:morph_pk>/release/", views.morph_release, name="morph_release"),
    path("<int:pk>/export/", views.case_export, name="case_export"),
]
