"""The results of an experiment: each treatment against the control, on the primary and guardrail metrics.

The unit is the shopper (`shopper_key`), the unit that was randomised. A
shopper's variant is the variant of their exposures (served lists); should a
shopper have been served by two variants (which sticky assignment rules out
unless the design was changed by hand), they count in the variant of their
first exposure, with everything they did: intention to treat, which keeps the
comparison randomised. How many such shoppers there are is reported.

Per shopper: exposures, impressions (items shown), clicks and purchases that
carry one of the experiment's recommendation ids, and, for CUPED, the
purchases of the 30 days before the experiment started.

The database groups the rows (exposures per shopper, events per list and
day); numpy and `experiments.stats` do the rest: about two seconds for
100,000 exposures on PostgreSQL. Runs inside the tenant's scope.

CUPED, our choice: conversion and revenue per shopper are compared on
CUPED-adjusted values whenever the pre-experiment covariate varies at all, and
the metric says so (`cuped`). A comparison's values, lift, intervals and
p-value are then all the adjusted ones, consistent with each other;
`MetricResult.values` keeps each variant's raw value, what the merchant would
compute by hand. Reporting both analyses would invite picking the better one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import warnings
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from django.db import models
from django.db.models import Count, Func, IntegerField, Min, Q, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catalog.models import Event, EventType
from experiments import stats
from experiments.models import Experiment, Metric, Variant
from recommendations.models import ServedRecommendation
from tenants.models import Tenant

ALPHA = 0.05
# Below this many shoppers in an arm there is no verdict: the delta method and
# the always-valid interval plug in sample variances and lean on the normal
# approximation, which skewed per-shopper values (revenue: most spend nothing,
# a few a lot) only reach with some hundreds of shoppers. 100 is the floor
# where a wrong verdict from a bad variance estimate becomes unlikely.
MIN_SHOPPERS_PER_VARIANT = 100
# CUPED's covariate: each shopper's purchases in this many days before the start.
PRE_EXPERIMENT_DAYS = 30
# The planner sizes the experiment to detect this relative change of the control's value.
PLANNER_RELATIVE_EFFECT = 0.05
# Events carry the storefront's clock: an attributed event may read a little
# earlier than its list was served. Looking this far before the start keeps
# those, and still lets the (tenant, occurred_at) index skip older events.
EVENT_CLOCK_SKEW = dt.timedelta(days=1)
# Shopper keys per query for the pre-experiment purchases: within the 999 parameters Django allows SQLite.
SHOPPERS_PER_QUERY = 900


class Verdict(models.TextChoices):
    NOT_ENOUGH_DATA = "not_enough_data", _("Not enough data")
    BETTER = "better", _("Better")
    WORSE = "worse", _("Worse")
    NO_DIFFERENCE_YET = "no_difference_yet", _("No difference yet")


@dataclass(frozen=True)
class Bounds:
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Comparison:
    """One treatment against the control on one metric.

    `p_value` is Holm-adjusted over the treatments when there are several
    (`unadjusted_p_value` is the test's own). `always_valid_interval` is for
    the absolute lift and holds at every look; the verdict reads it alone.
    With several treatments it is Bonferroni-corrected (alpha divided by
    their number), so the verdicts together keep the 5% error rate.
    """

    variant: str
    control_shoppers: int
    treatment_shoppers: int
    control_value: float | None
    treatment_value: float | None
    absolute_lift: float | None
    absolute_interval: Bounds | None
    relative_lift: float | None
    relative_interval: Bounds | None
    p_value: float | None
    unadjusted_p_value: float | None
    always_valid_interval: Bounds | None
    verdict: str


@dataclass(frozen=True)
class MetricResult:
    metric: str
    cuped: bool  # the comparisons are on CUPED-adjusted values
    values: dict[str, float | None]  # each variant's raw value
    comparisons: list[Comparison]


@dataclass(frozen=True)
class VariantSummary:
    name: str
    kind: str
    weight: float
    is_control: bool
    shoppers: int
    exposures: int
    impressions: int
    clicks: int
    converted_shoppers: int
    revenue: float


@dataclass(frozen=True)
class SampleRatioCheck:
    """Exposed shoppers per variant against the weights; flagged below p = 0.001."""

    p_value: float | None  # None: nothing to check yet
    flagged: bool
    shoppers: dict[str, int]
    expected_shares: dict[str, float]


@dataclass(frozen=True)
class DailyValue:
    """The primary metric of each variant over everything up to the end of `day`."""

    day: dt.date
    values: dict[str, float | None]


@dataclass(frozen=True)
class SampleSizePlan:
    metric: str
    control_value: float | None
    relative_effect: float
    absolute_effect: float | None
    shoppers_needed_per_variant: int | None  # None while the control's value is unknown or 0
    control_shoppers: int


@dataclass(frozen=True)
class ExperimentResults:
    experiment: str
    status: str
    started_at: dt.datetime | None
    stopped_at: dt.datetime | None
    control: str
    alpha: float
    min_shoppers_per_variant: int
    shoppers: int
    shoppers_in_several_variants: int
    variants: list[VariantSummary]
    sample_ratio: SampleRatioCheck
    primary: MetricResult
    guardrails: list[MetricResult]
    primary_over_time: list[DailyValue]
    planner: SampleSizePlan


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


def experiment_results(*, tenant: Tenant, experiment: Experiment) -> ExperimentResults:
    """The analysis of `experiment` as of now; safe to call as often as anyone likes (see Comparison)."""
    variants = list(Variant.objects.filter(tenant=tenant, experiment=experiment).order_by("position"))
    names = [variant.name for variant in variants]
    control = next(position for position, variant in enumerate(variants) if variant.is_control)
    shoppers = _shoppers_of(tenant, experiment, names)
    masks = [shoppers.variant == position for position in range(len(variants))]
    primary = _metric_result(experiment.primary_metric, shoppers, names, masks, control)
    return ExperimentResults(
        experiment=experiment.key,
        status=experiment.status,
        started_at=experiment.started_at,
        stopped_at=experiment.stopped_at,
        control=names[control],
        alpha=ALPHA,
        min_shoppers_per_variant=MIN_SHOPPERS_PER_VARIANT,
        shoppers=len(shoppers.keys),
        shoppers_in_several_variants=shoppers.in_several_variants,
        variants=[_variant_summary(variant, shoppers, mask) for variant, mask in zip(variants, masks)],
        sample_ratio=_sample_ratio(variants, masks),
        primary=primary,
        guardrails=[
            _metric_result(metric, shoppers, names, masks, control) for metric in experiment.guardrail_metrics
        ],
        primary_over_time=_over_time(experiment.primary_metric, shoppers.daily, names),
        planner=_plan(experiment.primary_metric, shoppers, masks[control]),
    )


# --- Per shopper, from the database ----------------------------------------------------------


def _shoppers_of(tenant: Tenant, experiment: Experiment, names: list[str]) -> _Shoppers:
    # Each query reads one table. Joining events to the served lists in SQL would leave the plan to
    # the tables' statistics, which a busy experiment's fresh rows do not have yet; PostgreSQL then
    # nests loops over both tables and 100,000 exposures take minutes, not seconds.
    served = ServedRecommendation.objects.filter(tenant=tenant, experiment=experiment).exclude(shopper_key="")
    shoppers = _exposed_shoppers(served, names)
    if experiment.started_at is not None:  # a draft has served nothing
        shopper_of_list = {
            recommendation_id: shoppers.index.get(shopper_key)
            for recommendation_id, shopper_key in served.values_list("recommendation_id", "shopper_key")
        }
        _add_outcomes(shoppers, shopper_of_list, _attributed_events(tenant, experiment))
        _add_pre_experiment(shoppers, _pre_experiment_purchases(tenant, experiment, shoppers.keys))
    return shoppers


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
    # (see the module's docstring): a day's impressions per shopper would cost a row per shopper-day.
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
    """Clicks and purchases that carry a recommendation id, since the start, per list, shopper and day;
    the caller keeps those of the experiment's lists."""
    is_click, is_purchase = Q(type=EventType.CLICK), Q(type=EventType.PURCHASE)
    return (
        Event.objects.filter(
            tenant=tenant,
            type__in=[EventType.CLICK, EventType.PURCHASE],
            occurred_at__gte=experiment.started_at - EVENT_CLOCK_SKEW,
        )
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


# --- Statistics ------------------------------------------------------------------------------


@contextlib.contextmanager
def _quietly():
    """Arms without variance (nobody clicked yet) give nan, which becomes None: not a warning."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _number(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _bounds(interval: stats.Interval) -> Bounds:
    return Bounds(_number(interval.low), _number(interval.high))


class _MeanMetric:
    """A per-shopper mean (conversion: 0/1; revenue), compared by Welch's t-test, CUPED-adjusted."""

    def __init__(self, raw: np.ndarray, pre: np.ndarray):
        self.raw = raw
        self.cuped = raw.size >= 2 and bool(np.var(pre) > 0)
        with _quietly():
            self.analysed = stats.cuped_adjust(raw, pre) if self.cuped else raw

    def value(self, mask: np.ndarray) -> float | None:
        return _number(self.raw[mask].mean()) if mask.any() else None

    def compare(self, control: np.ndarray, treatment: np.ndarray, alpha_sequential: float):
        if control.sum() < 2 or treatment.sum() < 2:
            return None, None
        with _quietly():
            lift = stats.welch_lift(self.analysed[control], self.analysed[treatment], alpha=ALPHA)
            always_valid = stats.always_valid_interval(
                self.analysed[control], self.analysed[treatment], alpha=alpha_sequential
            )
        return lift, always_valid

    def spread(self, control: np.ndarray) -> float | None:
        return _number(self.analysed[control].std(ddof=1)) if control.sum() >= 2 else None


class _RatioMetric:
    """Click-through: sum(clicks) / sum(impressions) per arm, by the delta method."""

    cuped = False

    def __init__(self, numerator: np.ndarray, denominator: np.ndarray):
        self.numerator, self.denominator = numerator, denominator

    def value(self, mask: np.ndarray) -> float | None:
        impressions = self.denominator[mask].sum()
        return _number(self.numerator[mask].sum() / impressions) if impressions > 0 else None

    def linearised(self, mask: np.ndarray) -> np.ndarray:
        """Per-shopper values whose mean is the arm's ratio and whose variance / n is the delta
        method's variance of it: what the always-valid interval, made for means, needs."""
        numerator, denominator = self.numerator[mask], self.denominator[mask]
        ratio = numerator.sum() / denominator.sum()
        return ratio + (numerator - ratio * denominator) / denominator.mean()

    def compare(self, control: np.ndarray, treatment: np.ndarray, alpha_sequential: float):
        if control.sum() < 2 or treatment.sum() < 2:
            return None, None
        if self.denominator[control].sum() <= 0 or self.denominator[treatment].sum() <= 0:
            return None, None
        with _quietly():
            lift = stats.ratio_lift(
                self.numerator[control],
                self.denominator[control],
                self.numerator[treatment],
                self.denominator[treatment],
                alpha=ALPHA,
            )
            always_valid = stats.always_valid_interval(
                self.linearised(control), self.linearised(treatment), alpha=alpha_sequential
            )
        return lift, always_valid

    def spread(self, control: np.ndarray) -> float | None:
        if control.sum() < 2 or self.denominator[control].sum() <= 0:
            return None
        return _number(self.linearised(control).std(ddof=1))


def _metric_of(metric: str, shoppers: _Shoppers) -> _MeanMetric | _RatioMetric:
    if metric == Metric.CLICK_THROUGH_RATE:
        return _RatioMetric(shoppers.clicks, shoppers.impressions)
    if metric == Metric.CONVERSION_RATE:
        return _MeanMetric(shoppers.converted, shoppers.pre_converted)
    return _MeanMetric(shoppers.revenue, shoppers.pre_revenue)


def _metric_result(
    metric: str, shoppers: _Shoppers, names: list[str], masks: list[np.ndarray], control: int
) -> MetricResult:
    measure = _metric_of(metric, shoppers)
    treatments = [position for position in range(len(names)) if position != control]
    alpha_sequential = ALPHA / len(treatments)
    compared = {
        position: measure.compare(masks[control], masks[position], alpha_sequential)
        for position in treatments
    }
    raw_p_values = {
        position: _number(lift.p_value) for position, (lift, _) in compared.items() if lift is not None
    }
    finite = {position: p for position, p in raw_p_values.items() if p is not None}
    adjusted = dict(zip(finite, stats.holm_adjust(list(finite.values())))) if len(treatments) > 1 else finite
    comparisons = []
    for position in treatments:
        lift, always_valid = compared[position]
        control_shoppers, treatment_shoppers = int(masks[control].sum()), int(masks[position].sum())
        always_valid_bounds = _bounds(always_valid) if always_valid is not None else None
        comparisons.append(
            Comparison(
                variant=names[position],
                control_shoppers=control_shoppers,
                treatment_shoppers=treatment_shoppers,
                control_value=_number(lift.control_value) if lift else None,
                treatment_value=_number(lift.treatment_value) if lift else None,
                absolute_lift=_number(lift.absolute) if lift else None,
                absolute_interval=_bounds(lift.absolute_interval) if lift else None,
                relative_lift=_number(lift.relative) if lift else None,
                relative_interval=_bounds(lift.relative_interval) if lift else None,
                p_value=adjusted.get(position),
                unadjusted_p_value=raw_p_values.get(position),
                always_valid_interval=always_valid_bounds,
                verdict=_verdict(min(control_shoppers, treatment_shoppers), always_valid_bounds),
            )
        )
    return MetricResult(
        metric=metric,
        cuped=measure.cuped,
        values={name: measure.value(mask) for name, mask in zip(names, masks)},
        comparisons=comparisons,
    )


def _verdict(fewest_shoppers: int, always_valid: Bounds | None) -> str:
    if fewest_shoppers < MIN_SHOPPERS_PER_VARIANT or always_valid is None:
        return Verdict.NOT_ENOUGH_DATA
    if always_valid.low is None or always_valid.high is None:
        return Verdict.NOT_ENOUGH_DATA  # no variance yet: nobody clicked or bought
    if always_valid.low > 0:
        return Verdict.BETTER  # every metric here is better higher
    if always_valid.high < 0:
        return Verdict.WORSE
    return Verdict.NO_DIFFERENCE_YET


def _sample_ratio(variants: list[Variant], masks: list[np.ndarray]) -> SampleRatioCheck:
    counts = {variant.name: int(mask.sum()) for variant, mask in zip(variants, masks)}
    total_weight = sum(variant.weight for variant in variants)
    shares = {variant.name: variant.weight / total_weight for variant in variants}
    weighted = [variant for variant in variants if variant.weight > 0]
    if any(counts[variant.name] for variant in variants if variant.weight == 0):
        # A variant designed to get nobody got shoppers: the assignment is broken.
        return SampleRatioCheck(p_value=0.0, flagged=True, shoppers=counts, expected_shares=shares)
    if len(weighted) < 2 or sum(counts.values()) == 0:
        return SampleRatioCheck(p_value=None, flagged=False, shoppers=counts, expected_shares=shares)
    check = stats.sample_ratio_mismatch(
        [counts[variant.name] for variant in weighted], [variant.weight for variant in weighted]
    )
    return SampleRatioCheck(
        p_value=check.p_value, flagged=check.flagged, shoppers=counts, expected_shares=shares
    )


def _variant_summary(variant: Variant, shoppers: _Shoppers, mask: np.ndarray) -> VariantSummary:
    return VariantSummary(
        name=variant.name,
        kind=variant.kind,
        weight=variant.weight,
        is_control=variant.is_control,
        shoppers=int(mask.sum()),
        exposures=int(shoppers.exposures[mask].sum()),
        impressions=int(shoppers.impressions[mask].sum()),
        clicks=int(shoppers.clicks[mask].sum()),
        converted_shoppers=int(shoppers.converted[mask].sum()),
        revenue=round(float(shoppers.revenue[mask].sum()), 2),
    )


def _over_time(metric: str, daily: _Daily, names: list[str]) -> list[DailyValue]:
    """Cumulative values per day, every day from the first exposure to the last event."""
    days = {day for sums in (daily.new_shoppers, daily.impressions, daily.clicks) for _, day in sums}
    if not days:
        return []
    first, last = min(days), max(days)
    if metric == Metric.CLICK_THROUGH_RATE:
        numerator, denominator = daily.clicks, daily.impressions
    elif metric == Metric.CONVERSION_RATE:
        numerator, denominator = daily.new_converted, daily.new_shoppers
    else:
        numerator, denominator = daily.revenue, daily.new_shoppers
    totals = {position: [0.0, 0.0] for position in range(len(names))}
    series = []
    for offset in range((last - first).days + 1):
        day = first + dt.timedelta(days=offset)
        values = {}
        for position, name in enumerate(names):
            totals[position][0] += numerator.get((position, day), 0)
            totals[position][1] += denominator.get((position, day), 0)
            top, bottom = totals[position]
            values[name] = top / bottom if bottom > 0 else None
        series.append(DailyValue(day=day, values=values))
    return series


def _plan(metric: str, shoppers: _Shoppers, control: np.ndarray) -> SampleSizePlan:
    """Shoppers per variant to detect a PLANNER_RELATIVE_EFFECT change of the control's current value,
    at ALPHA with 80% power. Conversion uses the two-proportion formula (no CUPED); revenue the
    spread of the values analysed, CUPED-adjusted when they are; click-through the spread of the
    delta method's linearised values."""
    measure = _metric_of(metric, shoppers)
    control_value = measure.value(control)
    plan = {
        "metric": metric,
        "control_value": control_value,
        "relative_effect": PLANNER_RELATIVE_EFFECT,
        "control_shoppers": int(control.sum()),
    }
    if not control_value:
        return SampleSizePlan(**plan, absolute_effect=None, shoppers_needed_per_variant=None)
    effect = PLANNER_RELATIVE_EFFECT * control_value
    needed = None
    if metric == Metric.CONVERSION_RATE:
        if control_value + effect < 1:
            needed = stats.shoppers_needed_per_variant(
                baseline_mean=control_value, minimum_detectable_effect=effect, alpha=ALPHA
            )
    else:
        spread = measure.spread(control)
        if spread:
            needed = stats.shoppers_needed_per_variant(
                baseline_mean=control_value, minimum_detectable_effect=effect, baseline_sd=spread, alpha=ALPHA
            )
    return SampleSizePlan(**plan, absolute_effect=effect, shoppers_needed_per_variant=needed)
