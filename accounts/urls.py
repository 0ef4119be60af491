from django.contrib.auth import views as auth_views
from django.urls import path

from . import views
from .lockout import LockoutAuthenticationForm

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True, authentication_form=LockoutAuthenticationForm),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("second-factor/", views.second_factor_verify, name="second_factor_verify"),
    path("second-factor/setup/", views.second_factor_setup, name="second_factor_setup"),
    path("second-factor/backup-codes/", views.backup_codes_renew, name="backup_codes_renew"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("api-tokens/", views.api_tokens, name="api_tokens"),
    path("api-tokens/<int:token_pk>/revoke/", views.api_token_revoke, name="api_token_revoke"),
]
