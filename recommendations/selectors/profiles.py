"""A shopper's profile: what they look at, at what prices, and how often, read from their events."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import Counter
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Max, Min, Q, QuerySet
from django.db.models.functions import TruncDate

from catalog.models import Event, EventType, Product
from tenants.models import Tenant

TOP_COUNT = 5
# Interests are read into Python; a bot's millions of events must not be.
INTEREST_EVENTS_MAX = 5_000
RECENT_WINDOW = dt.timedelta(days=30)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class NamedCount:
    name: str
    count: int


@dataclass(frozen=True)
class PriceBand:
    min: Decimal
    median: Decimal
    max: Decimal
    # "low", "mid" or "high": the third of the tenant's catalog prices the median falls in.
    label: str | None


@dataclass(frozen=True)
class Activity:
    events: int
    per_type: dict[str, int]
    active_days: int
    # Counted back from their last event, not from today: a shopper who has been
    # away a year still shows how busy they were when they last shopped.
    events_last_30_days: int


@dataclass(frozen=True)
class ShopperProfile:
    top_categories: list[NamedCount]
    top_brands: list[NamedCount]
    price_band: PriceBand | None
    activity: Activity
    first_seen: dt.datetime
    last_seen: dt.datetime


def shopper_profile(*, tenant: Tenant, shopper_id: str) -> ShopperProfile | None:
    """The profile of the shopper the storefront calls `shopper_id`; None when they have no events.

    Activity counts all their events. Categories, brands and prices come from
    their latest 5,000 events, and only from products still in the catalog.
    """
    events = Event.objects.filter(tenant=tenant, shopper_key=tenant.pseudonymise_shopper(shopper_id))
    summary = events.aggregate(
        events=Count("id"),
        first_seen=Min("occurred_at"),
        last_seen=Max("occurred_at"),
        active_days=Count(TruncDate("occurred_at"), distinct=True),
        **{event_type: Count("id", filter=Q(type=event_type)) for event_type in EventType.values},
    )
    if not summary["events"]:
        return None
    last_seen = summary["last_seen"]
    activity = Activity(
        events=summary["events"],
        per_type={event_type: summary[event_type] for event_type in EventType.values},
        active_days=summary["active_days"],
        events_last_30_days=events.filter(occurred_at__gt=last_seen - RECENT_WINDOW).count(),
    )
    interests = list(
        events.filter(product__isnull=False)
        .order_by("-occurred_at", "-id")
        .values("product_id", "product__category", "product__brand", "product__price")[:INTEREST_EVENTS_MAX]
    )
    return ShopperProfile(
        top_categories=_top_names(row["product__category"] for row in interests),
        top_brands=_top_names(row["product__brand"] for row in interests),
        price_band=_price_band(tenant=tenant, interests=interests),
        activity=activity,
        first_seen=summary["first_seen"],
        last_seen=last_seen,
    )


def _top_names(names) -> list[NamedCount]:
    """The most frequent non-empty names, ties by name, so the order does not depend on event order."""
    counts = Counter(name for name in names if name)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [NamedCount(name=name, count=count) for name, count in ranked[:TOP_COUNT]]


def _price_band(*, tenant: Tenant, interests: list[dict]) -> PriceBand | None:
    # Each product once: viewing the same pair of shoes ten times is not ten prices.
    price_per_product = {
        row["product_id"]: row["product__price"] for row in interests if row["product__price"] is not None
    }
    prices = sorted(price_per_product.values())
    if not prices:
        return None
    median = statistics.median(prices)
    return PriceBand(
        min=prices[0],
        median=median.quantize(CENT, rounding=ROUND_HALF_UP),
        max=prices[-1],
        label=_price_label(tenant=tenant, price=median),
    )


def _price_label(*, tenant: Tenant, price: Decimal) -> str | None:
    """Which third of the tenant's catalog prices `price` falls in; None when no product has a price."""
    tertiles = _catalog_price_tertiles(Product.objects.filter(tenant=tenant, price__isnull=False))
    if tertiles is None:
        return None  # the priced products were deleted since the shopper's events were read
    lower_cut, upper_cut = tertiles
    if price <= lower_cut:
        return "low"
    if price <= upper_cut:
        return "mid"
    return "high"


def _catalog_price_tertiles(priced: QuerySet[Product]) -> tuple[Decimal, Decimal] | None:
    """The prices a third and two thirds of the way up the catalog (nearest rank).

    Two single-row reads rather than the whole price list: a catalog can hold
    hundreds of thousands of products, and SQLite has no percentile function.
    """
    count = priced.count()
    if count == 0:
        return None
    by_price = priced.order_by("price").values_list("price", flat=True)
    return by_price[math.ceil(count / 3) - 1], by_price[math.ceil(2 * count / 3) - 1]
