from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from cases import views
from cases.health import healthz
from cases.lockout import LockoutAuthenticationForm
from cases.views.integrity import audit_chain
from cases.views.second_factor import second_factor_setup, second_factor_verify

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="case_list", permanent=False)),
    path("cases/", include("cases.urls")),
    path("audit/", views.audit_list, name="audit_list"),
    path("audit/export.csv", views.audit_export, {"format": "csv"}, name="audit_export_csv"),
    path("audit/export.jsonl", views.audit_export, {"format": "jsonl"}, name="audit_export_jsonl"),
    path("audit/chain/", audit_chain, name="audit_chain"),
    path("api/v1/", include("cases.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True, authentication_form=LockoutAuthenticationForm),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/second-factor/", second_factor_verify, name="second_factor_verify"),
    path("accounts/second-factor/setup/", second_factor_setup, name="second_factor_setup"),
    path("accounts/password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
