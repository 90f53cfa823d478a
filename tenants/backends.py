"""Logging in with an email address as people type it: Ana@Acme.test is ana@acme.test."""
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


def stored_login_name(username: str) -> str:
    """The account name that `username` logs in to: itself where an account has exactly that name,
    else the one account's whose name matches it regardless of case, if just one does (else itself,
    which then finds no account)."""
    users = get_user_model()._default_manager
    if not users.filter(username=username).exists():
        matches = list(users.filter(username__iexact=username).values_list("username", flat=True)[:2])
        if len(matches) == 1:
            return matches[0]
    return username


class CaseInsensitiveUsernameBackend(ModelBackend):
    """Django's ModelBackend, with the login name matched regardless of case. Where two accounts'
    names differ only by case (made before this), the exact spelling is needed, as before."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is not None:
            username = stored_login_name(username)
        return super().authenticate(request, username=username, password=password, **kwargs)
