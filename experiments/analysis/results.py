"""What the analysis returns: the verdicts and the results, plain frozen dataclasses."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy as _


class Verdict(models.TextChoices):
    NOT_ENOUGH_DATA = "not_enough_data", _("Not enough data")
    BETTER = "better", _("Better")
    WORSE = "worse", _("Worse")
    NO_DIFFERENCE_YET = "no_difference_yet", _("Not conclusive yet")  # not "no difference": it may be there


@dataclass(frozen=True)
class Bounds:
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Comparison:
    """One treatment against the control on one metric.

    `p_value` is Holm-adjusted over the treatments when there are several
    (`unadjusted_p_value` is the test's own). The 95% intervals are not: no
    exact interval matches Holm's step-down (Bonferroni's would disagree with
    the p-values the other way), so they are the test's own and are labelled
    unadjusted wherever they are shown. `always_valid_interval` is for
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
    flagged_shoppers_left_out: int  # served by this variant, flagged as bot-like: not in the figures above


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
    flagged_shoppers_left_out: int  # in no figure; per variant in `variants`
    variants: list[VariantSummary]
    sample_ratio: SampleRatioCheck
    primary: MetricResult
    guardrails: list[MetricResult]
    primary_over_time: list[DailyValue]
    planner: SampleSizePlan
