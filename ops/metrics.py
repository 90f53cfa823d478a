"""/metrics for Prometheus: django-prometheus' request figures and the platform's own.

django-prometheus' middleware pair (first and last in MIDDLEWARE) records request counts
and latency histograms (`django_http_requests_latency_seconds_by_view_method`, ...). The
platform adds, read at scrape time by a custom collector:

- `platform_training_jobs{status}`: fine-tuning jobs of every tenant, by status, and
  `platform_training_jobs_stuck`, running jobs whose heartbeat is stale (ops.selectors);
- `platform_engine_cache_bytes{cache}` / `platform_engine_cache_entries{cache}` /
  `platform_engine_cache_max_bytes{cache}`: the recommendation engine's in-process LRU caches
  (`models`: item embeddings and scorer state, `catalogs`), of the process that answered.

The collector lives in its own registry and is appended to django-prometheus' page, rather
than registered in the global one: with several web processes, django-prometheus reads the
per-process files of PROMETHEUS_MULTIPROC_DIR into a fresh registry that would leave it out,
and job counts, which come from the database, must not be summed over processes anyway.

Who may read it: a scraper has no session, so /metrics is protected at the network, as is
usual for Prometheus targets: the load balancer does not route /metrics from outside, and
Prometheus scrapes the web processes directly. As a second wall, when METRICS_TOKEN is set
every scrape must send `Authorization: Bearer <METRICS_TOKEN>` (Prometheus' `authorization`
scrape setting); otherwise the answer is a 401.
"""
from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count
from django.http import HttpResponse
from django.views.decorators.http import require_GET
from django_prometheus.exports import ExportToDjangoView
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ops.selectors import ops_stuck_job_count
from tenants.scope import outside_tenant_scope
from training.models import JobStatus, TrainingJob

logger = logging.getLogger(__name__)


def _engine_caches() -> dict:
    from recommendations.serving import engine_caches  # the engine loads numpy and torch helpers

    return engine_caches()


class PlatformCollector(Collector):
    """Figures read when Prometheus scrapes, not counted as things happen."""

    def collect(self):
        yield from self._jobs()
        yield from self._engine()

    def _jobs(self):
        try:
            with outside_tenant_scope():  # every tenant's, whoever scrapes
                by_status = dict(
                    TrainingJob.all_tenants.order_by().values_list("status").annotate(count=Count("id"))
                )
                stuck = ops_stuck_job_count()
        except DatabaseError as error:
            # The request figures still go out; a missing series is what alerting notices.
            logger.warning("job counts left out of /metrics: %s", error)
            return
        jobs = GaugeMetricFamily(
            "platform_training_jobs", "Fine-tuning jobs of every tenant, by status.", labels=["status"]
        )
        for status in JobStatus.values:
            jobs.add_metric([status], by_status.get(status, 0))
        yield jobs
        yield GaugeMetricFamily(
            "platform_training_jobs_stuck",
            "Running jobs whose heartbeat is older than TRAINING_HEARTBEAT_STALE_SECONDS.",
            value=stuck,
        )

    def _engine(self):
        used = GaugeMetricFamily(
            "platform_engine_cache_bytes", "Bytes held by the engine's cache in this process.", labels=["cache"]
        )
        entries = GaugeMetricFamily(
            "platform_engine_cache_entries", "Entries of the engine's cache in this process.", labels=["cache"]
        )
        limit = GaugeMetricFamily(
            "platform_engine_cache_max_bytes", "The byte bound of the engine's cache.", labels=["cache"]
        )
        for name, lru in _engine_caches().items():
            used.add_metric([name], lru.bytes)
            entries.add_metric([name], len(lru))
            limit.add_metric([name], lru.max_bytes)
        yield from (used, entries, limit)


PLATFORM_REGISTRY = CollectorRegistry()
PLATFORM_REGISTRY.register(PlatformCollector())


def _authorised(request) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        return True  # the network is the wall (see the module docstring)
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@require_GET
def metrics_view(request):
    if not _authorised(request):
        response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    response = ExportToDjangoView(request)
    response.content += generate_latest(PLATFORM_REGISTRY)
    return response
