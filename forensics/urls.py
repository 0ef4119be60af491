from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from accounts.views import home
from audit.api import AuditEventList
from cases.api.urls import urlpatterns as cases_api
from cases.health import healthz
from leads.api import urlpatterns as leads_api

api = [*cases_api, *leads_api, path("audit-events/", AuditEventList.as_view(), name="audit_event_list")]

urlpatterns = [
    path("", home, name="home"),
    path("cases/", include("cases.urls")),
    path("audit/", include("audit.urls")),
    path("", include("leads.urls")),
    path("accounts/", include("accounts.urls")),
    path("api/v1/", include((api, "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
