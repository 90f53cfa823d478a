"""POST /api/v1/events: per-event outcome, duplicates, pseudonymised shoppers, the tenant boundary."""
import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import Event, IngestTally
from catalog.services.events import IngestRule
from tenants.scope import tenant_scope
from tests.factories import ProductFactory

URL = "/api/v1/events"
SKUS = ["APL-1", "BAN-1", "MUG-1"]


@pytest.fixture
def catalog(tenant):
    return [ProductFactory(tenant=tenant, external_id=sku) for sku in SKUS]


def _when(hours_ago: float = 1) -> str:
    return (timezone.now() - dt.timedelta(hours=hours_ago)).isoformat()


def _event(n: int, **fields) -> dict:
    return {
        "event_id": f"evt-{n}",
        "shopper_id": f"shopper-{n % 37}@example.com",
        "type": ["view", "click", "add_to_cart", "purchase"][n % 4],
        "product": SKUS[n % len(SKUS)],
        "timestamp": _when(hours_ago=1 + n / 1000),
        **fields,
    }


# index -> (what is wrong with the event, the field its error must name, the rule it is tallied under)
BAD_EVENTS = {
    3: ({"type": "wishlist"}, "type", IngestRule.UNKNOWN_TYPE),
    97: ({"product": "NOT-IN-CATALOG"}, "product", IngestRule.UNKNOWN_PRODUCT),
    150: ({"timestamp": (timezone.now() + dt.timedelta(days=1)).isoformat()}, "timestamp",
          IngestRule.FUTURE_TIMESTAMP),
    222: ({"timestamp": "1999-12-31T23:59:59Z"}, "timestamp", IngestRule.TIMESTAMP_BEFORE_2000),
    301: ({"quantity": 0}, "quantity", IngestRule.QUANTITY_OUT_OF_RANGE),
    402: ({"quantity": 10_001}, "quantity", IngestRule.QUANTITY_OUT_OF_RANGE),
    555: ({"value": "-1.00"}, "value", IngestRule.NEGATIVE_VALUE),
    640: ({"event_id": ""}, "event_id", IngestRule.INVALID_ID),
    777: ({"shopper_id": None}, "shopper_id", IngestRule.INVALID_ID),
    999: ({"product": "X" * 129}, "product", IngestRule.INVALID_ID),
}


def _batch_with_ten_bad_events() -> list[dict]:
    events = [_event(n) for n in range(1000)]
    for index, (fields, _field, _rule) in BAD_EVENTS.items():
        events[index].update(fields)
    return events


def test_a_batch_of_1000_with_10_bad_events_stores_990_and_names_each_bad_one(secret_client, tenant, catalog):
    response = secret_client.post(URL, {"events": _batch_with_ten_bad_events()}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (990, 0, 10)
    named = {error["index"]: error for error in body["errors"]}
    assert set(named) == set(BAD_EVENTS)
    for index, (_fields, field_name, _rule) in BAD_EVENTS.items():
        assert named[index]["field"] == field_name
        assert named[index]["reason"]
    with tenant_scope(tenant):
        assert Event.objects.count() == 990
        stored_ids = set(Event.objects.values_list("event_id", flat=True))
        assert not {f"evt-{index}" for index in BAD_EVENTS} & stored_ids
        tallies = dict(IngestTally.objects.values_list("rule", "count"))
    assert tallies == {
        IngestRule.UNKNOWN_TYPE: 1, IngestRule.UNKNOWN_PRODUCT: 1, IngestRule.FUTURE_TIMESTAMP: 1,
        IngestRule.TIMESTAMP_BEFORE_2000: 1, IngestRule.QUANTITY_OUT_OF_RANGE: 2,
        IngestRule.NEGATIVE_VALUE: 1, IngestRule.INVALID_ID: 3,
    }


def test_the_same_batch_sent_again_stores_nothing_twice(secret_client, tenant, catalog):
    events = _batch_with_ten_bad_events()
    secret_client.post(URL, {"events": events}, format="json")

    again = secret_client.post(URL, {"events": events}, format="json").json()

    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 990, 10)
    with tenant_scope(tenant):
        assert Event.objects.count() == 990


def test_an_event_id_repeated_inside_one_batch_is_a_duplicate(secret_client, tenant, catalog):
    events = [_event(1), _event(2), {**_event(1), "type": "purchase"}]

    body = secret_client.post(URL, {"events": events}, format="json").json()

    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 1, 0)
    with tenant_scope(tenant):
        assert Event.objects.get(event_id="evt-1").type == "click"


def test_the_raw_shopper_id_is_stored_in_no_column(secret_client, tenant, catalog):
    raw_id = "jane.doe@example.com"
    secret_client.post(URL, {"events": [_event(1, shopper_id=raw_id)]}, format="json")

    with tenant_scope(tenant):
        event = Event.objects.get()
    columns = [field.attname for field in Event._meta.concrete_fields]
    assert all(raw_id not in str(getattr(event, column)) for column in columns)
    assert event.shopper_key == tenant.pseudonymise_shopper(raw_id)


def test_an_event_is_stored_with_its_product_its_defaults_and_a_naive_time_as_utc(
    secret_client, tenant, catalog
):
    secret_client.post(URL, {"events": [
        _event(1, product="BAN-1", timestamp="2024-03-05T10:30:00"),
        _event(2, product="APL-1", quantity=3, value=7.5, recommendation_id="rec_1"),
    ]}, format="json")

    with tenant_scope(tenant):
        first, second = Event.objects.order_by("event_id")
    assert first.product == catalog[1] and first.product_external_id == "BAN-1"
    assert first.occurred_at == dt.datetime(2024, 3, 5, 10, 30, tzinfo=dt.timezone.utc)
    assert (first.quantity, first.value, first.recommendation_id) == (1, Decimal("0"), "")
    assert (second.quantity, second.value, second.recommendation_id) == (3, Decimal("7.50"), "rec_1")


def test_a_local_time_without_offset_that_reads_as_future_utc_says_to_send_the_offset(secret_client, catalog):
    # A storefront in Shanghai logging datetime.now(): 8 hours ahead of UTC, so "in the future".
    shanghai_now = (timezone.now() + dt.timedelta(hours=8)).replace(tzinfo=None).isoformat(timespec="seconds")
    body = secret_client.post(URL, {"events": [_event(1, timestamp=shanghai_now)]}, format="json").json()
    (error,) = body["errors"]
    assert error["field"] == "timestamp" and "without an offset" in error["reason"]
    assert "+08:00" in error["reason"]


def test_a_timestamp_sent_as_a_number_is_told_it_is_no_iso_time_not_missing(secret_client, catalog):
    # JavaScript's Date.now(): milliseconds since 1970, as a JSON number.
    body = secret_client.post(URL, {"events": [_event(1, timestamp=1764576000000)]}, format="json").json()
    (error,) = body["errors"]
    assert (error["field"], error["reason"]) == (
        "timestamp",
        "Not an ISO 8601 date and time, such as 2025-01-31T09:30:00Z.",
    )


def test_ids_sent_as_numbers_are_told_to_come_in_quotes_not_that_they_are_missing(secret_client, tenant):
    # A storefront's database ids: `{"shopper_id": customer.id, "product": product.id}`.
    ProductFactory(tenant=tenant, external_id="1042")
    event = _event(1, event_id=98765, shopper_id=42, product=1042)
    body = secret_client.post(URL, {"events": [event]}, format="json").json()
    reasons = {error["field"]: error["reason"] for error in body["errors"]}
    assert set(reasons) == {"event_id", "shopper_id", "product"}
    for reason in reasons.values():
        assert "Required" not in reason and '"42", not 42' in reason


def test_a_misspelt_field_refuses_the_event_instead_of_storing_a_default(secret_client, tenant, catalog):
    body = secret_client.post(URL, {"events": [_event(1, quantiy=5)]}, format="json").json()

    assert body["rejected"] == 1
    assert body["errors"][0]["field"] == "quantiy"


def test_more_than_1000_events_is_a_400_that_names_the_limit(secret_client, tenant, catalog):
    response = secret_client.post(URL, {"events": [_event(n) for n in range(1001)]}, format="json")

    assert response.status_code == 400
    assert "1000" in response.json()["events"][0]
    with tenant_scope(tenant):
        assert not Event.objects.exists()


def test_a_body_without_an_events_list_is_a_400(secret_client, catalog):
    assert secret_client.post(URL, {"events": "no"}, format="json").status_code == 400
    assert secret_client.post(URL, [_event(1)], format="json").status_code == 400


def test_a_key_beside_events_is_refused_by_name_and_no_event_is_stored(secret_client, tenant, catalog):
    response = secret_client.post(URL, {"events": [_event(1)], "dry_run": True}, format="json")

    assert response.status_code == 400
    assert response.json() == {"dry_run": ["Unknown field. The fields are: events."]}
    with tenant_scope(tenant):
        assert not Event.objects.exists()


def test_a_misspelt_events_list_is_named_beside_the_missing_one(secret_client, catalog):
    response = secret_client.post(URL, {"event": [_event(1)]}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "event": ["Unknown field. The fields are: events."],
        "events": ['Send an object with an "events" list.'],
    }


def test_a_body_nested_too_deeply_to_read_is_a_400_not_a_500(publishable_client, catalog):
    body = b"[" * 100_000 + b"]" * 100_000
    response = publishable_client.generic("POST", URL, body, content_type="application/json")
    assert response.status_code == 400
    assert "too deeply" in response.json()["detail"]


@pytest.mark.parametrize("field", ["event_id", "shopper_id", "product", "recommendation_id"])
def test_a_nul_character_in_an_id_refuses_that_event_by_field_on_every_database(
    secret_client, tenant, catalog, field
):
    events = [_event(1), _event(2, **{field: "a\u0000b"})]
    response = secret_client.post(URL, {"events": events}, format="json")
    assert response.status_code == 200, response.data
    assert response.data["accepted"] == 1
    assert [(error["index"], error["field"]) for error in response.data["errors"]] == [(1, field)]


def test_a_publishable_key_can_send_events(publishable_client, tenant, catalog):
    response = publishable_client.post(URL, {"events": [_event(1)]}, format="json")

    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    with tenant_scope(tenant):
        assert Event.objects.count() == 1


def test_no_key_and_a_bad_key_get_401(api_client, tenant, catalog):
    assert api_client.post(URL, {"events": [_event(1)]}, format="json").status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION="Bearer pk_notakey.reallynotakey")
    assert api_client.post(URL, {"events": [_event(1)]}, format="json").status_code == 401
    with tenant_scope(tenant):
        assert not Event.objects.exists()


def test_another_tenants_key_cannot_send_events_for_this_tenants_products(
    other_tenant_client, tenant, other_tenant, catalog
):
    body = other_tenant_client.post(URL, {"events": [_event(1, product="APL-1")]}, format="json").json()

    assert body["rejected"] == 1
    assert body["errors"][0]["field"] == "product"
    assert not Event.all_tenants.exists()


def _catalog_queries_but_event_inserts(captured) -> list[str]:
    # Django splits a bulk insert into chunks of 999 parameters on SQLite
    # (one statement on PostgreSQL): those are not per-event queries. The API
    # key's last-use update is left out too: it is not written on every request.
    return [
        q["sql"] for q in captured
        if '"catalog_' in q["sql"]
        and not (q["sql"].startswith("INSERT") and 'INTO "catalog_event"' in q["sql"])
    ]


def test_the_number_of_queries_does_not_grow_with_the_batch(secret_client, catalog):
    with CaptureQueriesContext(connection) as small:
        secret_client.post(URL, {"events": [_event(n) for n in range(10)]}, format="json")
    with CaptureQueriesContext(connection) as large:
        body = secret_client.post(URL, {"events": [_event(n) for n in range(10, 1000)]}, format="json").json()

    assert body["accepted"] == 990
    # The products, and the event ids already stored: one query each, whatever the batch's size.
    assert len(_catalog_queries_but_event_inserts(small)) == 2
    assert len(_catalog_queries_but_event_inserts(large)) == 2


def test_events_have_a_rate_of_their_own_apart_from_the_other_endpoints(publishable_client, catalog, monkeypatch):
    # Every shopper's browser sends events under the store's one publishable key: the general
    # per-key limit of the catalog endpoints would drop them at a busy store's page-view rate.
    from tenants.throttling import ApiKeyRateThrottle, EventsRateThrottle

    monkeypatch.setattr(ApiKeyRateThrottle, "rate", "1/minute", raising=False)
    monkeypatch.setattr(EventsRateThrottle, "rate", "3/minute", raising=False)
    statuses = [
        publishable_client.post(URL, {"events": [_event(n)]}, format="json").status_code for n in range(4)
    ]
    assert statuses == [200, 200, 200, 429]


def test_a_sku_with_spaces_around_it_names_the_product_the_catalog_stored_trimmed(secret_client, tenant, catalog):
    # The catalog stores " APL-1 " as APL-1. Event and shopper ids stay as sent: the serving API
    # reads a shopper id as sent, and the merchant signs it as sent.
    response = secret_client.post(
        URL, {"events": [_event(0, product=" APL-1 ", shopper_id=" jane ")]}, format="json"
    )
    assert response.status_code == 200 and response.json()["accepted"] == 1, response.json()
    with tenant_scope(tenant):
        event = Event.objects.get()
    assert event.product_external_id == "APL-1" and event.product.external_id == "APL-1"
    assert event.shopper_key == tenant.pseudonymise_shopper(" jane ")
