"""The results of an experiment: each treatment against the control, on the primary and guardrail metrics.

The unit is the shopper (`shopper_key`), the unit that was randomised. A
shopper's variant is the variant of their exposures (served lists); should a
shopper have been served by two variants (which sticky assignment rules out
unless the design was changed by hand), they count in the variant of their
first exposure, with everything they did: intention to treat, which keeps the
comparison randomised. How many such shoppers there are is reported.

A shopper that data cleaning flagged as bot-like (catalog.FlaggedShopper, of
the same tenant) counts nowhere: not in the exposures, the shoppers, the
sample-ratio check, the metrics, CUPED or the day-by-day values. One bot's
hundreds of clicks would otherwise decide a click-through test. How many were
left out is reported, per variant (the one that served them first). Flags are
recomputed by each cleaning run, so the results follow the latest one.

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

results.py  what the analysis returns: the verdicts and the dataclasses of the results
queries.py  per shopper, from the database: exposures, impressions, attributed events, CUPED's covariate
metrics.py  the statistics: per-metric comparisons and verdicts, the sample-ratio check, the planner
"""

from __future__ import annotations

from experiments.analysis.metrics import (
    ALPHA,
    MIN_SHOPPERS_PER_VARIANT,
    PLANNER_RELATIVE_EFFECT,
    _metric_result,
    _over_time,
    _plan,
    _sample_ratio,
    _variant_summary,
)
from experiments.analysis.queries import (
    EVENT_CLOCK_SKEW,
    PRE_EXPERIMENT_DAYS,
    SHOPPERS_PER_QUERY,
    _shoppers_of,
)
from experiments.analysis.results import (
    Bounds,
    Comparison,
    DailyValue,
    ExperimentResults,
    MetricResult,
    SampleRatioCheck,
    SampleSizePlan,
    VariantSummary,
    Verdict,
)
from experiments.models import Experiment, Variant
from tenants.models import Tenant

__all__ = [
    "ALPHA",
    "EVENT_CLOCK_SKEW",
    "MIN_SHOPPERS_PER_VARIANT",
    "PLANNER_RELATIVE_EFFECT",
    "PRE_EXPERIMENT_DAYS",
    "SHOPPERS_PER_QUERY",
    "Bounds",
    "Comparison",
    "DailyValue",
    "ExperimentResults",
    "MetricResult",
    "SampleRatioCheck",
    "SampleSizePlan",
    "VariantSummary",
    "Verdict",
    "experiment_results",
]


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
        flagged_shoppers_left_out=int(shoppers.flagged_left_out.sum()),
        variants=[
            _variant_summary(variant, shoppers, mask, int(shoppers.flagged_left_out[position]))
            for position, (variant, mask) in enumerate(zip(variants, masks))
        ],
        sample_ratio=_sample_ratio(variants, masks),
        primary=primary,
        guardrails=[
            _metric_result(metric, shoppers, names, masks, control) for metric in experiment.guardrail_metrics
        ],
        primary_over_time=_over_time(experiment.primary_metric, shoppers.daily, names),
        planner=_plan(experiment.primary_metric, shoppers, masks[control]),
    )
