"""Logging in, and getting back in after forgetting the password: Django's password reset views,
offered only where this platform can send email, and with a handful of emails per address an hour.
Failed logins are limited per address, and per browser for the browsers an account has logged in
from (device cookies, below).

Django's views keep the rules that matter: the answer to the reset form is the same whether or not
the address has an account, the link's token is signed over the account's password (so it works
once, and no longer after any password change) and expires after PASSWORD_RESET_TIMEOUT.
https://docs.djangoproject.com/en/5.2/topics/auth/default/#django.contrib.auth.views.PasswordResetView
"""
import hashlib
import secrets
import unicodedata

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import Http404
from django.urls import reverse_lazy
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext_lazy as _

from tenants.backends import stored_login_name

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
#
# Alone, that limit would let anyone who knows an owner's address keep the owner out, 15 minutes at
# a time, for as long as they liked. So the browsers an account has logged in from are counted
# apart (OWASP's device cookies:
# https://owasp.org/www-community/Slow_Down_Online_Guessing_Attacks_with_Device_Cookies): each
# successful login leaves the browser a signed cookie naming the account and a random nonce, and
# an attempt that presents a valid one for the account it logs in to counts against that nonce's
# own counter, with the same limit, instead of the address's shared one. Strangers' failures then
# lock out only the browsers the account has never logged in from; a browser with a cookie that
# fails as often is refused in its turn (its own counter), and does not fall back to the shared
# counter (a stolen cookie would get the shared tries too, and could lock the owner's other
# browsers out). A cookie lets a browser try passwords, never log in without one.
LOGIN_FAILURES_PER_NAME = 10
LOGIN_FAILURE_WINDOW_SECONDS = 900

DEVICE_COOKIE_NAME = "login_device"
# Signatures made for this cookie are good for nothing else, and no other signature is good here.
DEVICE_COOKIE_SALT = "tenants.accounts.device-cookie"


def _counter_key(prefix: str, email: str) -> str:
    # Normalised as PasswordResetForm compares addresses (NFKC, then casefold), so Ana@ and ana@
    # share one counter; hashed, so the key is short and plain ASCII for every cache backend.
    # (A device cookie's nonce is lowercase hex, which the normalising leaves as it is.)
    normalised = unicodedata.normalize("NFKC", email.strip()).casefold()
    return f"{prefix}:" + hashlib.sha256(normalised.encode()).hexdigest()


def _incr_within_window(key: str, delta: int, window_seconds: int) -> int | None:
    """cache.incr, None when the key has expired. Django's Redis backend checks that the key exists,
    then increments: a key that expires between the two is made again by the increment, with no
    expiry, and would count for ever. Such a key holds exactly `delta` (the count was at least 1),
    and is given its window back (an increment) or dropped (a decrement)."""
    try:
        count = cache.incr(key, delta)
    except ValueError:
        return None
    if count == delta:
        if delta > 0:
            cache.touch(key, window_seconds)
        else:
            cache.delete(key)
    return count


def _count_login_attempt(key: str) -> int:
    """Count one attempt on the counter `key` and return the count, this one included."""
    if cache.add(key, 1, timeout=LOGIN_FAILURE_WINDOW_SECONDS):
        return 1
    count = _incr_within_window(key, 1, LOGIN_FAILURE_WINDOW_SECONDS)
    if count is None:  # the window ended in between: this attempt starts a new one
        cache.add(key, 1, timeout=LOGIN_FAILURE_WINDOW_SECONDS)
        return 1
    return count


def _login_attempt_succeeded(key: str) -> None:
    # The attempt was counted before the password was checked; a right one is no failure. (When
    # the window ended meanwhile, there is nothing left to take back.)
    _incr_within_window(key, -1, LOGIN_FAILURE_WINDOW_SECONDS)


def _password_digest(password_hash: str) -> str:
    # Ties a device cookie to the account's password as it was at the login: after any change of
    # password (a reset above all, when the owner fears someone else knew it) the browsers that
    # logged in before, an intruder's among them, are strangers again. (So, more rarely, after
    # Django rehashes a password at login for a stronger hasher: that login's browser gets a new
    # cookie, the account's other browsers count as strangers until they log in again.) Keyed with
    # SECRET_KEY, so the cookie, which anyone holding it can read, tells nothing about the hash.
    return salted_hmac(f"{DEVICE_COOKIE_SALT}.password", password_hash, algorithm="sha256").hexdigest()


def remember_device(request, user) -> None:
    """Give the browser of `request` a fresh device cookie for `user`, set on the response by
    DeviceCookieMiddleware. Called on every login (the user_logged_in signal, tenants/apps.py), and
    where a reset link sets a new password: the link proves the mailbox, as a login the password."""
    if request is None:
        return
    payload = {"u": user.pk, "n": secrets.token_hex(16), "p": _password_digest(user.password)}
    request.login_device_cookie = signing.dumps(payload, salt=DEVICE_COOKIE_SALT)


def on_user_logged_in(sender, request, user, **kwargs) -> None:
    remember_device(request, user)


class DeviceCookieMiddleware:
    """Sets the device cookie that a login during the request chose (remember_device). A
    middleware, because neither the login form nor the signal has the response, and /admin/login/
    is Django's own view. Logging out leaves the cookie: it is what lets the owner back in while
    strangers hold the address's counter at its limit."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        value = getattr(request, "login_device_cookie", None)
        if value:
            response.set_cookie(
                DEVICE_COOKIE_NAME,
                value,
                max_age=settings.LOGIN_DEVICE_COOKIE_AGE,
                secure=settings.SESSION_COOKIE_SECURE,  # SECURE_COOKIES in production, as the session's
                httponly=True,
                samesite="Lax",
            )
        return response


def _trusted_device(request, username: str) -> str | None:
    """The nonce of the device cookie that `request` presents, if it is one of ours, unexpired, for
    the account that `username` logs in to, and made with its present password; else None."""
    value = request.COOKIES.get(DEVICE_COOKIE_NAME) if request is not None else None
    if not value:
        return None
    try:
        payload = signing.loads(value, salt=DEVICE_COOKIE_SALT, max_age=settings.LOGIN_DEVICE_COOKIE_AGE)
        account_pk, nonce, digest = payload["u"], payload["n"], payload["p"]
    except (signing.BadSignature, TypeError, KeyError, ValueError):  # forged, expired, or not ours
        return None
    # Only a browser holding a valid cookie gets this far, and its cookie names an account already.
    account = (
        get_user_model()._default_manager.filter(username=stored_login_name(username))
        .values_list("pk", "password")
        .first()
    )
    if account is None or account[0] != account_pk:
        return None
    if not constant_time_compare(digest, _password_digest(account[1])):
        return None
    return nonce


class LoginThrottleMixin:
    """Refuses a login name that has had its failures for the window, for any AuthenticationForm;
    from a browser with a device cookie for that account, refuses it only once that browser has
    had its own failures for the window.

    The attempt is counted before the password is checked, not after it failed: checking takes a
    while (the password hasher), and requests sent side by side would each find the count below the
    limit and all be tried, however many. A right password takes its count back."""

    def clean(self):
        username = self.cleaned_data.get("username")
        counter = None
        if username:
            device = _trusted_device(getattr(self, "request", None), username)
            if device:
                counter = _counter_key("login-failures-device", device)
            else:
                # The account's own name, as the login will match it: PostgreSQL matches "admın"
                # (a dotless ı) to admin, which casefolding alone would count apart, ten more
                # tries for every i in the address.
                counter = _counter_key("login-failures", stored_login_name(username))
            if _count_login_attempt(counter) > LOGIN_FAILURES_PER_NAME:
                # The same words from a trusted browser: they say nothing of the account either way.
                raise ValidationError(
                    _("Too many failed logins with this address: try again in %(minutes)d minutes."),
                    code="too_many_failures",
                    params={"minutes": LOGIN_FAILURE_WINDOW_SECONDS // 60},
                )
        cleaned_data = super().clean()
        if counter:
            _login_attempt_succeeded(counter)
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
    key = _counter_key("password-reset", stored_login_name(email))  # one account, one counter (above)
    if cache.add(key, 1, timeout=PASSWORD_RESET_WINDOW_SECONDS):
        return True
    count = _incr_within_window(key, 1, PASSWORD_RESET_WINDOW_SECONDS)
    if count is None:  # the window ended between the two calls: this request starts a new one
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

    def form_valid(self, form):
        response = super().form_valid(form)
        # The new password made every device cookie of the account a stranger's; the browser that
        # set it is the owner's, and logs in with it even while strangers hold the address's
        # counter at its limit.
        remember_device(self.request, form.user)
        return response


class PasswordResetCompleteView(_EmailRequiredMixin, auth_views.PasswordResetCompleteView):
    template_name = "tenants/password_reset_complete.html"
