"""The ops console's second page: queue depths, workers, API traffic and compute per tenant."""
import contextlib
import re
import socket
import threading
import time
from datetime import timedelta
from unittest import mock

import pytest
from celery import Celery
from django.core.cache import caches
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from ops import broker
from ops.api_traffic import api_traffic, api_traffic_record, error_percent
from ops.selectors import month_start, ops_compute_by_tenant
from tenants.models import Tenant
from tests.factories import UserFactory


@pytest.fixture
def quiet_broker(tmp_path, monkeypatch):
    """A real broker with nothing in it and no worker listening: a filesystem one in a temporary folder."""
    folders = {name: tmp_path / name for name in ("in", "processed", "control")}
    for folder in folders.values():
        folder.mkdir()
    # Celery reads CELERY_BROKER_URL from the environment before any configuration, and the CI's
    # PostgreSQL pass sets it to its Redis: without this the "quiet" broker would be that one.
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    app = Celery("ops-test", broker="filesystem://", set_as_current=False)
    app.conf.broker_transport_options = {
        "data_folder_in": str(folders["in"]), "data_folder_out": str(folders["in"]),
        "processed_folder": str(folders["processed"]), "control_folder": str(folders["control"]),
    }
    monkeypatch.setattr(broker, "celery_app", app)
    monkeypatch.setattr(broker, "INSPECT_TIMEOUT_SECONDS", 0.1)
    return app


@pytest.fixture
def broker_down(monkeypatch):
    app = mock.MagicMock()
    app.connection_for_read.side_effect = OperationalError("Error 111 connecting to redis:6379. Connection refused.")
    # The workers' question checks the connection first, and fails fast, before any broadcast.
    app.connection_for_write.return_value.__enter__.return_value.ensure_connection.side_effect = (
        OperationalError("Connection refused")
    )
    monkeypatch.setattr(broker, "celery_app", app)
    return app


def _section(response, section_id: str) -> str:
    match = re.search(rf'<section class="card" id="{section_id}">.*?</section>', response.content.decode(), re.DOTALL)
    assert match, f"no section {section_id}"
    return match.group(0)


# --- Queues and workers ----------------------------------------------------------------------


def test_queue_depths_count_the_messages_waiting_in_each_queue(quiet_broker):
    quiet_broker.send_task("training.run_job", queue="gpu")
    quiet_broker.send_task("training.run_job", queue="gpu")
    quiet_broker.send_task("training.reap_stale_jobs", queue="default")
    assert broker.queue_depths() == [broker.QueueDepth("default", 1), broker.QueueDepth("gpu", 2)]


def test_queues_and_workers_render_when_the_broker_has_nothing_to_say(staff_client, quiet_broker):
    response = staff_client.get(reverse("ops:system"))
    assert response.status_code == 200
    queues = _section(response, "queues")
    assert re.search(r'id="queue-default">\s*<td>default</td>\s*<td>0</td>', queues)
    assert re.search(r'id="queue-gpu">\s*<td>gpu</td>\s*<td>0</td>', queues)
    assert "No worker is online" in _section(response, "workers")


def test_queues_and_workers_say_unknown_with_the_reason_when_the_broker_is_down(staff_client, broker_down):
    response = staff_client.get(reverse("ops:system"))
    assert response.status_code == 200
    queues = _section(response, "queues")
    assert queues.count("unknown") == 2 and "Connection refused" in queues
    workers = _section(response, "workers")
    assert "could not be asked" in workers and "Connection refused" in workers
    broker_down.control.inspect.assert_not_called()


def test_with_the_broker_unreachable_the_workers_question_fails_within_seconds(monkeypatch):
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # Celery would prefer it to the app's
    app = Celery("ops-unreachable", broker="redis://127.0.0.1:1/0", set_as_current=False)
    started = time.monotonic()

    answer = broker.workers_online(app=app)

    assert answer.reason and not answer.workers
    assert time.monotonic() - started < broker.BROKER_TIMEOUT_SECONDS + 1


@pytest.fixture
def silent_redis():
    """A server that accepts connections and never answers: a paused or half-open Redis."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held = []

    def accept_and_hold():
        with contextlib.suppress(OSError):
            while True:
                held.append(server.accept()[0])

    threading.Thread(target=accept_and_hold, daemon=True).start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    server.close()
    for connection in held:
        connection.close()


def _asked_within(seconds, question):
    answers = []
    asking = threading.Thread(target=lambda: answers.append(question()), daemon=True)
    asking.start()
    asking.join(timeout=seconds)
    assert answers, f"still waiting on the broker after {seconds} s"
    return answers[0]


def test_queue_depths_say_unknown_within_seconds_when_the_broker_accepts_but_never_answers(
    silent_redis, monkeypatch
):
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # Celery would prefer it to the app's
    app = Celery("ops-silent", broker=silent_redis, set_as_current=False)

    depths = _asked_within(3 * broker.BROKER_TIMEOUT_SECONDS + 2, lambda: broker.queue_depths(app=app))

    assert [depth.messages for depth in depths] == [None] * len(broker.QUEUES)
    assert all("imeout" in depth.reason for depth in depths)


def test_workers_say_unknown_within_seconds_when_the_broker_accepts_but_never_answers(silent_redis, monkeypatch):
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    app = Celery("ops-silent", broker=silent_redis, set_as_current=False)

    answer = _asked_within(3 * broker.BROKER_TIMEOUT_SECONDS + 2, lambda: broker.workers_online(app=app))

    assert answer.workers == [] and "imeout" in answer.reason


def test_workers_online_are_listed_with_what_they_run(staff_client, monkeypatch):
    app = mock.MagicMock()
    app.control.inspect.return_value.active.return_value = {
        "celery@gpu-1": [{"name": "training.run_job", "kwargs": {"tenant_id": 3, "job_id": 42}, "time_start": 1.0}],
        "celery@web-1": [],
    }
    monkeypatch.setattr(broker, "celery_app", app)
    monkeypatch.setattr(broker, "queue_depths", lambda **kwargs: [])
    workers = _section(staff_client.get(reverse("ops:system")), "workers")
    assert "celery@gpu-1" in workers and "training.run_job" in workers and "job_id=42" in workers
    assert re.search(r"celery@web-1</td>\s*<td><span class=\"empty\">idle", workers)
    app.control.inspect.assert_called_once_with(timeout=broker.INSPECT_TIMEOUT_SECONDS, connection=mock.ANY)


def test_a_workers_task_names_the_store_and_the_job_number_that_the_jobs_table_shows(
    staff_client, monkeypatch, tenant, other_tenant, make_job
):
    make_job(tenant)  # the other store's job is #1 of its own, and has another id
    job = make_job(other_tenant, status="running")
    app = mock.MagicMock()
    app.control.inspect.return_value.active.return_value = {
        "celery@gpu-1": [
            {"name": "training.run_job", "kwargs": {"tenant_id": other_tenant.pk, "job_id": job.pk}},
            {"name": "catalog.import", "kwargs": {"tenant_id": tenant.pk, "import_id": 7}},
        ],
    }
    monkeypatch.setattr(broker, "celery_app", app)
    monkeypatch.setattr(broker, "queue_depths", lambda **kwargs: [])
    workers = _section(staff_client.get(reverse("ops:system")), "workers")
    link = rf'<a href="/ops/\?tenant={other_tenant.pk}#job-{job.pk}">job #{job.number} of Globex Market</a>'
    assert re.search(link, workers)
    assert re.search(r"<code>catalog.import</code>\s*Acme Grocer", workers)


# --- Compute per tenant ----------------------------------------------------------------------


def test_compute_seconds_per_tenant_sum_this_months_jobs_only(tenant, other_tenant, make_job):
    now = timezone.now()
    last_month = month_start(now) - timedelta(days=1)
    make_job(tenant, status="succeeded", started_at=now, compute_seconds=100.0)
    make_job(tenant, status="running", started_at=now, compute_seconds=50.0)
    make_job(tenant, status="succeeded", started_at=last_month, compute_seconds=1000.0)
    make_job(other_tenant, status="failed", started_at=now, compute_seconds=30.0)
    make_job(other_tenant, status="queued")  # never started: no compute
    rows = ops_compute_by_tenant(since=month_start(now))
    assert [(row.tenant_label, row.jobs, row.seconds) for row in rows] == [
        ("Acme Grocer", 2, 150.0), ("Globex Market", 1, 30.0),
    ]


def test_the_month_starts_at_midnight_on_the_first():
    start = month_start(timezone.now())
    assert (start.day, start.hour, start.minute, start.second) == (1, 0, 0, 0)


def test_the_system_page_shows_compute_per_tenant(staff_client, tenant, make_job, quiet_broker):
    make_job(tenant, status="succeeded", started_at=timezone.now(), compute_seconds=185.0)
    compute = _section(staff_client.get(reverse("ops:system")), "compute")
    assert re.search(rf'id="compute-{tenant.pk}">\s*<td>Acme Grocer</td><td>1</td>\s*<td data-seconds="185">3 min 05 s', compute)


# --- API traffic -----------------------------------------------------------------------------


@pytest.mark.urls("tests.ops.traffic_urls")
def test_api_requests_and_server_errors_are_counted(client, empty_cache):
    client.raise_request_exception = False
    assert client.get("/api/v1/fine").status_code == 200
    assert client.get("/api/v1/broken").status_code == 500
    assert client.get("/outside").status_code == 200  # not the API: not counted
    traffic = api_traffic()
    assert (traffic.requests, traffic.errors) == (2, 1)
    assert traffic.minutes[-1].requests == 2 and traffic.minutes[-1].error_share == 0.5


def test_traffic_is_read_per_minute_over_the_last_fifteen(empty_cache):
    now = 1_700_000_000.0
    api_traffic_record(status_code=200, now=now - 16 * 60)  # out of the window
    api_traffic_record(status_code=503, now=now - 14 * 60)
    api_traffic_record(status_code=404, now=now)
    api_traffic_record(status_code=200, now=now)
    traffic = api_traffic(now=now)
    assert len(traffic.minutes) == 15
    assert [(m.requests, m.errors) for m in traffic.minutes if m.requests] == [(1, 1), (2, 0)]
    # 14 full minutes and the 20 s of the current one gone by (1_700_000_000 is 20 s into a minute).
    assert traffic.requests_per_minute == pytest.approx(3 / (14 + 20 / 60))


def test_a_cache_outage_never_fails_an_api_request(empty_cache):
    with mock.patch("ops.api_traffic.cache.add", side_effect=ConnectionError("redis is down")):
        api_traffic_record(status_code=200)  # does not raise


def test_the_system_page_shows_the_api_rates(staff_client, empty_cache, quiet_broker):
    for status_code in (200, 200, 200, 500):
        api_traffic_record(status_code=status_code)
    traffic = _section(staff_client.get(reverse("ops:system")), "api-traffic")
    assert "4 requests" in traffic and "1 server error (5xx)" in traffic and "Error rate: 25%" in traffic


@pytest.mark.needs_redis
def test_on_redis_the_counters_take_one_pipeline_and_read_back_as_numbers(settings):
    from tests.conftest import REDIS_URL

    settings.CACHES = {"default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
        "KEY_PREFIX": "ops-traffic-test",
    }}
    caches["default"].clear()
    now = 1_700_000_000.0
    try:
        with mock.patch.object(caches["default"], "incr", side_effect=AssertionError("not one pipeline")):
            for status_code in (200, 500, 200):
                api_traffic_record(status_code=status_code, now=now)
        traffic = api_traffic(now=now)
    finally:
        caches["default"].clear()

    assert (traffic.minutes[-1].requests, traffic.minutes[-1].errors) == (3, 1)


def test_compute_per_tenant_tells_learners_sandboxes_apart(tenant, make_job):
    now = timezone.now()
    for email, seconds in (("li@acme.test", 600.0), ("mo@acme.test", 1200.0)):
        learner = UserFactory(username=email, email=email)
        sandbox = Tenant.objects.create(
            name="Acme Grocer (sandbox)", slug=f"sandbox-{learner.pk}", sandbox_of=tenant, sandbox_owner=learner
        )
        make_job(sandbox, started_at=now, compute_seconds=seconds)
    rows = ops_compute_by_tenant(since=month_start(now))
    assert [row.tenant_label for row in rows] == [
        "Acme Grocer (sandbox of mo@acme.test)", "Acme Grocer (sandbox of li@acme.test)"
    ]


def test_a_small_share_of_server_errors_never_reads_as_an_error_rate_of_zero(
    staff_client, empty_cache, quiet_broker
):
    for _ in range(299):
        api_traffic_record(status_code=200)
    api_traffic_record(status_code=502)
    traffic = _section(staff_client.get(reverse("ops:system")), "api-traffic")
    assert "Error rate: 0.3%." in traffic and "Error rate: 0%" not in traffic
    assert "1 server error (5xx)." in traffic  # one, not "1 server errors"
    assert re.search(r"<td>300</td>\s*<td>1</td>\s*<td>0.3%</td>", traffic)


def test_one_error_in_ten_thousand_reads_as_less_than_a_tenth_of_a_percent():
    assert error_percent(1, 10_000) == "< 0.1"
    assert error_percent(0, 10_000) == "0" and error_percent(1, 4) == "25" and error_percent(0, 0) is None
