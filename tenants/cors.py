"""Which web origins may call the API from a browser: those some tenant allows.

django-cors-headers answers the preflight, which carries no key, so all it can
ask is "does any tenant allow this origin?". TenantApiView then checks the real
request against the key's own tenant. We feed the library through its
`check_request_enabled` signal, since its settings hold only a fixed list:
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
    return bool(origin) and origin in allowed_origins_of_all_tenants()
