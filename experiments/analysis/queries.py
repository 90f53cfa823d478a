"""Per shopper, from the database: exposures, impressions, attributed clicks and purchases, and the
purchases before the start (CUPED's covariate). Which variant a shopper counts in, and why shoppers
flagged as bot-like count in none: see the package's docstring (experiments/analysis/__init__.py)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from django.db.models import Count, Func, IntegerField, Min, Q, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from catalog.models import Event, EventType, FlaggedShopper
from experiments.models import Experiment
from recommendations.models import ServedRecommendation
from tenants.models import Tenant

# CUPED's covariate: each shopper's purchases in this many days before the start.
PRE_EXPERIMENT_DAYS = 30
# Events carry the storefront's clock: an attributed event may read a little
# earlier than its list was served. Looking this far before the start keeps
# those, and still lets the (tenant, occurred_at) index skip older events.
EVENT_CLOCK_SKEW = dt.timedelta(days=1)
# Shopper keys per query for the pre-experiment purchases: within the 999 parameters Django allows SQLite.
SHOPPERS_PER_QUERY = 900


class _JsonArrayLength(Func):
    """The length of a JSON array column; Django has no portable function for it."""

    function = "JSON_ARRAY_LENGTH"  # SQLite
    output_field = IntegerField()

    def as_postgresql(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, function="JSONB_ARRAY_LENGTH", **extra_context)

    def as_mysql(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, function="JSON_LENGTH", **extra_context)


@dataclass
class _Daily:
    """Sums per (variant position, day), for the chart."""

    new_shoppers: dict = field(default_factory=lambda: defaultdict(int))
    impressions: dict = field(default_factory=lambda: defaultdict(int))
    clicks: dict = field(default_factory=lambda: defaultdict(int))
    new_converted: dict = field(default_factory=lambda: defaultdict(int))
    revenue: dict = field(default_factory=lambda: defaultdict(float))


class _Shoppers:
    """One entry per exposed shopper, in the order of `keys`; `variant` holds positions in the design."""

    def __init__(self, keys: list[str], variant: np.ndarray, exposures: np.ndarray, impressions: np.ndarray):
        self.keys, self.variant, self.exposures, self.impressions = keys, variant, exposures, impressions
        self.index = {key: position for position, key in enumerate(keys)}
        self.clicks, self.converted, self.revenue, self.pre_converted, self.pre_revenue = (
            np.zeros(len(keys)) for _ in range(5)
        )
        self.in_several_variants = 0
        self.daily = _Daily()
        # Per variant position: the shoppers it served who are flagged as bot-like, left out of the above.
        self.flagged_left_out = np.zeros(0, dtype=np.int64)


# --- Per shopper, from the database ----------------------------------------------------------


def _shoppers_of(tenant: Tenant, experiment: Experiment, names: list[str]) -> _Shoppers:
    # Each query reads one table. Joining events to the served lists in SQL would leave the plan to
    # the tables' statistics, which a busy experiment's fresh rows do not have yet; PostgreSQL then
    # nests loops over both tables and 100,000 exposures take minutes, not seconds. The flagged
    # shoppers are the exception: a few rows, which the database reads once and hashes.
    served = ServedRecommendation.objects.filter(tenant=tenant, experiment=experiment).exclude(shopper_key="")
    flagged = FlaggedShopper.objects.filter(tenant=tenant).values("shopper_key")
    # Leaving out a flagged shopper's lists leaves out everything of theirs: their exposures and
    # impressions here, their events (counted only on their own lists, see _add_outcomes) and their
    # purchases before the start (read for the shoppers kept).
    kept = served.exclude(shopper_key__in=flagged)
    shoppers = _exposed_shoppers(kept, names)
    shoppers.flagged_left_out = _flagged_per_variant(served.filter(shopper_key__in=flagged), names)
    if experiment.started_at is not None:  # a draft has served nothing
        shopper_of_list = {
            recommendation_id: shoppers.index.get(shopper_key)
            for recommendation_id, shopper_key in kept.values_list("recommendation_id", "shopper_key")
        }
        _add_outcomes(shoppers, shopper_of_list, _attributed_events(tenant, experiment))
        _add_pre_experiment(shoppers, _pre_experiment_purchases(tenant, experiment, shoppers.keys))
    return shoppers


def _flagged_per_variant(served_to_flagged, names: list[str]) -> np.ndarray:
    """How many flagged shoppers each variant served, each counted once, in the variant that served
    them first: the variant they would count in were they not flagged."""
    first_variant: dict[str, tuple[dt.datetime, int]] = {}
    for shopper_key, variant, first_served_at in (
        served_to_flagged.filter(variant__in=names)
        .values("shopper_key", "variant")
        .annotate(first_served_at=Min("served_at"))
        .order_by()
        .values_list("shopper_key", "variant", "first_served_at")
    ):
        if shopper_key not in first_variant or first_served_at < first_variant[shopper_key][0]:
            first_variant[shopper_key] = (first_served_at, names.index(variant))
    counts = np.zeros(len(names), dtype=np.int64)
    for _first_served_at, position in first_variant.values():
        counts[position] += 1
    return counts


def _exposed_shoppers(served, names: list[str]) -> _Shoppers:
    served = served.filter(variant__in=names)
    impressions_of_list = Coalesce(Sum(_JsonArrayLength("product_ids")), 0)
    # shopper -> [variant position, exposures, impressions, first served at]
    exposed: dict[str, list] = {}
    several: set[str] = set()
    for shopper_key, variant, exposures, impressions, first_served_at in (
        served.values("shopper_key", "variant")
        .annotate(exposures=Count("id"), impressions=impressions_of_list, first_served_at=Min("served_at"))
        .order_by()
        .values_list("shopper_key", "variant", "exposures", "impressions", "first_served_at")
    ):
        position = names.index(variant)
        entry = exposed.setdefault(shopper_key, [position, 0, 0, first_served_at])
        if entry[0] != position:
            several.add(shopper_key)
            if first_served_at < entry[3]:
                entry[0], entry[3] = position, first_served_at
        entry[1] += exposures
        entry[2] += impressions
    entries = list(exposed.values())
    shoppers = _Shoppers(
        keys=list(exposed),
        variant=np.array([entry[0] for entry in entries], dtype=np.int64),
        exposures=np.array([entry[1] for entry in entries], dtype=float),
        impressions=np.array([entry[2] for entry in entries], dtype=float),
    )
    shoppers.in_several_variants = len(several)
    for position, _exposures, _impressions, first_served_at in entries:
        shoppers.daily.new_shoppers[position, timezone.localdate(first_served_at)] += 1
    # Under the list's variant, which is its shopper's, but for the shoppers in several variants
    # (see the package's docstring): a day's impressions per shopper would cost a row per shopper-day.
    for variant, day, impressions in (
        served.values("variant", day=TruncDate("served_at"))
        .annotate(impressions=impressions_of_list)
        .order_by()
        .values_list("variant", "day", "impressions")
    ):
        shoppers.daily.impressions[names.index(variant), day] += impressions
    return shoppers


def _add_outcomes(shoppers: _Shoppers, shopper_of_list: dict[str, int | None], rows) -> None:
    first_purchase_day: dict[int, dt.date] = {}
    for row in rows:
        position = shopper_of_list.get(row["recommendation_id"])
        if position is None or shoppers.keys[position] != row["shopper_key"]:
            continue  # not this experiment's list, or another shopper's doing (a shared link)
        arm, day, revenue = shoppers.variant[position], row["day"], float(row["revenue"] or 0)
        shoppers.clicks[position] += row["clicks"]
        shoppers.revenue[position] += revenue
        shoppers.daily.clicks[arm, day] += row["clicks"]
        shoppers.daily.revenue[arm, day] += revenue
        if row["purchases"]:
            shoppers.converted[position] = 1
            first_purchase_day[position] = min(day, first_purchase_day.get(position, day))
    for position, day in first_purchase_day.items():
        shoppers.daily.new_converted[shoppers.variant[position], day] += 1


def _add_pre_experiment(shoppers: _Shoppers, rows) -> None:
    for row in rows:
        position = shoppers.index[row["shopper_key"]]
        shoppers.pre_converted[position] = 1
        shoppers.pre_revenue[position] += float(row["revenue"] or 0)


def _attributed_events(tenant: Tenant, experiment: Experiment):
    """Clicks and purchases that carry a recommendation id, from the start to the stop, per list,
    shopper and day; the caller keeps those of the experiment's lists, each by its own shopper (so a
    flagged shopper's events, whose lists are left out, count nowhere)."""
    is_click, is_purchase = Q(type=EventType.CLICK), Q(type=EventType.PURCHASE)
    events = Event.objects.filter(
        tenant=tenant,
        type__in=[EventType.CLICK, EventType.PURCHASE],
        occurred_at__gte=experiment.started_at - EVENT_CLOCK_SKEW,
    )
    if experiment.stopped_at is not None:
        # A stopped experiment's results hold still: what shoppers do later, with a list they were
        # served before the stop, is not the test's. Events sent late still count, by their time.
        events = events.filter(occurred_at__lte=experiment.stopped_at)
    return (
        events
        .exclude(recommendation_id="")
        .values("recommendation_id", "shopper_key", day=TruncDate("occurred_at"))
        .annotate(
            clicks=Count("id", filter=is_click),
            purchases=Count("id", filter=is_purchase),
            revenue=Sum("value", filter=is_purchase),
        )
        .order_by()
    )


def _pre_experiment_purchases(tenant: Tenant, experiment: Experiment, shopper_keys: list[str]):
    """Each shopper's purchases (any, attributed or not) in the days before the start: some hundreds
    of shoppers a query, each an index range scan of (tenant, shopper_key, occurred_at)."""
    for start in range(0, len(shopper_keys), SHOPPERS_PER_QUERY):
        yield from (
            Event.objects.filter(
                tenant=tenant,
                type=EventType.PURCHASE,
                shopper_key__in=shopper_keys[start : start + SHOPPERS_PER_QUERY],
                occurred_at__gte=experiment.started_at - dt.timedelta(days=PRE_EXPERIMENT_DAYS),
                occurred_at__lt=experiment.started_at,
            )
            .values("shopper_key")
            .annotate(revenue=Sum("value"))
            .order_by()
        )
