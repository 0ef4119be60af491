from django.urls import path

from . import views

urlpatterns = [
    path("", views.audit_list, name="audit_list"),
    path("export.csv", views.audit_export, {"format": "csv"}, name="audit_export_csv"),
    path("export.jsonl", views.audit_export, {"format": "jsonl"}, name="audit_export_jsonl"),
    path("chain/", views.audit_chain, name="audit_chain"),
]
