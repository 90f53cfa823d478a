"""Request rates per API key, counted in the shared cache (Redis in production).

DRF's SimpleRateThrottle keeps a list of every request's time per key and
writes it back whole on each request: at storefront rates (thousands a minute
per key) that list costs milliseconds per request to unpickle and store. A
fixed window needs one atomic increment. The price: up to twice the rate
across a window boundary, which a per-key abuse limit can live with.
"""
import time

from django.core.cache import cache
from rest_framework.throttling import SimpleRateThrottle

from tenants.models import ApiKey


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Per-key request rate; per user for sessions, per address otherwise."""

    scope = "api_key"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiKey):
            ident = f"key:{request.auth.prefix}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        window = int(time.time() // self.duration)
        window_key = f"{key}:{window}"
        try:
            count = cache.incr(window_key)  # one round trip, but for a window's first request
        except ValueError:  # the window's first request: start its counter
            if cache.add(window_key, 1, timeout=self.duration + 1):
                count = 1
            else:  # another process started it first
                count = cache.incr(window_key)
        self._window_end = (window + 1) * self.duration
        return count <= self.num_requests

    def wait(self):
        return max(0.0, self._window_end - time.time())


class ServingRateThrottle(ApiKeyRateThrottle):
    """The storefront's reads (recommendations, search) come at page-view rates: a higher limit of their own."""

    scope = "serving"


class EventsRateThrottle(ApiKeyRateThrottle):
    """Shopper events come from every shopper's browser under the store's one publishable key, at
    page-view rates or more: a limit of their own, counted apart from the reads'."""

    scope = "events"
