"""Which web origins may call the API from a browser: those some tenant allows.

django-cors-headers answers the preflight, which carries no key, so it cannot
tell whose key will come: the preflight of a request with a key passes from any
origin. TenantApiView then checks the real request against the key's own tenant,
and only origins that some tenant allows may read an answer (its refusal apart).
We feed the library through its `check_request_enabled` signal, since its
settings hold only a fixed list:
https://github.com/adamchainz/django-cors-headers#signals
"""
import re

from corsheaders.conf import conf as cors_conf
from django.core.cache import cache

from tenants.models import Tenant

ALLOWED_ORIGINS_CACHE_KEY = "tenants:cors:allowed-origins"
# Every API request from a browser asks; a changed list is dropped from the cache
# at once (tenant_allowed_origins_set), so this only bounds edits made elsewhere
# (the admin) and a cache that missed the drop.
ALLOWED_ORIGINS_CACHE_SECONDS = 60


def allowed_origins_of_all_tenants() -> frozenset[str]:
    """Every origin that some tenant allows. Cross-tenant by nature: the preflight names no tenant."""
    return cache.get_or_set(ALLOWED_ORIGINS_CACHE_KEY, _allowed_origins_load, ALLOWED_ORIGINS_CACHE_SECONDS)


def _allowed_origins_load() -> frozenset[str]:
    lists = Tenant.objects.exclude(allowed_origins=[]).values_list("allowed_origins", flat=True)
    return frozenset(origin for origins in lists for origin in origins)


def allowed_origins_cache_clear() -> None:
    cache.delete(ALLOWED_ORIGINS_CACHE_KEY)


def cors_allow_tenant_origins(sender, request, **kwargs) -> bool:
    """Receiver of corsheaders' check_request_enabled: True lets the request's origin through."""
    # The library also asks this signal whether CORS applies to the path at all:
    # a True outside the API would open the merchant UI to storefront pages.
    if not re.match(cors_conf.CORS_URLS_REGEX, request.path_info):
        return False
    origin = request.headers.get("origin")
    if not origin:
        return False
    return _is_key_preflight(request) or origin in allowed_origins_of_all_tenants()


def _is_key_preflight(request) -> bool:
    """Whether this is the preflight of a request that sends an API key, from whatever origin.

    Let through, so that a page whose origin its key's tenant does not allow gets the real
    request's 403, which it may read and which says what to do (TenantApiView), rather than a bare
    CORS failure. Passing the preflight shows the page nothing: what it may read of the real
    response still depends on that response's own header. And no cookie comes along, as
    CORS_ALLOW_CREDENTIALS is off."""
    if request.method != "OPTIONS" or "access-control-request-method" not in request.headers:
        return False
    asked = request.headers.get("access-control-request-headers", "")
    return "authorization" in (name.strip().lower() for name in asked.split(","))
