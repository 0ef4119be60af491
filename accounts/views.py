"""Account pages beyond Django's login and logout: an audited password change,
the second factor (enrolling an authenticator app, the code asked for after
the password, single-use backup codes), and the user's API tokens."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.cache import add_never_cache_headers
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods, require_POST

import audit

from . import lockout, otp, tokens
from .models import ApiToken
from .navigation import back_to
from .roles import GlobalRole, has_global_role


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Where a signed-in user starts: the audit log for an auditor who works on no case, else the case list."""
    user = request.user
    works_on_cases = user.is_superuser or user.case_memberships.exists()
    works_on_cases |= any(has_global_role(user, role) for role in (GlobalRole.FORENSIC_ARTIST, GlobalRole.INVESTIGATOR))
    if not works_on_cases and has_global_role(user, GlobalRole.AUDITOR):
        return redirect("audit_list")
    return redirect("case_list")


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change, audited."""

    success_url = reverse_lazy("case_list")

    def form_valid(self, form):
        response = super().form_valid(form)
        audit.record(
            audit.Action.PASSWORD_CHANGED,
            user=self.request.user,
            request=self.request,
            object_type="user",
            object_id=self.request.user.pk,
        )
        messages.success(self.request, "Your password was changed.")
        return response


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code from your authenticator app, or a backup code",
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True}),
    )


def next_url(request: HttpRequest) -> str:
    return back_to(request, settings.LOGIN_REDIRECT_URL)


@login_required
def second_factor_setup(request: HttpRequest) -> HttpResponse:
    """Show a new authenticator key (kept in the session); the first correct code from the app enrols it and shows
    the backup codes, once."""
    if otp.has_second_factor(request.user):
        if not request.user.is_verified():
            return redirect("second_factor_verify")
        messages.info(request, "Your authenticator app is already set up.")
        return redirect(next_url(request))
    key = request.session.get(otp.PENDING_KEY) or otp.new_key()
    request.session[otp.PENDING_KEY] = key
    form = CodeForm(request.POST or None)
    form.fields["code"].label = "Code from your authenticator app"
    if request.method == "POST" and form.is_valid():
        codes = otp.enrol(request.user, key, form.cleaned_data["code"])
        if codes is not None:
            del request.session[otp.PENDING_KEY]
            audit.record(
                audit.Action.SECOND_FACTOR_ENROLLED, request=request, object_type="user", object_id=request.user.pk
            )
            otp.mark_passed(request, otp.authenticator_of(request.user))
            # Shown once, in this response: they are stored only as single-use tokens.
            return render(request, "registration/backup_codes.html", {"codes": codes, "next": next_url(request)})
        form.add_error("code", "That code does not match. Check the app shows this account, then try the newest code.")
    context = {
        "form": form,
        "secret": otp.secret_of(key),
        "uri": otp.provisioning_uri(request.user, key),
        "next": next_url(request),
    }
    return render(request, "registration/second_factor_setup.html", context, status=400 if form.errors else 200)


@login_required
def second_factor_verify(request: HttpRequest) -> HttpResponse:
    """Ask for the authenticator's code (or a backup code) after the password; failures count towards the lockout."""
    if not otp.has_second_factor(request.user):
        return redirect("second_factor_setup" if otp.required_for(request.user) else next_url(request))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        username = request.user.get_username()
        device = None
        if lockout.locked_out(username, request):
            form.add_error("code", "Too many failed attempts. Try again later, or ask an administrator.")
        else:
            device = otp.verify(request.user, form.cleaned_data["code"])
        if device is not None:
            factor = "backup_code" if otp.is_backup_code(device) else "totp"
            audit.record(
                audit.Action.LOGIN_SUCCEEDED,
                request=request,
                object_type="user",
                object_id=request.user.pk,
                details={"factor": factor},
            )
            otp.mark_passed(request, device)
            if factor == "backup_code":
                left = otp.backup_codes_left(request.user)
                messages.warning(request, f"You used a backup code; {left} left. Each works once.")
            return redirect(next_url(request))
        if not form.errors:
            audit.record(
                audit.Action.LOGIN_FAILED,
                request=request,
                username=username,
                object_type="user",
                object_id=request.user.pk,
                outcome=audit.Outcome.FAILED,
                details={"factor": "totp"},
            )
            form.add_error("code", "That code is not right, or it was already used. Enter the newest code.")
    context = {"form": form, "next": next_url(request)}
    return render(request, "registration/second_factor_verify.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def backup_codes_renew(request: HttpRequest) -> HttpResponse:
    """New backup codes (the old ones stop working), for a user who has passed the second factor."""
    if not request.user.is_verified():
        return redirect("second_factor_verify")
    codes = otp.renew_backup_codes(request.user)
    audit.record(
        audit.Action.SECOND_FACTOR_ENROLLED,
        request=request,
        object_type="user",
        object_id=request.user.pk,
        details={"backup_codes": "renewed"},
    )
    return render(request, "registration/backup_codes.html", {"codes": codes, "next": next_url(request)})


class ApiTokenForm(forms.ModelForm):
    lifetime = forms.TypedChoiceField(
        label="Expires after",
        choices=ApiToken.Lifetime.choices,
        coerce=int,
        initial=ApiToken.Lifetime.MONTH,
        help_text="A token cannot be extended: make a new one when it expires.",
    )

    class Meta:
        model = ApiToken
        fields = ["name"]


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    """The user's API tokens, and a new one: its secret is shown once, in this response, and never stored.

    A user who has an authenticator, or must have one, makes a token only
    after entering a code in this session (``otp.owed_before_new_credential``).
    """
    owed = otp.owed_before_new_credential(request)
    form = ApiTokenForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if owed is not None:
            return redirect(f"{reverse(owed)}?{urlencode({'next': reverse('api_tokens')})}")
        if form.is_valid():
            token, secret = tokens.issue(
                request.user, form.cleaned_data["name"], form.cleaned_data["lifetime"], request=request
            )
            response = render(request, "accounts/api_token_created.html", {"token": token, "secret": secret})
            add_never_cache_headers(response)
            return response
    context = {"form": form, "owed": owed, "tokens": ApiToken.objects.owned_by(request.user)}
    return render(request, "accounts/api_tokens.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def api_token_revoke(request: HttpRequest, token_pk: int) -> HttpResponse:
    """Ask, then revoke one of the user's tokens. No second factor needed: revoking only takes access away."""
    token = tokens.get_token_for(request.user, token_pk, request)
    if request.method == "POST":
        if tokens.revoke(token, by=request.user, request=request):
            messages.success(request, f"The token “{token.name}” was revoked; it no longer works.")
        return redirect("api_tokens")
    return render(request, "accounts/api_token_revoke.html", {"token": token})
