"""API key authentication: `Authorization: Bearer <key>`."""
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from tenants.models import ApiKey
from tenants.selectors import api_key_from_presented
from tenants.services import api_key_mark_used


class ApiKeyClient:
    """The principal behind an API key: a storefront, not a person."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False
    pk = None

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key

    def __str__(self) -> str:
        return f"API key {self.api_key.display_prefix}"


class ApiKeyAuthentication(BaseAuthentication):
    keyword = "bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.encode():
            return None  # not ours: session authentication may still apply
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Send the header as 'Authorization: Bearer <key>'."))
        try:
            presented = parts[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("The API key contains invalid characters."))
        api_key = api_key_from_presented(presented)
        if api_key is None:
            raise exceptions.AuthenticationFailed(_("The API key is not valid, or has been revoked."))
        api_key_mark_used(api_key)
        return ApiKeyClient(api_key), api_key

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'
