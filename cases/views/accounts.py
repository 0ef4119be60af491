"""Account pages beyond Django's own: an audited password change."""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.urls import reverse_lazy

from .. import audit


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
