"""The events overview page: counts per type per day, the cleaning report, starting a run."""
import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from catalog import tasks
from catalog.services.cleaning import events_clean
from catalog.services.events import event_ingest_batch
from tenants.scope import tenant_scope
from tests.factories import ProductFactory

URL = "/catalog/events/"


def _day(days_ago: int) -> dt.date:
    return timezone.localdate() - dt.timedelta(days=days_ago)


def _ingest(tenant, counts_per_day: dict[int, dict[str, int]], prefix: str = "e") -> None:
    """counts_per_day: {days_ago: {event type: how many}}, at noon UTC of each day."""
    ProductFactory(tenant=tenant, external_id="APL-1")
    events = []
    for days_ago, per_type in counts_per_day.items():
        noon = dt.datetime.combine(_day(days_ago), dt.time(12), tzinfo=dt.timezone.utc)
        for event_type, count in per_type.items():
            for n in range(count):
                events.append({
                    "event_id": f"{prefix}-{days_ago}-{event_type}-{n}", "shopper_id": f"s{n}",
                    "type": event_type, "product": "APL-1",
                    "timestamp": (noon + dt.timedelta(minutes=n)).isoformat(),
                })
    with tenant_scope(tenant):
        assert event_ingest_batch(tenant=tenant, events=events).rejected == 0


def _row(day: dt.date, *cells: int | str) -> str:
    """A table row as the page writes it: the day, then view, click, add to cart, purchase, total."""
    counts = "".join(f"<td>{count}</td>" for count in cells)
    return f"<tr><td>{date_format(day, 'SHORT_DATE_FORMAT')}</td>{counts}</tr>"


def test_the_page_is_the_event_overview_and_needs_a_login(client, db):
    assert reverse("event-overview") == URL
    response = client.get(URL)
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_without_events_the_page_says_how_to_send_them(owner_client):
    html = owner_client.get(URL).content.decode()

    assert "No shopper events yet." in html
    assert "POST /api/v1/events" in html
    assert 'href="/api/v1/docs"' in html


def test_the_page_counts_each_type_per_day_for_this_tenant_only(owner_client, tenant, other_tenant):
    _ingest(tenant, {1: {"view": 3, "click": 2, "purchase": 1}, 4: {"view": 5, "add_to_cart": 2}})
    _ingest(other_tenant, {1: {"view": 40}, 2: {"purchase": 17}}, prefix="globex")

    response = owner_client.get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert _row(_day(1), 3, 2, 0, 1, 6) in html
    assert _row(_day(4), 5, 0, 2, 0, 7) in html
    assert _row(_day(2), 0, 0, 0, 0, 0) in html  # only the other tenant was active then: a day of nothing here
    assert 'class="figure">13<' in html
    assert "<tfoot><tr><th>Total</th><th>8</th><th>2</th><th>2</th><th>1</th><th>13</th></tr></tfoot>" in html
    assert html.index(_row(_day(1), 3, 2, 0, 1, 6)) < html.index(_row(_day(4), 5, 0, 2, 0, 7))  # newest first


def test_every_day_of_the_window_has_its_row_so_a_day_without_events_shows(owner_client, tenant):
    # A day of nothing is a storefront feed that broke: hidden, it could not be seen.
    _ingest(tenant, {1: {"view": 2}, 3: {"view": 1}})
    html = owner_client.get(URL).content.decode()
    assert _row(_day(2), 0, 0, 0, 0, 0) in html
    assert html.count("<tr><td>") == 30


def test_large_counts_are_grouped_in_thousands(owner_client, tenant):
    _ingest(tenant, {1: {"view": 600, "click": 600}})
    html = owner_client.get(URL).content.decode()
    assert 'class="figure">1,200<' in html and _row(_day(1), 600, 600, 0, 0, "1,200") in html


def test_events_older_than_30_days_count_in_the_total_but_not_in_the_table(owner_client, tenant):
    _ingest(tenant, {1: {"view": 2}, 45: {"click": 9}})

    html = owner_client.get(URL).content.decode()

    assert date_format(_day(45), "SHORT_DATE_FORMAT") not in html
    assert 'class="figure">11<' in html  # all events
    assert 'class="figure">2<' in html  # the last 30 days


def test_the_page_shows_the_latest_cleaning_report_with_its_counts(owner_client, tenant):
    _ingest(tenant, {1: {"view": 1}})
    with tenant_scope(tenant):
        report = events_clean(tenant=tenant)
        report.counts["exact_duplicates"] = 42
        report.save()

    html = owner_client.get(URL).content.decode()

    assert "Exact duplicates removed</td><td>42<" in html
    assert "Bot-like shoppers flagged</td><td>0<" in html
    assert "Run cleaning now" in html


def test_events_refused_as_they_arrived_show_at_once_not_only_after_a_cleaning_run(owner_client, tenant):
    _ingest(tenant, {1: {"view": 1}})
    with tenant_scope(tenant):
        event_ingest_batch(tenant=tenant, events=[
            {"event_id": "bad-1", "shopper_id": "s", "type": "view", "product": "NOPE",
             "timestamp": timezone.now().isoformat()},
        ])
    html = owner_client.get(URL).content.decode()
    section = html[html.index('id="refused-since-report"'):]
    assert "Refused at ingest: SKU not in the catalog</td><td>1<" in section


@pytest.fixture
def queued(monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.catalog_clean_task, "delay", lambda **kwargs: sent.append(kwargs["tenant_id"]))
    return sent


def test_an_owner_starts_a_cleaning_run_from_the_page(
    owner_client, tenant, queued, django_capture_on_commit_callbacks
):
    # First a page that says what cleaning deletes, which queues nothing.
    html = owner_client.get(URL).content.decode()
    assert f'href="{reverse("event-cleaning-run")}"' in html
    confirm = owner_client.get(reverse("event-cleaning-run")).content.decode()
    assert "Exact duplicates are deleted" in confirm and "This cannot be undone." in confirm
    assert queued == []

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("event-cleaning-run"))

    assert response.status_code == 302 and response["Location"] == URL + "#data-cleaning"
    assert queued == [tenant.id]
    html = owner_client.get(URL).content.decode()
    assert "Cleaning is queued" in html and 'id="cleaning-run"' in html
    assert "Run cleaning now" not in html  # one run at a time


def test_the_page_follows_a_cleaning_run_from_queued_to_running_to_its_report(
    owner_client, tenant, monkeypatch, django_capture_on_commit_callbacks
):
    from catalog.models import CleaningReport, CleaningStatus

    _ingest(tenant, {1: {"view": 3}})
    sent = []
    monkeypatch.setattr(tasks.catalog_clean_task, "delay", lambda **kwargs: sent.append(kwargs))
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("event-cleaning-run"))
    fragment = reverse("event-cleaning-run-fragment")
    assert "waiting for a worker" in owner_client.get(fragment).content.decode()

    run = CleaningReport.all_tenants.get()
    CleaningReport.all_tenants.filter(pk=run.pk).update(status=CleaningStatus.RUNNING, started_at=timezone.now())
    assert "Cleaning is running since" in owner_client.get(fragment).content.decode()

    CleaningReport.all_tenants.filter(pk=run.pk).update(status=CleaningStatus.QUEUED)
    tasks.catalog_clean_task.apply(kwargs=sent[0])  # what the worker runs
    done = owner_client.get(fragment)
    assert done.status_code == 200 and done["HX-Refresh"] == "true"  # the page reloads to show the report
    html = owner_client.get(URL).content.decode()
    assert 'id="cleaning-report"' in html and 'id="cleaning-run"' not in html
    assert "3 events after cleaning" in html


def test_a_second_click_while_a_run_is_under_way_queues_nothing_more(
    owner_client, tenant, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("event-cleaning-run"))
        second = owner_client.post(reverse("event-cleaning-run"), follow=True)
    assert queued == [tenant.id]
    assert "A cleaning run is already under way" in second.content.decode()


def test_a_run_lost_long_ago_does_not_block_a_new_one(owner_client, tenant, queued, django_capture_on_commit_callbacks):
    from catalog.models import CleaningReport, CleaningStatus

    lost = CleaningReport.all_tenants.create(tenant=tenant, status=CleaningStatus.RUNNING)
    CleaningReport.all_tenants.filter(pk=lost.pk).update(created_at=timezone.now() - tasks.CLEANING_RUN_STALE_AFTER * 2)
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("event-cleaning-run"))
    assert queued == [tenant.id]


def test_a_redelivered_cleaning_task_does_not_run_its_run_twice(tenant, monkeypatch):
    from catalog.models import CleaningReport, CleaningStatus

    with tenant_scope(tenant):
        run = CleaningReport.objects.create(status=CleaningStatus.QUEUED)
    tasks.catalog_clean_task.apply(kwargs={"tenant_id": tenant.id, "run_id": run.pk})
    monkeypatch.setattr(tasks, "events_clean", lambda **kwargs: pytest.fail("ran twice"))
    tasks.catalog_clean_task.apply(kwargs={"tenant_id": tenant.id, "run_id": run.pk})
    assert CleaningReport.all_tenants.get(pk=run.pk).status == CleaningStatus.SUCCEEDED


def test_a_cleaning_run_that_fails_is_marked_failed_and_frees_the_button(owner_client, tenant, monkeypatch):
    from catalog.models import CleaningReport, CleaningStatus

    with tenant_scope(tenant):
        run = CleaningReport.objects.create(status=CleaningStatus.QUEUED)

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(tasks, "events_clean", broken)
    tasks.catalog_clean_task.apply(kwargs={"tenant_id": tenant.id, "run_id": run.pk})
    assert CleaningReport.all_tenants.get(pk=run.pk).status == CleaningStatus.FAILED
    html = owner_client.get(URL).content.decode()
    assert "Run cleaning now" in html and 'id="cleaning-run-unfinished"' in html  # said, not hidden


def test_a_run_whose_worker_died_is_taken_again_by_the_redelivered_task(tenant):
    from catalog.models import CleaningReport, CleaningStatus

    long_ago = timezone.now() - tasks.CLEANING_RUN_STALE_AFTER * 2
    with tenant_scope(tenant):
        run = CleaningReport.objects.create(status=CleaningStatus.RUNNING)
    CleaningReport.all_tenants.filter(pk=run.pk).update(started_at=long_ago, created_at=long_ago)
    tasks.catalog_clean_task.apply(kwargs={"tenant_id": tenant.id, "run_id": run.pk})
    assert CleaningReport.all_tenants.get(pk=run.pk).status == CleaningStatus.SUCCEEDED


def test_a_run_queued_long_ago_but_started_lately_is_still_under_way(owner_client, tenant):
    from catalog.models import CleaningReport, CleaningStatus

    run = CleaningReport.all_tenants.create(tenant=tenant, status=CleaningStatus.RUNNING, started_at=timezone.now())
    CleaningReport.all_tenants.filter(pk=run.pk).update(created_at=timezone.now() - tasks.CLEANING_RUN_STALE_AFTER * 2)
    html = owner_client.get(URL).content.decode()
    assert 'id="cleaning-run"' in html and "Run cleaning now" not in html


@pytest.mark.django_db(transaction=True)  # no test transaction around it: the task is sent at once, as in a request
def test_a_task_queue_that_cannot_be_reached_fails_the_run_and_says_so(owner_client, tenant, monkeypatch):
    from kombu.exceptions import OperationalError

    from catalog.models import CleaningReport, CleaningStatus

    def unreachable(**kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.catalog_clean_task, "delay", unreachable)
    page = owner_client.post(reverse("event-cleaning-run"), follow=True).content.decode()
    assert "Cleaning could not be queued: the task queue cannot be reached." in page
    assert CleaningReport.all_tenants.get().status == CleaningStatus.FAILED
    assert "Run cleaning now" in page  # the failed run blocks nothing


def test_the_polled_run_asks_a_logged_out_page_to_reload_instead_of_swapping_in_the_login(client, db):
    response = client.get(reverse("event-cleaning-run-fragment"))
    assert response.status_code == 200 and response["HX-Refresh"] == "true"


def test_another_tenants_run_is_not_shown(owner_client, other_tenant):
    from catalog.models import CleaningReport, CleaningStatus

    CleaningReport.all_tenants.create(tenant=other_tenant, status=CleaningStatus.RUNNING)
    html = owner_client.get(URL).content.decode()
    assert 'id="cleaning-run"' not in html and "Run cleaning now" in html


def test_an_analyst_sees_the_page_but_cannot_start_a_cleaning_run(
    analyst_client, tenant, queued, django_capture_on_commit_callbacks
):
    _ingest(tenant, {1: {"view": 1}})
    html = analyst_client.get(URL).content.decode()
    assert _row(_day(1), 1, 0, 0, 0, 1) in html
    assert "Run cleaning now" not in html

    with django_capture_on_commit_callbacks(execute=True):
        assert analyst_client.post(reverse("event-cleaning-run")).status_code == 403
    assert queued == []


def test_one_event_in_all_reads_in_the_singular(owner_client, tenant):
    _ingest(tenant, {1: {"view": 1}})
    html = owner_client.get(URL).content.decode()
    assert 'class="figure">1</span>event in all</div>' in html
