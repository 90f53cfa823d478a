"""The statistics, over the per-shopper arrays of experiments.analysis.queries: each treatment against
the control per metric, the verdicts, the sample-ratio check, the day-by-day values and the planner."""

from __future__ import annotations

import contextlib
import datetime as dt
import warnings

import numpy as np

from experiments import stats
from experiments.analysis.queries import _Daily, _Shoppers
from experiments.analysis.results import (
    Bounds,
    Comparison,
    DailyValue,
    MetricResult,
    SampleRatioCheck,
    SampleSizePlan,
    VariantSummary,
    Verdict,
)
from experiments.models import Metric, Variant

ALPHA = 0.05
# Below this many shoppers in an arm there is no verdict: the delta method and
# the always-valid interval plug in sample variances and lean on the normal
# approximation, which skewed per-shopper values (revenue: most spend nothing,
# a few a lot) only reach with some hundreds of shoppers. 100 is the floor
# where a wrong verdict from a bad variance estimate becomes unlikely.
MIN_SHOPPERS_PER_VARIANT = 100
# The planner sizes the experiment to detect this relative change of the control's value.
PLANNER_RELATIVE_EFFECT = 0.05


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


def _variant_summary(
    variant: Variant, shoppers: _Shoppers, mask: np.ndarray, flagged_left_out: int
) -> VariantSummary:
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
        flagged_shoppers_left_out=flagged_left_out,
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
