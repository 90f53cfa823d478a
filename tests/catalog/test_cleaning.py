"""Data cleaning: exact duplicates, bot-like shoppers, the refusals at ingest, the report and its API."""
import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from catalog import tasks
from catalog.models import CleaningReport, Event, FlaggedShopper
from catalog.selectors.events import events_for_training
from catalog.services.cleaning import events_clean
from catalog.services.events import IngestRule, event_ingest_batch
from catalog.tasks import catalog_clean_task
from tenants.models import Role
from tenants.scope import current_tenant_or_none, tenant_scope
from tests.factories import ProductFactory

BOT = "bot-1"
REPORT_URL = "/api/v1/events/cleaning-report"
RUNS_URL = "/api/v1/events/cleaning-runs"


def _noon(days_ago: int) -> dt.datetime:
    return dt.datetime.combine(
        timezone.now().date() - dt.timedelta(days=days_ago), dt.time(12), tzinfo=dt.timezone.utc
    )


def _event(event_id: str, shopper_id: str, when: dt.datetime, **fields) -> dict:
    return {
        "event_id": event_id, "shopper_id": shopper_id, "type": "view", "product": "APL-1",
        "timestamp": when.isoformat(), **fields,
    }


def _ingest(tenant, events: list[dict]):
    with tenant_scope(tenant):
        result = None
        for start in range(0, len(events), 1000):
            result = event_ingest_batch(tenant=tenant, events=events[start:start + 1000])
        return result


@pytest.fixture
def apples(tenant):
    return ProductFactory(tenant=tenant, external_id="APL-1")


def _honest_shoppers(count: int = 50) -> list[dict]:
    """Shoppers with 3 to 8 events on each of three days."""
    events = []
    for shopper in range(count):
        for days_ago in (1, 2, 3):
            for n in range(3 + (shopper + days_ago) % 6):
                when = _noon(days_ago) + dt.timedelta(minutes=shopper * 10 + n)
                events.append(_event(f"s{shopper}-d{days_ago}-{n}", f"shopper-{shopper}", when))
    return events


def _bot(events_in_a_day: int = 2000) -> list[dict]:
    start = _noon(2) - dt.timedelta(hours=10)
    return [_event(f"bot-{n}", BOT, start + dt.timedelta(seconds=10 * n)) for n in range(events_in_a_day)]


def _clean(tenant) -> CleaningReport:
    with tenant_scope(tenant):
        return events_clean(tenant=tenant)


def test_cleaning_removes_exact_duplicates_and_keeps_one_of_each(tenant, apples):
    when = _noon(1)
    _ingest(tenant, [
        _event("a", "jane", when, type="purchase", value="3.49"),
        _event("b", "jane", when, type="purchase", value="3.49"),  # a retry under a new id
        _event("c", "jane", when, type="purchase", value="3.49"),
        _event("d", "jane", when, type="purchase", value="3.49", quantity=2),  # another purchase
        _event("e", "john", when, type="purchase", value="3.49"),  # another shopper
    ])

    report = _clean(tenant)

    assert report.counts["exact_duplicates"] == 2
    with tenant_scope(tenant):
        assert sorted(Event.objects.values_list("event_id", flat=True)) == ["a", "d", "e"]
    assert report.events_total == 3
    assert _clean(tenant).counts["exact_duplicates"] == 0


def test_two_clicks_in_the_same_second_from_two_lists_are_two_actions(tenant, apples):
    when = _noon(1)
    _ingest(tenant, [
        _event("a", "jane", when, type="click", recommendation_id="list-1"),
        _event("b", "jane", when, type="click", recommendation_id="list-2"),
        _event("c", "jane", when, type="click", recommendation_id="list-2"),  # a retry of b
    ])

    report = _clean(tenant)

    assert report.counts["exact_duplicates"] == 1
    with tenant_scope(tenant):
        assert sorted(Event.objects.values_list("recommendation_id", flat=True)) == ["list-1", "list-2"]


def test_cleaning_flags_an_obvious_bot_and_no_honest_shopper(tenant, apples):
    _ingest(tenant, _honest_shoppers() + _bot())

    report = _clean(tenant)

    with tenant_scope(tenant):
        flagged = list(FlaggedShopper.objects.all())
        assert Event.objects.filter(shopper_key=tenant.pseudonymise_shopper(BOT)).count() == 2000
    assert [f.shopper_key for f in flagged] == [tenant.pseudonymise_shopper(BOT)]
    assert flagged[0].event_count == 2000 and flagged[0].events_per_day == 2000
    assert report.counts["bot_shoppers"] == 1
    assert report.counts["bot_shopper_events"] == 2000


def test_events_for_training_leave_out_the_flagged_bot(tenant, apples):
    honest = _honest_shoppers()
    _ingest(tenant, honest + _bot())
    _clean(tenant)

    with tenant_scope(tenant):
        training = events_for_training(tenant=tenant)
        assert training.count() == len(honest)
        assert not training.filter(shopper_key=tenant.pseudonymise_shopper(BOT)).exists()


def test_a_small_honest_tenant_flags_nobody(tenant, apples):
    keen = [_event(f"keen-{n}", "keen", _noon(1) + dt.timedelta(minutes=n)) for n in range(120)]
    casual = [_event(f"casual-{s}-{n}", f"casual-{s}", _noon(1)) for s in range(4) for n in range(2)]
    _ingest(tenant, keen + casual)

    report = _clean(tenant)

    assert report.counts["bot_shoppers"] == 0
    with tenant_scope(tenant):
        assert not FlaggedShopper.objects.exists()


def test_the_report_counts_the_refusals_at_ingest_since_the_previous_run(tenant, apples):
    when = _noon(1)
    _ingest(tenant, [
        _event("ok", "jane", when),
        _event("bad-type", "jane", when, type="teleport"),
        _event("bad-sku-1", "jane", when, product="NOPE"),
        _event("bad-sku-2", "jane", when, product="NOPE"),
    ])

    first = _clean(tenant)
    _ingest(tenant, [_event("neg", "jane", when, value=-5)])
    second = _clean(tenant)

    assert first.counts[IngestRule.UNKNOWN_TYPE] == 1
    assert first.counts[IngestRule.UNKNOWN_PRODUCT] == 2
    assert first.counts[IngestRule.NEGATIVE_VALUE] == 0
    assert second.counts[IngestRule.UNKNOWN_PRODUCT] == 0
    assert second.counts[IngestRule.NEGATIVE_VALUE] == 1


def test_the_celery_task_cleans_inside_its_tenants_scope_only(tenant, other_tenant, apples):
    ProductFactory(tenant=other_tenant, external_id="APL-1")
    twice = [_event("x", "jane", _noon(1)), _event("y", "jane", _noon(1))]
    _ingest(tenant, twice)
    _ingest(other_tenant, twice)

    report_id = catalog_clean_task.apply(kwargs={"tenant_id": tenant.id}).get()

    assert current_tenant_or_none() is None
    report = CleaningReport.all_tenants.get(pk=report_id)
    assert report.tenant_id == tenant.id and report.counts["exact_duplicates"] == 1
    assert Event.all_tenants.filter(tenant=tenant).count() == 1
    assert Event.all_tenants.filter(tenant=other_tenant).count() == 2
    assert not CleaningReport.all_tenants.filter(tenant=other_tenant).exists()


def test_the_clean_events_command_cleans_a_tenant_named_by_slug(tenant, apples, capsys):
    _ingest(tenant, [_event("x", "jane", _noon(1)), _event("y", "jane", _noon(1))])

    call_command("clean_events", "--tenant", "acme")

    assert "Exact duplicates removed: 1" in capsys.readouterr().out
    assert CleaningReport.all_tenants.filter(tenant=tenant).count() == 1
    with pytest.raises(CommandError, match="no-such-shop"):
        call_command("clean_events", "--tenant", "no-such-shop")


# --- The API -----------------------------------------------------------------


def test_the_latest_report_is_a_404_before_any_run(secret_client):
    assert secret_client.get(REPORT_URL).status_code == 404


def test_the_api_answers_the_latest_report(secret_client, tenant, apples):
    _ingest(tenant, [_event("x", "jane", _noon(1)), _event("y", "jane", _noon(1))])
    _clean(tenant)
    latest = _clean(tenant)

    body = secret_client.get(REPORT_URL).json()

    assert body["events_total"] == 1
    assert body["counts"] == latest.counts
    assert body["counts"]["exact_duplicates"] == 0  # the second run's, not the first's


def test_another_tenant_gets_a_404_for_this_tenants_report(other_tenant_client, tenant, apples):
    _clean(tenant)
    assert other_tenant_client.get(REPORT_URL).status_code == 404


def test_an_analyst_may_read_the_report(api_client, member_with_role, tenant):
    _clean(tenant)
    api_client.force_login(member_with_role(Role.ANALYST))
    assert api_client.get(REPORT_URL).status_code == 200


@pytest.fixture
def queued(monkeypatch):
    """The tenant ids the cleaning task is sent to the broker for."""
    sent = []
    monkeypatch.setattr(tasks.catalog_clean_task, "delay", lambda **kwargs: sent.append(kwargs["tenant_id"]))
    return sent


def test_a_cleaning_run_is_queued_once_the_request_commits(
    secret_client, tenant, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = secret_client.post(RUNS_URL)
        assert queued == []  # nothing is sent before the commit

    assert response.status_code == 202
    for callback in callbacks:
        callback()
    assert queued == [tenant.id]


def test_an_analyst_and_a_publishable_key_cannot_start_a_cleaning_run(
    api_client, publishable_client, member_with_role, queued, django_capture_on_commit_callbacks
):
    api_client.force_login(member_with_role(Role.ANALYST))
    with django_capture_on_commit_callbacks(execute=True):
        assert api_client.post(RUNS_URL).status_code == 403
        assert publishable_client.post(RUNS_URL).status_code == 403
    assert queued == []


def test_a_run_asked_for_while_one_runs_is_queued_behind_it_and_one_queued_is_reused(secret_client, tenant, queued):
    from catalog.models import CleaningReport, CleaningStatus

    running = CleaningReport.all_tenants.create(tenant=tenant, status=CleaningStatus.RUNNING, started_at=timezone.now())
    first = secret_client.post(RUNS_URL)
    second = secret_client.post(RUNS_URL)
    assert first.status_code == second.status_code == 202
    assert first.data["id"] == second.data["id"] != running.pk and first.data["status"] == "queued"


def test_the_report_says_when_its_run_finished(secret_client, tenant, apples):
    with tenant_scope(tenant):
        events_clean(tenant=tenant)
    report = secret_client.get("/api/v1/events/cleaning-report").data
    assert report["finished_at"] is not None
