"""The second login factor: enrolling an authenticator app, and the code asked for after the password."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from .. import audit, lockout, totp
from .composites import back_to


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code from your authenticator app",
        max_length=10,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


def next_url(request: HttpRequest) -> str:
    return back_to(request, settings.LOGIN_REDIRECT_URL)


@login_required
def second_factor_setup(request: HttpRequest) -> HttpResponse:
    """Show a new authenticator key (kept in the session); the first correct code from the app enrols it."""
    if totp.confirmed_device(request.user):
        if not totp.passed(request):
            return redirect("second_factor_verify")
        messages.info(request, "Your authenticator app is already set up.")
        return redirect(next_url(request))
    secret = request.session.get(totp.PENDING_SECRET_KEY) or totp.new_secret()
    request.session[totp.PENDING_SECRET_KEY] = secret
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if totp.enrol(request.user, secret, form.cleaned_data["code"]):
            del request.session[totp.PENDING_SECRET_KEY]
            audit.record(
                audit.Action.SECOND_FACTOR_ENROLLED, request=request, object_type="user", object_id=request.user.pk
            )
            totp.mark_passed(request)
            messages.success(request, "Your authenticator app is set up: each login will ask for a code from it.")
            return redirect(next_url(request))
        form.add_error("code", "That code does not match. Check the app shows this account, then try the newest code.")
    context = {
        "form": form,
        "secret": secret,
        "uri": totp.provisioning_uri(request.user, secret),
        "next": next_url(request),
    }
    return render(request, "registration/second_factor_setup.html", context, status=400 if form.errors else 200)


@login_required
def second_factor_verify(request: HttpRequest) -> HttpResponse:
    """Ask for the authenticator's code after the password; failures count towards the lockout."""
    device = totp.confirmed_device(request.user)
    if device is None:
        return redirect("second_factor_setup" if totp.required_for(request.user) else next_url(request))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        username = request.user.get_username()
        if lockout.locked_out(username, request):
            form.add_error("code", "Too many failed attempts. Try again later, or ask an administrator.")
        elif totp.verify(device, form.cleaned_data["code"]):
            audit.record(
                audit.Action.LOGIN_SUCCEEDED,
                request=request,
                object_type="user",
                object_id=request.user.pk,
                details={"factor": "totp"},
            )
            totp.mark_passed(request)
            return redirect(next_url(request))
        else:
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
