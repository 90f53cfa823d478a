"""Logging in, and getting back in after forgetting the password: Django's password reset views,
offered only where this platform can send email, and with a handful of emails per address an hour.

Django's views keep the rules that matter: the answer to the reset form is the same whether or not
the address has an account, the link's token is signed over the account's password (so it works
once, and no longer after any password change) and expires after PASSWORD_RESET_TIMEOUT.
https://docs.djangoproject.com/en/5.2/topics/auth/default/#django.contrib.auth.views.PasswordResetView
"""
import hashlib
import unicodedata

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import Http404
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

# A reset email goes to whatever address anyone types in the form: without a limit, the form would
# let anyone flood a colleague's mailbox (and our sender's reputation). This many requests per
# address are served in an hour, counted from the first; past it the form answers as always and
# sends nothing. The counter is in the default cache (shared by every web process when CACHE_URL
# is Redis, as in production).
PASSWORD_RESET_EMAILS_PER_ADDRESS = 5
PASSWORD_RESET_WINDOW_SECONDS = 3600


# Without a limit, the login form lets anyone try passwords against an owner's address as fast as
# the server answers. After this many failures for one login name, counted from the first in the
# window, that name is refused for the rest of the window, even with the right password (else the
# guessing goes on); the refusal reads the same whether or not the name has an account. Per name,
# not per client address: behind a proxy every visitor has the proxy's. Forgetting the password
# still works meanwhile (the reset link).
LOGIN_FAILURES_PER_NAME = 10
LOGIN_FAILURE_WINDOW_SECONDS = 900


def _counter_key(prefix: str, email: str) -> str:
    # Normalised as PasswordResetForm compares addresses (NFKC, then casefold), so Ana@ and ana@
    # share one counter; hashed, so the key is short and plain ASCII for every cache backend.
    normalised = unicodedata.normalize("NFKC", email.strip()).casefold()
    return f"{prefix}:" + hashlib.sha256(normalised.encode()).hexdigest()


def login_failure_count(username: str) -> int:
    """Count one attempt against `username` and return the count, this one included."""
    key = _counter_key("login-failures", username)
    if cache.add(key, 1, timeout=LOGIN_FAILURE_WINDOW_SECONDS):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # the window ended in between: this attempt starts a new one
        cache.add(key, 1, timeout=LOGIN_FAILURE_WINDOW_SECONDS)
        return 1


def _login_attempt_succeeded(username: str) -> None:
    # The attempt was counted before the password was checked; a right one is no failure.
    try:
        cache.decr(_counter_key("login-failures", username))
    except ValueError:  # the window ended meanwhile: nothing left to take back
        pass


class LoginThrottleMixin:
    """Refuses a login name that has had its failures for the window, for any AuthenticationForm.

    The attempt is counted before the password is checked, not after it failed: checking takes a
    while (the password hasher), and requests sent side by side would each find the count below the
    limit and all be tried, however many. A right password takes its count back."""

    def clean(self):
        username = self.cleaned_data.get("username")
        if username and login_failure_count(username) > LOGIN_FAILURES_PER_NAME:
            raise ValidationError(
                _("Too many failed logins with this address: try again in %(minutes)d minutes."),
                code="too_many_failures",
                params={"minutes": LOGIN_FAILURE_WINDOW_SECONDS // 60},
            )
        cleaned_data = super().clean()
        if username:
            _login_attempt_succeeded(username)
        return cleaned_data


class ThrottledAuthenticationForm(LoginThrottleMixin, AuthenticationForm):
    """Django's login form, refusing a login name that has had its failures for the window."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Django's says both fields may be case-sensitive; the address is matched regardless of
        # case here (tenants.backends), so that would send people hunting for the wrong mistake.
        self.error_messages = {
            **self.error_messages,
            "invalid_login": _("The email address or the password is wrong. Passwords are case-sensitive."),
        }


class ThrottledAdminAuthenticationForm(LoginThrottleMixin, AdminAuthenticationForm):
    """/admin/login/ checks any account's password before it checks is_staff: without the same
    limit, it would be the way around the login page's, for staff accounts above all."""


def password_reset_allowed(email: str) -> bool:
    """Count one reset request for `email`; False once the address has had its handful this hour."""
    key = _counter_key("password-reset", email)
    cache.add(key, 0, timeout=PASSWORD_RESET_WINDOW_SECONDS)
    try:
        count = cache.incr(key)
    except ValueError:  # the window ended between the two calls: this request starts a new one
        cache.add(key, 1, timeout=PASSWORD_RESET_WINDOW_SECONDS)
        return True
    return count <= PASSWORD_RESET_EMAILS_PER_ADDRESS


class RateLimitedPasswordResetForm(PasswordResetForm):
    """Django's form (addresses matched regardless of case, active accounts with a password only),
    finding no account for an address that has had its emails for the hour."""

    def get_users(self, email):
        if not password_reset_allowed(email):
            return iter(())
        return super().get_users(email)


class _EmailRequiredMixin:
    """Without EMAIL_URL, Django's default backend is SMTP on localhost:25, which hardly any
    machine runs: a reset email would be lost while the page said it was on its way. So these
    pages exist only where email is set up (settings.PASSWORD_RESET_BY_EMAIL), and are a 404
    elsewhere; the login page then offers no reset either."""

    def dispatch(self, request, *args, **kwargs):
        if not settings.PASSWORD_RESET_BY_EMAIL:
            raise Http404
        return super().dispatch(request, *args, **kwargs)


class LoginView(auth_views.LoginView):
    """Django's login page, which offers "Forgot your password?" where the link can be emailed."""

    template_name = "tenants/login.html"
    form_class = ThrottledAuthenticationForm

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "password_reset_by_email": settings.PASSWORD_RESET_BY_EMAIL}


class PasswordResetView(_EmailRequiredMixin, auth_views.PasswordResetView):
    form_class = RateLimitedPasswordResetForm
    template_name = "tenants/password_reset_form.html"
    # Rendered during the request, so in its language.
    subject_template_name = "tenants/email/password_reset_subject.txt"
    email_template_name = "tenants/email/password_reset.txt"
    success_url = reverse_lazy("password-reset-sent")


class PasswordResetSentView(_EmailRequiredMixin, auth_views.PasswordResetDoneView):
    template_name = "tenants/password_reset_sent.html"


class PasswordResetConfirmView(_EmailRequiredMixin, auth_views.PasswordResetConfirmView):
    template_name = "tenants/password_reset_confirm.html"
    success_url = reverse_lazy("password-reset-complete")


class PasswordResetCompleteView(_EmailRequiredMixin, auth_views.PasswordResetCompleteView):
    template_name = "tenants/password_reset_complete.html"
