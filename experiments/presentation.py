"""How an experiment is shown: plain data for the templates, no request.

The variants' shares of the experiment's shoppers; the results (experiments.analysis)
formatted for people; and their charts as inline SVG geometry, drawn on the server
like training.presentation's curves.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial

from django.utils.translation import gettext as _

from experiments.analysis import (
    Bounds,
    Comparison,
    ExperimentResults,
    MetricResult,
    VariantSummary,
    Verdict,
)
from experiments.models import Experiment, Metric, Variant


@dataclass(frozen=True)
class VariantRow:
    variant: Variant
    share: float  # of the experiment's shoppers, 0 to 1: the weight over the weights' sum

    @property
    def percent(self) -> float:
        return self.share * 100


def variant_rows(experiment: Experiment) -> list[VariantRow]:
    """The variants in their order, each with the share of the experiment's shoppers its weight gives."""
    variants = list(experiment.variants.all())
    total = sum(variant.weight for variant in variants)
    return [VariantRow(variant, variant.weight / total if total > 0 else 0.0) for variant in variants]


def metric_labels(metrics: list[str]) -> list[str]:
    """The metrics' names in the user's language; a metric this version does not know keeps its key."""
    return [str(Metric(metric).label) if metric in Metric.values else metric for metric in metrics]


# --- The results' charts, drawn as inline SVG ------------------------------------------------

# One colour per variant, by its position in the design (at most five variants).
SERIES_COLOURS = ("#5b6475", "#2458d3", "#c2410c", "#15803d", "#7e22ce")


def _number(value: float) -> str:
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _scale(value: float, low: float, high: float, start: float, end: float) -> float:
    if high == low:
        return (start + end) / 2
    return start + (value - low) / (high - low) * (end - start)


def _finite(*values) -> bool:
    return all(value is not None and math.isfinite(value) for value in values)


@dataclass(frozen=True)
class LiftMark:
    """One treatment's relative lift and its interval, as a dot on a line, in SVG units."""

    name: str
    relative: float
    low: float
    high: float
    x: str
    x_low: str
    x_high: str
    y: str
    label_y: str
    colour: str

    @property
    def relative_display(self) -> str:
        return format_relative(self.relative)

    @property
    def interval_display(self) -> str:
        return format_interval(Bounds(self.low, self.high), format_relative)


@dataclass(frozen=True)
class LiftChart:
    marks: list[LiftMark]
    zero_x: str
    low: float  # the axis' ends, as relative lifts (-0.05 is -5%)
    high: float
    plot_left: int
    plot_right: int
    width: int
    height: int

    @property
    def low_display(self) -> str:
        return format_relative(self.low)

    @property
    def high_display(self) -> str:
        return format_relative(self.high)


LIFT_CHART_WIDTH = 480
LIFT_ROW_HEIGHT = 36
LIFT_LABEL_WIDTH = 120
LIFT_PADDING = 12


def lift_chart(lifts: Sequence[tuple[str, float, float, float, str]]) -> LiftChart | None:
    """Each treatment's relative lift (a dot) with its interval (a line) around the zero line.

    `lifts`: (name, relative, low, high, colour). A lift without a finite interval (a control
    of 0 has none) is left out; None when nothing is left. The axis spans every interval and
    zero, with a little room on each side."""
    kept = [lift for lift in lifts if _finite(*lift[1:4])]
    if not kept:
        return None
    low = min(0.0, *(lift[2] for lift in kept))
    high = max(0.0, *(lift[3] for lift in kept))
    room = (high - low) * 0.08 or 0.01
    low, high = low - room, high + room
    left, right = LIFT_LABEL_WIDTH, LIFT_CHART_WIDTH - LIFT_PADDING

    def x(value: float) -> str:
        return _number(_scale(value, low, high, left, right))

    marks = []
    for index, (name, relative, interval_low, interval_high, colour) in enumerate(kept):
        middle = LIFT_PADDING + LIFT_ROW_HEIGHT * index + LIFT_ROW_HEIGHT / 2
        marks.append(LiftMark(
            name=name, relative=relative, low=interval_low, high=interval_high,
            x=x(relative), x_low=x(interval_low), x_high=x(interval_high),
            y=_number(middle), label_y=_number(middle + 4), colour=colour,
        ))
    return LiftChart(
        marks=marks, zero_x=x(0.0), low=low, high=high, plot_left=left, plot_right=right,
        width=LIFT_CHART_WIDTH, height=LIFT_PADDING * 2 + LIFT_ROW_HEIGHT * len(kept),
    )


@dataclass(frozen=True)
class Series:
    name: str
    points: str  # the `points` of an SVG <polyline>
    colour: str
    dots: list[dict]  # {"x", "y", "day", "value", "value_display"}: a dot with a tooltip per point


@dataclass(frozen=True)
class TimeChart:
    series: list[Series]
    low: float
    high: float
    first_day: date
    last_day: date
    width: int = 480
    height: int = 180


TIME_CHART_PADDING = 10


def time_chart(series: Sequence[tuple[str, Sequence[tuple[date, float]], str]]) -> TimeChart | None:
    """The variants' metric over time on shared axes (unlike training's curves, each of which fills
    its own box: here the lines are compared). `series`: (name, [(day, value)], colour). Points
    whose value is not a finite number are left out; None when no point is left."""
    kept = [
        (name, [(day, value) for day, value in points if _finite(value)], colour)
        for name, points, colour in series
    ]
    kept = [entry for entry in kept if entry[1]]
    if not kept:
        return None
    days = [day for _name, points, _colour in kept for day, _value in points]
    values = [value for _name, points, _colour in kept for _day, value in points]
    first, last = min(days), max(days)
    low, high = min(values), max(values)
    width, height, padding = TimeChart.width, TimeChart.height, TIME_CHART_PADDING

    def position(day: date, value: float) -> tuple[str, str]:
        x = _scale(_ordinal(day), _ordinal(first), _ordinal(last), padding, width - padding)
        y = _scale(value, low, high, height - padding, padding)
        return _number(x), _number(y)

    drawn = []
    for name, points, colour in kept:
        positions = [position(day, value) for day, value in points]
        drawn.append(Series(
            name=name, colour=colour,
            points=" ".join(f"{x},{y}" for x, y in positions),
            dots=[{"x": x, "y": y, "day": day, "value": value}
                  for (x, y), (day, value) in zip(positions, points)],
        ))
    return TimeChart(series=drawn, low=low, high=high, first_day=_as_date(first), last_day=_as_date(last))


def _ordinal(day: date) -> float:
    return day.timestamp() / 86400 if isinstance(day, datetime) else float(day.toordinal())


def _as_date(day: date) -> date:
    return day.date() if isinstance(day, datetime) else day


# --- The results, for people -----------------------------------------------------------------

RATE_METRICS = frozenset({Metric.CLICK_THROUGH_RATE, Metric.CONVERSION_RATE})
DASH = "—"


def format_value(metric: str, value: float | None) -> str:
    """A rate as a percentage (12.34%), revenue per shopper as money (3.20)."""
    if value is None:
        return DASH
    return f"{value * 100:.2f}%" if metric in RATE_METRICS else f"{value:,.2f}"


def format_difference(metric: str, value: float | None) -> str:
    """An absolute lift, signed: a rate's in percentage points (+1.20 pp), revenue's as money (+0.35)."""
    if value is None:
        return DASH
    if metric in RATE_METRICS:
        return _("%(points)s pp") % {"points": f"{value * 100:+.2f}"}
    return f"{value:+,.2f}"


def format_relative(value: float | None) -> str:
    return DASH if value is None else f"{value * 100:+.1f}%"


def format_interval(bounds: Bounds | None, format_bound) -> str:
    # One of zero width is no certainty but no spread: every shopper's value is the same so far
    # (nobody clicked, say), and "+0.00 pp to +0.00 pp" would read as a sure result.
    if bounds is None or bounds.low is None or bounds.high is None or bounds.low == bounds.high:
        return DASH
    return _("%(low)s to %(high)s") % {"low": format_bound(bounds.low), "high": format_bound(bounds.high)}


def format_p_value(p_value: float | None) -> str:
    if p_value is None:
        return DASH
    return "< 0.001" if p_value < 0.001 else f"{p_value:.3f}"


@dataclass(frozen=True)
class ResultRow:
    """One variant on one metric; the lift columns are empty (—) for the control."""

    name: str
    colour: str
    is_control: bool
    shoppers: int
    value: str
    # With CUPED, the lifts are differences of adjusted means, not of the values shown: each
    # variant's adjusted mean stands under its value, so the lift can be read off the table.
    adjusted_value: str = ""
    absolute: str = DASH
    absolute_interval: str = DASH
    relative: str = DASH
    relative_interval: str = DASH
    p_value: str = DASH
    always_valid_interval: str = DASH
    verdict: str = ""
    verdict_label: str = ""


@dataclass(frozen=True)
class MetricTable:
    metric: str
    label: str
    cuped: bool
    rows: list[ResultRow]

    @property
    def several_treatments(self) -> bool:
        """Then the p-values are Holm-adjusted over the treatments but the 95% intervals are not, and
        the table says so: no exact interval matches Holm's step-down."""
        return sum(not row.is_control for row in self.rows) > 1


def _comparison_row(
    metric: str, comparison: Comparison, shoppers: int, colour: str, value: str, adjusted_value: str
) -> ResultRow:
    difference = partial(format_difference, metric)
    return ResultRow(
        name=comparison.variant, colour=colour, is_control=False, shoppers=shoppers, value=value,
        adjusted_value=adjusted_value,
        absolute=difference(comparison.absolute_lift),
        absolute_interval=format_interval(comparison.absolute_interval, difference),
        relative=format_relative(comparison.relative_lift),
        relative_interval=format_interval(comparison.relative_interval, format_relative),
        p_value=format_p_value(comparison.p_value),
        always_valid_interval=format_interval(comparison.always_valid_interval, difference),
        verdict=comparison.verdict, verdict_label=str(Verdict(comparison.verdict).label),
    )


def metric_table(result: MetricResult, variants: Sequence[VariantSummary]) -> MetricTable:
    """Every variant of the design in its order: the control's value, then each treatment's lifts."""
    comparisons = {comparison.variant: comparison for comparison in result.comparisons}
    control = next((variant.name for variant in variants if variant.is_control), None)
    adjusted = _adjusted_values(result, control) if result.cuped else {}
    rows = []
    for position, variant in enumerate(variants):
        colour = SERIES_COLOURS[position % len(SERIES_COLOURS)]
        value = format_value(result.metric, result.values.get(variant.name))
        if variant.name in comparisons:
            comparison = comparisons[variant.name]
            rows.append(_comparison_row(
                result.metric, comparison, variant.shoppers, colour, value, adjusted.get(variant.name, "")
            ))
        else:
            rows.append(ResultRow(
                name=variant.name, colour=colour, is_control=True, shoppers=variant.shoppers, value=value,
                adjusted_value=adjusted.get(variant.name, ""),
            ))
    label = metric_labels([result.metric])[0]
    return MetricTable(metric=result.metric, label=label, cuped=result.cuped, rows=rows)


def _adjusted_values(result: MetricResult, control: str | None) -> dict[str, str]:
    """Each variant's CUPED-adjusted mean, formatted: the means its comparison's lift is the difference of.

    The adjustment is pooled over every arm (one theta), so the control's adjusted mean is the same
    in every comparison; a variant compared on too few shoppers has none."""
    adjusted = {}
    for comparison in result.comparisons:
        if comparison.treatment_value is not None:
            adjusted[comparison.variant] = format_value(result.metric, comparison.treatment_value)
        if comparison.control_value is not None and control not in adjusted:
            adjusted[control] = format_value(result.metric, comparison.control_value)
    return adjusted


@dataclass(frozen=True)
class SplitRow:
    name: str
    shoppers: int
    served_percent: float | None
    designed_percent: float


@dataclass(frozen=True)
class ResultsPage:
    results: ExperimentResults
    primary: MetricTable
    guardrails: list[MetricTable]
    enough_data: bool  # at least one treatment has a verdict on the primary metric
    # Why there is none: "no_shoppers", "few_shoppers" (a variant below the minimum), or
    # "no_outcomes" (enough shoppers, but the metric does not vary yet); "" when there is one.
    not_enough_because: str
    fewest_shoppers: int  # in any variant
    lift_chart: LiftChart | None
    time_chart: TimeChart | None
    time_low: str
    time_high: str
    split: list[SplitRow]
    planner_relative_effect: str  # the change the planner sizes for, as a percentage of the control's value
    planner_effect: str  # the same, in the metric's unit
    planner_needed: str  # shoppers per variant, "57,763"
    planner_control_value: str


def _split(results: ExperimentResults) -> list[SplitRow]:
    check, total = results.sample_ratio, results.shoppers
    return [
        SplitRow(name=name, shoppers=shoppers, served_percent=shoppers / total * 100 if total else None,
                 designed_percent=check.expected_shares.get(name, 0.0) * 100)
        for name, shoppers in check.shoppers.items()
    ]


def _primary_over_time(results: ExperimentResults, colours: dict[str, str]) -> TimeChart | None:
    chart = time_chart([
        (name, [(daily.day, daily.values.get(name)) for daily in results.primary_over_time], colour)
        for name, colour in colours.items()
    ])
    for series in chart.series if chart else ():
        for dot in series.dots:  # the tooltips read as the table does: 13.11%, not 0.1311
            dot["value_display"] = format_value(results.primary.metric, dot["value"])
    return chart


def results_page(results: ExperimentResults) -> ResultsPage:
    """What the results section shows, formatted; `results` from experiments.analysis."""
    primary = metric_table(results.primary, results.variants)
    colours = {row.name: row.colour for row in primary.rows}
    lifts = [
        (c.variant, c.relative_lift, c.relative_interval.low, c.relative_interval.high, colours[c.variant])
        for c in results.primary.comparisons if c.relative_interval is not None
    ]
    over_time = _primary_over_time(results, colours)
    metric, planner = results.primary.metric, results.planner
    enough_data = any(c.verdict != Verdict.NOT_ENOUGH_DATA for c in results.primary.comparisons)
    fewest_shoppers = min((variant.shoppers for variant in results.variants), default=0)
    if enough_data:
        not_enough_because = ""
    elif results.shoppers == 0:
        not_enough_because = "no_shoppers"
    elif fewest_shoppers < results.min_shoppers_per_variant:
        not_enough_because = "few_shoppers"
    else:
        not_enough_because = "no_outcomes"
    return ResultsPage(
        results=results,
        primary=primary,
        guardrails=[metric_table(result, results.variants) for result in results.guardrails],
        enough_data=enough_data,
        not_enough_because=not_enough_because,
        fewest_shoppers=fewest_shoppers,
        lift_chart=lift_chart(lifts),
        time_chart=over_time,
        time_low=format_value(metric, over_time.low) if over_time else "",
        time_high=format_value(metric, over_time.high) if over_time else "",
        split=_split(results),
        planner_relative_effect=f"{planner.relative_effect * 100:g}%",
        planner_effect=format_difference(metric, planner.absolute_effect).lstrip("+"),
        planner_control_value=format_value(metric, planner.control_value),
        planner_needed=f"{planner.shoppers_needed_per_variant or 0:,}",
    )
