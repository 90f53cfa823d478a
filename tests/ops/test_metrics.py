"""/metrics: django-prometheus' request histograms and the platform's own figures."""
import re

import pytest
from django.urls import reverse

from training.models import JobStatus


def _metrics(client, **headers) -> str:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def _value(text: str, series: str) -> float:
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    assert match, f"{series} is not in /metrics"
    return float(match.group(1))


def test_metrics_count_jobs_of_every_tenant_by_status(client, tenant, other_tenant, make_job):
    make_job(tenant, status=JobStatus.QUEUED)
    make_job(other_tenant, status=JobStatus.QUEUED)
    make_job(other_tenant, status=JobStatus.FAILED)
    text = _metrics(client)
    assert _value(text, 'platform_training_jobs{status="queued"}') == 2
    assert _value(text, 'platform_training_jobs{status="failed"}') == 1
    assert _value(text, 'platform_training_jobs{status="running"}') == 0
    assert _value(text, "platform_training_jobs_stuck") == 0


def test_metrics_show_the_engine_caches(client, db):
    text = _metrics(client)
    for cache in ("models", "catalogs"):
        assert _value(text, f'platform_engine_cache_entries{{cache="{cache}"}}') >= 0
        assert _value(text, f'platform_engine_cache_bytes{{cache="{cache}"}}') >= 0
        assert _value(text, f'platform_engine_cache_max_bytes{{cache="{cache}"}}') > 0


def test_metrics_have_request_latency_by_view_after_a_request(client, db):
    client.get(reverse("healthz"))
    text = _metrics(client)
    assert re.search(
        r'^django_http_requests_latency_seconds_by_view_method_count\{method="GET",view="healthz"\} [1-9]',
        text, re.MULTILINE,
    )


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = "scrape-me"
    return "scrape-me"


def test_with_a_token_set_a_scrape_without_it_is_refused(client, db, metrics_token):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401


def test_with_a_token_set_a_scrape_with_it_is_answered(client, db, metrics_token):
    assert "platform_training_jobs" in _metrics(client, HTTP_AUTHORIZATION=f"Bearer {metrics_token}")
