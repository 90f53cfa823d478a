"""API key authentication: `Authorization: Bearer <key>`."""
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from tenants.models import KEY_KIND_TAGS, ApiKey
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
        if parts and parts[0].lower() != self.keyword.encode() and self._holds_one_of_our_keys(parts):
            # "Api-Key sk_..." (djangorestframework-api-key's own scheme), "Token sk_..." or the key
            # alone: refused as a missing header, it told the developer they had sent nothing.
            raise exceptions.AuthenticationFailed(self._how_to_send_it())
        if not parts or parts[0].lower() != self.keyword.encode():
            return None  # not ours: session authentication may still apply
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(self._how_to_send_it())
        try:
            presented = parts[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("The API key contains invalid characters."))
        api_key = api_key_from_presented(presented)
        if api_key is None:
            raise exceptions.AuthenticationFailed(_("The API key is not valid, or has been revoked."))
        api_key_mark_used(api_key)
        return ApiKeyClient(api_key), api_key

    @staticmethod
    def _holds_one_of_our_keys(parts: list[bytes]) -> bool:
        # Another scheme's credentials (a proxy's Basic) never look like ours: base64 has no "_".
        return any(part.startswith(f"{tag}_".encode()) for part in parts for tag in KEY_KIND_TAGS.values())

    @staticmethod
    def _how_to_send_it() -> str:
        return _("Send the header as 'Authorization: Bearer <key>'.")

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'
