"""The API's request and error rates for the ops console: per-minute counters in the cache.

Why not django-prometheus' counters: they live in each process (every gunicorn worker has
its own), and only Prometheus, scraping every process and summing, sees the whole. The
console must answer on its own, from any one web process, with or without a Prometheus
server. So a light middleware adds each response under /api/ to two counters of the current
minute in the shared cache, `requests` and `errors` (5xx); the console reads the last
WINDOW_MINUTES minutes. In production the cache is Redis: every process counts into the same
keys, and an increment is atomic there. With the default local-memory cache (a laptop, the
tests) the counts are those of the process that renders the page.

The cost is one Redis round trip per API response (INCR and EXPIRE in one pipeline; other
cache backends take Django's add-then-incr). The counters are best effort:
a cache outage must not fail an API request, so its errors are logged and dropped. Prometheus
remains the source for latency, alerting and history; this is the glance at the last quarter
hour.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.utils.formats import number_format

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
WINDOW_MINUTES = 15
# A minute's counters outlive the window a little, so the oldest minute shown is complete.
_KEY_SECONDS = (WINDOW_MINUTES + 5) * 60


def _key(minute: int, kind: str) -> str:
    return f"ops:api-traffic:{minute}:{kind}"


def _minute(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // 60)


def _bump(key: str) -> None:
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        # Django's incr() is EXISTS then INCRBY, after an add(): three round trips on the serving
        # path. INCR creates a missing key at 1, and Django stores ints as plain Redis integers,
        # so get_many() reads them back. The key is only written during its own minute, so
        # renewing its expiry on each increment keeps it the window and a little more.
        full_key = backend.make_and_validate_key(key)
        client = backend._cache.get_client(full_key, write=True)
        with client.pipeline(transaction=False) as pipeline:
            pipeline.incr(full_key)
            pipeline.expire(full_key, _KEY_SECONDS)
            pipeline.execute()
        return
    # Django's cache has no "increment or create": add() creates the key, with its expiry, only
    # when it is missing, so two processes starting the same minute do not overwrite each other.
    if not cache.add(key, 1, timeout=_KEY_SECONDS):
        try:
            cache.incr(key)
        except ValueError:  # expired between add() and incr(): the minute is over anyway
            pass


def api_traffic_record(*, status_code: int, now: float | None = None) -> None:
    minute = _minute(now)
    try:
        _bump(_key(minute, "requests"))
        if status_code >= 500:
            _bump(_key(minute, "errors"))
    except Exception:  # the cache is down: the API answers all the same
        logger.debug("API traffic not counted: the cache failed", exc_info=True)


class ApiTrafficMiddleware:
    """Counts every response under /api/ (the storefront and merchant API) for the ops console.

    Put it near the top of MIDDLEWARE, so that it sees the responses the middleware below it
    returns early, and a view's exception as the 500 Django makes of it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith(API_PREFIX):
            api_traffic_record(status_code=response.status_code)
        return response


def error_percent(errors: int, requests: int) -> str | None:
    """The share of errors as the page prints it, in percent: one decimal, and never "0" when
    there were errors (3 in 1,000 is 0.3%, 1 in 10,000 is "< 0.1"). None without requests."""
    if not requests:
        return None
    percent = 100 * errors / requests
    if 0 < percent < 0.1:
        return "< " + number_format(0.1, decimal_pos=1)
    shown = round(percent, 1)
    return number_format(shown, decimal_pos=0 if shown == int(shown) else 1)


@dataclass(frozen=True)
class MinuteTraffic:
    start: datetime
    requests: int
    errors: int

    @property
    def error_share(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def error_percent(self) -> str | None:
        return error_percent(self.errors, self.requests)


@dataclass(frozen=True)
class ApiTraffic:
    minutes: list[MinuteTraffic]  # oldest first; the last one is the current, incomplete minute
    reason: str = ""  # why the counters could not be read
    # The time the minutes cover: the full ones and the part of the current one gone by.
    elapsed_minutes: float = 0.0

    @property
    def requests(self) -> int:
        return sum(minute.requests for minute in self.minutes)

    @property
    def errors(self) -> int:
        return sum(minute.errors for minute in self.minutes)

    @property
    def requests_per_minute(self) -> float:
        # Over the time elapsed, not over whole minutes: the current minute has only begun.
        return self.requests / self.elapsed_minutes if self.elapsed_minutes else 0.0

    @property
    def error_share(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def error_percent(self) -> str | None:
        return error_percent(self.errors, self.requests)


def api_traffic(*, minutes: int = WINDOW_MINUTES, now: float | None = None) -> ApiTraffic:
    """Requests and 5xx responses under /api/ in each of the last `minutes` minutes."""
    now = time.time() if now is None else now
    current = _minute(now)
    span = range(current - minutes + 1, current + 1)
    keys = [_key(minute, kind) for minute in span for kind in ("requests", "errors")]
    try:
        counts = cache.get_many(keys)
    except Exception as error:  # noqa: BLE001 - the cache is down: the page says so
        return ApiTraffic([], f"{type(error).__name__}: {error}")
    return ApiTraffic([
        MinuteTraffic(
            datetime.fromtimestamp(minute * 60, tz=UTC),
            int(counts.get(_key(minute, "requests"), 0)),
            int(counts.get(_key(minute, "errors"), 0)),
        )
        for minute in span
    ], elapsed_minutes=minutes - 1 + (now % 60) / 60)
