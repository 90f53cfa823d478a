from rest_framework.throttling import SimpleRateThrottle

from tenants.models import ApiKey


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Per-key request rate; per user for sessions, per address otherwise.

    Counts live in the default cache: local memory by default, Redis in
    production (CACHE_URL), where every web process shares them.
    """

    scope = "api_key"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiKey):
            ident = f"key:{request.auth.prefix}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class ServingRateThrottle(ApiKeyRateThrottle):
    """The storefront's reads (recommendations, search) come at page-view rates: a higher limit of their own."""

    scope = "serving"
