"""GET /api/v1/shoppers/{shopper_id}/profile: a shopper's interests and activity, and who may read them."""

import datetime as dt

import pytest
from django.utils.dateparse import parse_datetime

from catalog.models import Event
from tests.factories import ProductFactory

JANE = "jane@example.com"
LAST = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.timezone.utc)


def _profile_url(shopper_id: str) -> str:
    return f"/api/v1/shoppers/{shopper_id}/profile"


def _store_events(tenant, shopper_id: str, events: list[tuple]) -> None:
    """events: (type, product or None, SKU, occurred_at)."""
    shopper_key = tenant.pseudonymise_shopper(shopper_id)
    Event.all_tenants.bulk_create(
        [
            Event(
                tenant=tenant,
                event_id=f"{shopper_id}-{n}",
                shopper_key=shopper_key,
                type=event_type,
                product=product,
                product_external_id=sku,
                occurred_at=occurred_at,
            )
            for n, (event_type, product, sku, occurred_at) in enumerate(events)
        ]
    )


@pytest.fixture
def jane(tenant):
    """Jane: coffee most, then apples, a priceless product, and one product since deleted.

    The catalog's prices sort as 1 2 3 4 5 6 8 12 20: its tertiles are 3 and 6,
    and Jane's products cost 2, 8 and 12, so her median (8) is in the high third.
    """
    coffee = dict(category="Grocery > Drinks > Coffee", brand="Roastery")
    coffee_1 = ProductFactory(tenant=tenant, external_id="COF-1", price="8.00", **coffee)
    coffee_2 = ProductFactory(tenant=tenant, external_id="COF-2", price="12.00", **coffee)
    apples = ProductFactory(
        tenant=tenant,
        external_id="APL-1",
        price="2.00",
        category="Grocery > Produce > Apples",
        brand="Orchard Co",
    )
    sponge = ProductFactory(
        tenant=tenant, external_id="SPO-1", price=None, category="Household", brand="Generic"
    )
    for n, price in enumerate(["1.00", "3.00", "4.00", "5.00", "6.00", "20.00"]):
        ProductFactory(tenant=tenant, external_id=f"OTHER-{n}", price=price, category="Toys", brand="Toyco")
    day = dt.timedelta(days=1)
    _store_events(
        tenant,
        JANE,
        [
            ("view", apples, "APL-1", LAST - 60 * day),
            ("click", apples, "APL-1", LAST - 2 * day),
            ("click", apples, "APL-1", LAST - 2 * day + dt.timedelta(minutes=5)),
            ("view", coffee_1, "COF-1", LAST - day),
            ("view", coffee_1, "COF-1", LAST - day + dt.timedelta(minutes=1)),
            ("view", coffee_1, "COF-1", LAST - day + dt.timedelta(minutes=2)),
            ("purchase", coffee_2, "COF-2", LAST - day + dt.timedelta(minutes=3)),
            ("view", None, "GONE-1", LAST - day + dt.timedelta(minutes=4)),
            ("add_to_cart", sponge, "SPO-1", LAST),
        ],
    )
    return JANE


def test_the_profile_lists_the_shoppers_top_categories_and_brands_by_events(secret_client, jane):
    response = secret_client.get(_profile_url(jane))

    assert response.status_code == 200, response.content
    body = response.json()
    # The deleted product's event counts as activity, not as an interest.
    assert body["top_categories"] == [
        {"name": "Grocery > Drinks > Coffee", "count": 4},
        {"name": "Grocery > Produce > Apples", "count": 3},
        {"name": "Household", "count": 1},
    ]
    assert body["top_brands"] == [
        {"name": "Roastery", "count": 4},
        {"name": "Orchard Co", "count": 3},
        {"name": "Generic", "count": 1},
    ]


def test_the_price_band_spans_the_products_prices_and_places_the_median_in_the_catalog(secret_client, jane):
    body = secret_client.get(_profile_url(jane)).json()

    assert body["price_band"] == {"min": "2.00", "median": "8.00", "max": "12.00", "label": "high"}


def test_the_activity_counts_events_per_type_days_and_the_last_thirty_days(secret_client, jane):
    body = secret_client.get(_profile_url(jane)).json()

    assert body["activity"] == {
        "events": 9,
        "per_type": {"view": 5, "click": 2, "add_to_cart": 1, "purchase": 1},
        "active_days": 4,
        # The view 60 days before the last event is the only one outside the window.
        "events_last_30_days": 8,
    }
    assert parse_datetime(body["first_seen"]) == LAST - dt.timedelta(days=60)
    assert parse_datetime(body["last_seen"]) == LAST


def test_only_the_five_most_viewed_categories_are_listed(secret_client, tenant):
    events = []
    for n in range(7):
        product = ProductFactory(
            tenant=tenant, external_id=f"SKU-{n}", category=f"Dept {n}", brand=f"Brand {n}"
        )
        # Category n gets n + 1 events, so the top five are 6 down to 2.
        events += [("view", product, product.external_id, LAST - dt.timedelta(hours=n))] * (n + 1)
    _store_events(tenant, JANE, events)

    body = secret_client.get(_profile_url(JANE)).json()

    assert [category["name"] for category in body["top_categories"]] == [f"Dept {n}" for n in [6, 5, 4, 3, 2]]
    assert [brand["count"] for brand in body["top_brands"]] == [7, 6, 5, 4, 3]


def test_a_shopper_who_only_saw_products_without_a_price_has_no_price_band(secret_client, tenant):
    product = ProductFactory(tenant=tenant, external_id="FREE-1", price=None)
    _store_events(tenant, JANE, [("view", product, "FREE-1", LAST)])

    body = secret_client.get(_profile_url(JANE)).json()

    assert body["price_band"] is None
    assert body["activity"]["events"] == 1


def test_the_profile_of_a_shopper_id_with_a_slash_is_read(secret_client, tenant):
    product = ProductFactory(tenant=tenant, external_id="COF-1", category="Coffee")
    _store_events(tenant, "store/42", [("view", product, "COF-1", LAST)])

    response = secret_client.get(_profile_url("store/42"))

    assert response.status_code == 200
    assert response.json()["top_categories"] == [{"name": "Coffee", "count": 1}]


def test_a_delete_at_a_profile_url_erases_the_shopper_of_that_whole_id_not_the_profiles_owner(
    secret_client, tenant, jane
):
    product = ProductFactory(tenant=tenant, external_id="TEA-1")
    _store_events(tenant, f"{jane}/profile", [("view", product, "TEA-1", LAST)])

    response = secret_client.delete(_profile_url(jane))

    assert response.status_code == 200 and response.json() == {"deleted_events": 1, "deleted_sandbox_events": 0}
    assert secret_client.get(_profile_url(f"{jane}/profile")).status_code == 404
    assert secret_client.get(_profile_url(jane)).json()["activity"]["events"] == 9


def test_an_unknown_shopper_is_a_404_that_says_so(secret_client, jane):
    response = secret_client.get(_profile_url("nobody@example.com"))

    assert response.status_code == 404
    assert response.json()["detail"] == "No events from this shopper."


def test_a_shopper_of_another_tenant_is_a_404(secret_client, other_tenant_client, other_tenant):
    product = ProductFactory(tenant=other_tenant, external_id="COF-1")
    _store_events(other_tenant, JANE, [("view", product, "COF-1", LAST)])

    assert other_tenant_client.get(_profile_url(JANE)).status_code == 200
    assert secret_client.get(_profile_url(JANE)).status_code == 404


def test_a_publishable_key_is_refused_because_a_profile_is_personal_data(publishable_client, jane):
    response = publishable_client.get(_profile_url(jane))

    assert response.status_code == 403
    assert "profile" not in response.content.decode()


def test_a_request_without_credentials_is_a_401(api_client, jane):
    assert api_client.get(_profile_url(jane)).status_code == 401


def test_a_member_logged_in_to_the_web_ui_may_read_a_profile(session_client, jane):
    assert session_client.get(_profile_url(jane)).status_code == 200
