"""The results of an experiment: on exposures and events built by hand they agree with experiments.stats
run on the same numbers; the sample-ratio check; too few shoppers; and end to end through the real
recommendations endpoint and events API, where the analysis finds the lift the simulation put in."""

import datetime as dt
import io
from decimal import Decimal

import numpy as np
import pytest
from django.core.management import call_command
from django.template.loader import render_to_string

from catalog.models import Event, FlaggedShopper
from experiments import stats
from experiments.analysis import MIN_SHOPPERS_PER_VARIANT, Verdict, experiment_results
from experiments.models import Experiment
from experiments.presentation import format_difference, format_value, metric_table
from experiments.services import experiment_create, experiment_start
from recommendations.models import ServedRecommendation
from tenants.models import ApiKey
from tenants.scope import tenant_scope
from tests.training.factories import a_live_model

STARTED_AT = dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC)


def running_experiment(tenant, *, weights: dict[str, float], key: str = "ranker") -> Experiment:
    """Started at STARTED_AT; the first variant is the control (the live model), the others popularity."""
    a_live_model(tenant)
    with tenant_scope(tenant):
        experiment = experiment_create(
            tenant=tenant,
            key=key,
            name="New ranker",
            primary_metric="click_through_rate",
            guardrail_metrics=["conversion_rate", "revenue_per_shopper"],
            variants=[
                {
                    "name": name,
                    "kind": "popularity" if position else "live",
                    "weight": weight,
                    "is_control": position == 0,
                }
                for position, (name, weight) in enumerate(weights.items())
            ],
        )
        experiment_start(tenant=tenant, experiment_id=experiment.pk, by=None)
        Experiment.objects.filter(pk=experiment.pk).update(started_at=STARTED_AT)
        experiment.refresh_from_db()
    return experiment


def results_of(tenant, experiment):
    with tenant_scope(tenant):
        return experiment_results(tenant=tenant, experiment=experiment)


class HandBuilt:
    """Exposures and events written in bulk, and each shopper's numbers kept beside them, per variant."""

    def __init__(self, tenant, experiment):
        self.tenant, self.experiment = tenant, experiment
        self.served: list[ServedRecommendation] = []
        self.events: list[Event] = []
        self.per_variant: dict[str, dict[str, list[float]]] = {}

    def shopper(
        self,
        variant: str,
        key: str,
        *,
        lists: list[int],
        clicks: list[int],
        purchases: list[float],
        pre_purchases: list[float],
        first_hour: int = 6,
    ) -> None:
        """`lists`: items per served list, the first `first_hour` hours after the start, the others a
        day apart; `clicks`: clicks on each list; `purchases`: values, on the first list;
        `pre_purchases`: values, ten days before the start."""
        for number, (items, clicked) in enumerate(zip(lists, clicks)):
            served_at = STARTED_AT + dt.timedelta(hours=first_hour + 24 * number)
            recommendation_id = f"{variant}-{key}-{number}"
            self.served.append(
                ServedRecommendation(
                    tenant=self.tenant,
                    recommendation_id=recommendation_id,
                    endpoint="recommendations",
                    shopper_key=key,
                    experiment=self.experiment,
                    variant=variant,
                    product_ids=[f"SKU-{item}" for item in range(items)],
                    served_at=served_at,
                )
            )
            for click in range(clicked):
                self.event(key, "click", served_at, recommendation_id=recommendation_id)
        first_list = self.served[-len(lists)]
        for value in purchases:
            self.event(
                key,
                "purchase",
                first_list.served_at,
                value=value,
                recommendation_id=first_list.recommendation_id,
            )
        for value in pre_purchases:
            self.event(key, "purchase", STARTED_AT - dt.timedelta(days=10), value=value)
        numbers = self.per_variant.setdefault(
            variant,
            {
                "clicks": [],
                "impressions": [],
                "converted": [],
                "revenue": [],
                "pre_converted": [],
                "pre_revenue": [],
            },
        )
        numbers["clicks"].append(sum(clicks))
        numbers["impressions"].append(sum(lists))
        numbers["converted"].append(1.0 if purchases else 0.0)
        numbers["revenue"].append(sum(purchases))
        numbers["pre_converted"].append(1.0 if pre_purchases else 0.0)
        numbers["pre_revenue"].append(sum(pre_purchases))

    def event(self, key: str, kind: str, at: dt.datetime, *, value: float = 0, recommendation_id: str = ""):
        self.events.append(
            Event(
                tenant=self.tenant,
                event_id=f"e{len(self.events)}",
                shopper_key=key,
                type=kind,
                product_external_id="SKU-0",
                occurred_at=at + dt.timedelta(minutes=1),
                value=Decimal(f"{value:.2f}"),
                recommendation_id=recommendation_id,
            )
        )

    def save(self) -> None:
        ServedRecommendation.all_tenants.bulk_create(self.served, batch_size=2000)
        Event.all_tenants.bulk_create(self.events, batch_size=2000)

    def array(self, variant: str, name: str) -> np.ndarray:
        return np.array(self.per_variant[variant][name], dtype=float)


def random_shoppers(
    built: HandBuilt, rng, *, variant: str, count: int, click_rate: float, purchase_rate: float
) -> None:
    for number in range(count):
        lists = [int(items) for items in rng.integers(3, 9, size=rng.integers(1, 4))]
        pre_purchases = [round(float(rng.exponential(20)) + 1, 2)] if rng.random() < 0.3 else []
        # Past buyers buy more: the correlation CUPED lives on.
        bought = rng.random() < purchase_rate * (2.5 if pre_purchases else 1)
        built.shopper(
            variant,
            f"{variant}-{number}",
            lists=lists,
            clicks=[int(rng.binomial(items, click_rate)) for items in lists],
            purchases=[round(float(rng.exponential(30)) + 1, 2)] if bought else [],
            pre_purchases=pre_purchases,
        )


def linearised(clicks: np.ndarray, impressions: np.ndarray) -> np.ndarray:
    """Per-shopper values with the arm's click-through as mean and the delta method's variance."""
    ratio = clicks.sum() / impressions.sum()
    return ratio + (clicks - ratio * impressions) / impressions.mean()


@pytest.fixture
def three_arms(tenant):
    experiment = running_experiment(tenant, weights={"control": 1, "a": 1, "b": 1})
    built = HandBuilt(tenant, experiment)
    rng = np.random.default_rng(20250301)
    for variant, count, click_rate, purchase_rate in [
        ("control", 330, 0.10, 0.10),
        ("a", 300, 0.13, 0.14),
        ("b", 315, 0.10, 0.10),
    ]:
        random_shoppers(
            built, rng, variant=variant, count=count, click_rate=click_rate, purchase_rate=purchase_rate
        )
    # What the analysis must leave out: a view, a click on a list from outside the experiment, and a
    # purchase 40 days before the start (outside CUPED's 30 days).
    built.event("control-0", "view", STARTED_AT, recommendation_id="control-control-0-0")
    built.event("control-0", "click", STARTED_AT, recommendation_id="a-list-from-elsewhere")
    built.event("control-1", "purchase", STARTED_AT - dt.timedelta(days=40), value=500)
    built.save()
    return built, results_of(tenant, experiment)


def test_click_through_agrees_with_the_delta_method_and_holm_over_two_treatments(three_arms):
    built, results = three_arms
    clicks, impressions = (
        {v: built.array(v, "clicks") for v in ["control", "a", "b"]},
        {v: built.array(v, "impressions") for v in ["control", "a", "b"]},
    )
    expected = {
        v: stats.ratio_lift(clicks["control"], impressions["control"], clicks[v], impressions[v])
        for v in "ab"
    }
    holm = dict(zip("ab", stats.holm_adjust([expected["a"].p_value, expected["b"].p_value])))
    assert results.primary.metric == "click_through_rate" and results.primary.cuped is False
    for comparison in results.primary.comparisons:
        lift = expected[comparison.variant]
        assert comparison.control_value == pytest.approx(lift.control_value)
        assert comparison.treatment_value == pytest.approx(lift.treatment_value)
        assert comparison.absolute_lift == pytest.approx(lift.absolute)
        assert (comparison.absolute_interval.low, comparison.absolute_interval.high) == pytest.approx(
            tuple(lift.absolute_interval)
        )
        assert comparison.relative_lift == pytest.approx(lift.relative)
        assert (comparison.relative_interval.low, comparison.relative_interval.high) == pytest.approx(
            tuple(lift.relative_interval)
        )
        assert comparison.unadjusted_p_value == pytest.approx(lift.p_value)
        assert comparison.p_value == pytest.approx(holm[comparison.variant])

        # The linearised values carry the delta method's variance...
        control = linearised(clicks["control"], impressions["control"])
        treatment = linearised(clicks[comparison.variant], impressions[comparison.variant])
        standard_error = np.sqrt(control.var(ddof=1) / control.size + treatment.var(ddof=1) / treatment.size)
        half_width = (lift.absolute_interval.high - lift.absolute_interval.low) / 2
        assert half_width == pytest.approx(1.959964 * standard_error)
        # ...and the always-valid interval is theirs, Bonferroni-corrected over the two treatments.
        always_valid = stats.always_valid_interval(control, treatment, alpha=0.05 / 2)
        assert (comparison.always_valid_interval.low, comparison.always_valid_interval.high) == pytest.approx(
            tuple(always_valid)
        )
        verdict = (
            Verdict.BETTER
            if always_valid.low > 0
            else Verdict.WORSE
            if always_valid.high < 0
            else Verdict.NO_DIFFERENCE_YET
        )
        assert comparison.verdict == verdict
    assert results.primary.values == pytest.approx(
        {v: clicks[v].sum() / impressions[v].sum() for v in ["control", "a", "b"]}
    )


@pytest.mark.parametrize(
    "metric,values,covariate",
    [
        ("conversion_rate", "converted", "pre_converted"),
        ("revenue_per_shopper", "revenue", "pre_revenue"),
    ],
)
def test_conversion_and_revenue_agree_with_welch_on_cuped_adjusted_values(
    three_arms, metric, values, covariate
):
    built, results = three_arms
    variants = ["control", "a", "b"]
    pooled = np.concatenate([built.array(v, values) for v in variants])
    pooled_covariate = np.concatenate([built.array(v, covariate) for v in variants])
    adjusted = np.split(
        stats.cuped_adjust(pooled, pooled_covariate),
        np.cumsum([len(built.per_variant[v][values]) for v in variants])[:-1],
    )
    by_variant = dict(zip(variants, adjusted))
    [result] = [guardrail for guardrail in results.guardrails if guardrail.metric == metric]
    assert result.cuped is True
    assert result.values == pytest.approx({v: built.array(v, values).mean() for v in variants})
    for comparison in result.comparisons:
        lift = stats.welch_lift(by_variant["control"], by_variant[comparison.variant])
        assert comparison.treatment_value == pytest.approx(lift.treatment_value)
        assert comparison.absolute_lift == pytest.approx(lift.absolute)
        assert (comparison.absolute_interval.low, comparison.absolute_interval.high) == pytest.approx(
            tuple(lift.absolute_interval)
        )
        assert (comparison.relative_interval.low, comparison.relative_interval.high) == pytest.approx(
            tuple(lift.relative_interval)
        )
        assert comparison.unadjusted_p_value == pytest.approx(lift.p_value)
        always_valid = stats.always_valid_interval(
            by_variant["control"], by_variant[comparison.variant], alpha=0.05 / 2
        )
        assert (comparison.always_valid_interval.low, comparison.always_valid_interval.high) == pytest.approx(
            tuple(always_valid)
        )


def test_the_summary_sample_ratio_chart_and_planner_agree_with_the_shoppers(three_arms):
    built, results = three_arms
    variants = ["control", "a", "b"]
    assert results.shoppers == 945 and results.shoppers_in_several_variants == 0
    for summary in results.variants:
        assert summary.shoppers == len(built.per_variant[summary.name]["clicks"])
        assert summary.clicks == built.array(summary.name, "clicks").sum()
        assert summary.impressions == built.array(summary.name, "impressions").sum()
        assert summary.converted_shoppers == built.array(summary.name, "converted").sum()
        assert summary.revenue == pytest.approx(built.array(summary.name, "revenue").sum())

    srm = stats.sample_ratio_mismatch([330, 300, 315], [1, 1, 1])
    assert results.sample_ratio.p_value == pytest.approx(srm.p_value) and not results.sample_ratio.flagged

    days = [point.day for point in results.primary_over_time]
    assert days[0] == STARTED_AT.date()
    assert days == [days[0] + dt.timedelta(days=offset) for offset in range(len(days))]
    assert results.primary_over_time[-1].values == pytest.approx(results.primary.values)

    control = linearised(built.array("control", "clicks"), built.array("control", "impressions"))
    control_rate = results.primary.values["control"]
    assert results.planner.shoppers_needed_per_variant == stats.shoppers_needed_per_variant(
        baseline_mean=control_rate,
        minimum_detectable_effect=0.05 * control_rate,
        baseline_sd=control.std(ddof=1),
    )
    assert results.planner.control_shoppers == 330 and variants[0] == results.control


def test_a_shopper_served_by_two_variants_counts_in_the_first_with_everything_they_did(tenant):
    experiment = running_experiment(tenant, weights={"control": 1, "a": 1})
    built = HandBuilt(tenant, experiment)
    built.shopper("control", "both", lists=[5], clicks=[1], purchases=[], pre_purchases=[], first_hour=1)
    built.shopper("a", "both", lists=[5, 5], clicks=[2, 0], purchases=[], pre_purchases=[], first_hour=2)
    built.shopper("a", "only-a", lists=[4], clicks=[0], purchases=[], pre_purchases=[])
    built.save()
    results = results_of(tenant, experiment)
    assert results.shoppers == 2 and results.shoppers_in_several_variants == 1
    control, treatment = results.variants
    assert (control.shoppers, control.exposures, control.impressions, control.clicks) == (1, 3, 15, 3)
    assert (treatment.shoppers, treatment.exposures, treatment.clicks) == (1, 1, 0)


def test_a_stopped_experiment_counts_what_shoppers_did_until_the_stop_even_when_it_arrives_later(tenant):
    experiment = running_experiment(tenant, weights={"control": 1, "a": 1})
    built = HandBuilt(tenant, experiment)
    built.shopper("control", "shopper", lists=[5], clicks=[1], purchases=[], pre_purchases=[], first_hour=1)
    built.save()
    stopped_at = STARTED_AT + dt.timedelta(hours=3)
    Experiment.all_tenants.filter(pk=experiment.pk).update(status="stopped", stopped_at=stopped_at)
    experiment.refresh_from_db()
    # Sent after the stop: a click made before it (a storefront's delayed batch), and one made a week on.
    built.events.clear()
    built.event("shopper", "click", stopped_at - dt.timedelta(hours=1), recommendation_id="control-shopper-0")
    built.event("shopper", "click", stopped_at + dt.timedelta(days=7), recommendation_id="control-shopper-0")
    for number, event in enumerate(built.events):
        event.event_id = f"late-{number}"
    Event.all_tenants.bulk_create(built.events)
    control, _treatment = results_of(tenant, experiment).variants
    assert control.clicks == 2


def test_below_the_minimum_of_shoppers_the_verdict_is_not_enough_data_though_the_numbers_show(tenant):
    experiment = running_experiment(tenant, weights={"control": 1, "a": 1})
    built = HandBuilt(tenant, experiment)
    rng = np.random.default_rng(3)
    random_shoppers(
        built, rng, variant="control", count=MIN_SHOPPERS_PER_VARIANT - 40, click_rate=0.1, purchase_rate=0.1
    )
    # Far better, and still no verdict: too few shoppers for the intervals' approximations.
    random_shoppers(
        built, rng, variant="a", count=MIN_SHOPPERS_PER_VARIANT + 40, click_rate=0.5, purchase_rate=0.5
    )
    built.save()
    results = results_of(tenant, experiment)
    for result in [results.primary, *results.guardrails]:
        [comparison] = result.comparisons
        assert comparison.verdict == Verdict.NOT_ENOUGH_DATA
        assert comparison.relative_lift is not None and comparison.p_value is not None
    assert results.primary.comparisons[0].relative_lift > 1


def flagged_as_a_bot(tenant, shopper_key: str) -> None:
    """What data cleaning (catalog.services.cleaning.bot_shoppers_flag) records for a bot."""
    FlaggedShopper.all_tenants.create(
        tenant=tenant, shopper_key=shopper_key, rule="event_rate", events_per_day=900.0, event_count=900
    )


@pytest.fixture
def with_a_bot(tenant):
    """Two honest shoppers and, in the treatment, a bot with 750 clicks, a purchase and a purchase
    before the start (the only one: counted, it would switch CUPED on), served again a day later."""
    experiment = running_experiment(tenant, weights={"control": 1, "a": 1})
    built = HandBuilt(tenant, experiment)
    built.shopper("control", "honest-1", lists=[5], clicks=[1], purchases=[20], pre_purchases=[])
    built.shopper("a", "honest-2", lists=[5], clicks=[2], purchases=[], pre_purchases=[])
    built.shopper("a", "bot", lists=[10, 10], clicks=[750, 0], purchases=[99], pre_purchases=[50])
    built.save()
    return experiment


def test_a_shopper_flagged_as_a_bot_counts_in_no_figure_of_the_results(tenant, with_a_bot):
    flagged_as_a_bot(tenant, "bot")
    results = results_of(tenant, with_a_bot)
    assert results.shoppers == 2 and results.flagged_shoppers_left_out == 1
    control, treatment = results.variants
    assert (control.shoppers, control.exposures, control.clicks) == (1, 1, 1)
    assert control.flagged_shoppers_left_out == 0
    assert (
        treatment.shoppers, treatment.exposures, treatment.impressions, treatment.clicks,
        treatment.converted_shoppers, treatment.revenue, treatment.flagged_shoppers_left_out,
    ) == (1, 1, 5, 2, 0, 0, 1)
    assert results.sample_ratio.shoppers == {"control": 1, "a": 1}
    assert results.primary.values == pytest.approx({"control": 0.2, "a": 0.4})
    conversion, revenue = results.guardrails
    assert conversion.values == pytest.approx({"control": 1.0, "a": 0.0})
    assert revenue.values == pytest.approx({"control": 20.0, "a": 0.0})
    assert not conversion.cuped and not revenue.cuped  # the bot's purchase before the start is not read
    # The bot's second list, a day later, was the only thing on the second day.
    assert [point.day for point in results.primary_over_time] == [STARTED_AT.date()]
    assert results.primary_over_time[-1].values == pytest.approx({"control": 0.2, "a": 0.4})
    assert results.planner.control_shoppers == 1


def test_unflagged_the_same_shopper_counts_with_everything_they_did(tenant, with_a_bot):
    results = results_of(tenant, with_a_bot)
    assert results.shoppers == 3 and results.flagged_shoppers_left_out == 0
    _control, treatment = results.variants
    assert (treatment.shoppers, treatment.clicks, treatment.flagged_shoppers_left_out) == (2, 752, 0)
    assert results.guardrails[0].cuped is True


def test_another_tenants_flag_on_the_same_shopper_key_leaves_this_tenants_shopper_in(
    tenant, other_tenant, with_a_bot
):
    flagged_as_a_bot(other_tenant, "bot")
    results = results_of(tenant, with_a_bot)
    assert results.shoppers == 3 and results.flagged_shoppers_left_out == 0
    assert results.variants[1].clicks == 752


def test_a_flagged_shopper_served_by_two_variants_is_left_out_once_under_the_first(tenant):
    experiment = running_experiment(tenant, weights={"control": 1, "a": 1})
    built = HandBuilt(tenant, experiment)
    built.shopper("a", "bot", lists=[5], clicks=[40], purchases=[], pre_purchases=[], first_hour=1)
    built.shopper(
        "control", "bot", lists=[5, 5], clicks=[40, 40], purchases=[], pre_purchases=[], first_hour=2
    )
    built.shopper("control", "honest", lists=[4], clicks=[1], purchases=[], pre_purchases=[])
    built.save()
    flagged_as_a_bot(tenant, "bot")
    results = results_of(tenant, experiment)
    assert results.shoppers == 1 and results.shoppers_in_several_variants == 0
    assert [v.flagged_shoppers_left_out for v in results.variants] == [0, 1]
    assert results.flagged_shoppers_left_out == 1


def test_the_results_api_says_how_many_flagged_shoppers_each_variant_left_out(
    tenant, with_a_bot, session_client
):
    flagged_as_a_bot(tenant, "bot")
    body = session_client.get(f"/api/v1/experiments/{with_a_bot.key}/results").data
    assert body["shoppers"] == 2 and body["flagged_shoppers_left_out"] == 1
    assert {v["name"]: v["flagged_shoppers_left_out"] for v in body["variants"]} == {"control": 0, "a": 1}
    assert {v["name"]: v["clicks"] for v in body["variants"]} == {"control": 1, "a": 2}


@pytest.mark.parametrize("control,treatment,flagged", [(5_200, 4_800, True), (5_050, 4_950, False)])
def test_a_split_off_the_weights_is_flagged_as_a_sample_ratio_mismatch(tenant, control, treatment, flagged):
    # Chi-square on 10,000 shoppers of a 50/50 design: 52/48 gives 16 (p = 6e-5, below 0.001);
    # 50.5/49.5 gives 1 (p = 0.32), the noise of a sound assignment.
    experiment = running_experiment(tenant, weights={"control": 1, "a": 1})
    ServedRecommendation.all_tenants.bulk_create(
        [
            ServedRecommendation(
                tenant=tenant,
                recommendation_id=f"{variant}-{number}",
                endpoint="recommendations",
                shopper_key=f"{variant}-{number}",
                experiment=experiment,
                variant=variant,
                product_ids=["SKU-1", "SKU-2"],
                served_at=STARTED_AT + dt.timedelta(minutes=number % 600),
            )
            for variant, count in [("control", control), ("a", treatment)]
            for number in range(count)
        ],
        batch_size=2000,
    )
    check = results_of(tenant, experiment).sample_ratio
    assert check.shoppers == {"control": control, "a": treatment}
    assert check.flagged is flagged
    assert check.p_value == pytest.approx(stats.sample_ratio_mismatch([control, treatment], [1, 1]).p_value)


def test_simulated_shoppers_through_the_real_endpoints_show_the_lift_put_in(
    tenant, live_version, session_client, django_capture_on_commit_callbacks
):
    with tenant_scope(tenant), django_capture_on_commit_callbacks(execute=True):
        experiment = experiment_create(
            tenant=tenant,
            key="live-vs-trending",
            name="The live model against trending products",
            primary_metric="click_through_rate",
            guardrail_metrics=["revenue_per_shopper"],
            variants=[
                {"name": "control", "kind": "live", "weight": 1, "is_control": True},
                {"name": "trending", "kind": "popularity", "weight": 1},
            ],
        )
        # A fixed salt fixes who lands in which variant, so that with the seed the whole run is the
        # same every time: a 95% interval misses the truth in 1 run in 20 by design, and this test must
        # not fail once in 20 runs. (It is the analysis, not this run, that tests/experiments/test_stats.py
        # checks for coverage over many simulated experiments.)
        Experiment.objects.filter(pk=experiment.pk).update(salt="simulated-traffic-test")
        experiment_start(tenant=tenant, experiment_id=experiment.pk, by=None)
    output = io.StringIO()
    call_command(
        "simulate_traffic",
        "--tenant",
        tenant.slug,
        "--experiment",
        "live-vs-trending",
        "--shoppers",
        "400",
        "--true-lift",
        "0.5",
        "--base-click-rate",
        "0.2",
        "--seed",
        "1",
        stdout=output,
    )
    assert "Simulated 400 shoppers" in output.getvalue()

    response = session_client.get("/api/v1/experiments/live-vs-trending/results")
    assert response.status_code == 200
    body = response.data
    [comparison] = body["primary"]["comparisons"]
    assert comparison["relative_interval"]["low"] <= 0.5 <= comparison["relative_interval"]["high"]
    # The absolute lift is 0.2 × 0.5: the always-valid interval, which decides the verdict, holds it too.
    assert comparison["always_valid_interval"]["low"] <= 0.1 <= comparison["always_valid_interval"]["high"]
    assert comparison["verdict"] == Verdict.BETTER
    shoppers = body["sample_ratio"]["shoppers"]
    assert sum(shoppers.values()) == body["shoppers"] == 400
    assert all(0.45 < count / 400 < 0.55 for count in shoppers.values())
    assert body["sample_ratio"]["flagged"] is False

    with tenant_scope(tenant):
        served = ServedRecommendation.objects.filter(experiment=experiment)
        assert served.count() == sum(variant["exposures"] for variant in body["variants"])
        assert all(len(products) == 10 for products in served.values_list("product_ids", flat=True))
        attributed = Event.objects.filter(recommendation_id__in=served.values("recommendation_id"))
        assert attributed.filter(type="click").count() == sum(v["clicks"] for v in body["variants"])
        assert attributed.filter(type="purchase").exists()
        assert not ApiKey.objects.filter(name="simulate_traffic", revoked=False).exists()


def test_with_cuped_the_table_shows_the_adjusted_means_whose_difference_is_the_lift(three_arms):
    _, results = three_arms
    [revenue] = [guardrail for guardrail in results.guardrails if guardrail.metric == "revenue_per_shopper"]
    assert revenue.cuped is True
    table = metric_table(revenue, results.variants)
    rows = {row.name: row for row in table.rows}
    for comparison in revenue.comparisons:
        assert rows[comparison.variant].adjusted_value == format_value(
            "revenue_per_shopper", comparison.treatment_value
        )
        assert rows["control"].adjusted_value == format_value("revenue_per_shopper", comparison.control_value)
        # What the table shows adds up: the treatment's adjusted mean less the control's is its lift.
        assert rows[comparison.variant].absolute == format_difference(
            "revenue_per_shopper", comparison.treatment_value - comparison.control_value
        )
        # ...which the raw values shown above them do not: CUPED moved the means.
        assert comparison.treatment_value != pytest.approx(revenue.values[comparison.variant], abs=1e-9)
    html = render_to_string("experiments/_metric_table.html", {"table": table})
    assert html.count('class="empty adjusted-value"') == 3
    assert f"adjusted: {rows['a'].adjusted_value}" in html


def test_without_cuped_the_table_shows_no_adjusted_means(three_arms):
    _, results = three_arms
    table = metric_table(results.primary, results.variants)
    assert results.primary.cuped is False
    assert all(row.adjusted_value == "" for row in table.rows)
