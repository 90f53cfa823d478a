"""The analysis agrees with independent references, and its error rates hold in simulation.

Simulations are vectorised with numpy and seeded, so the rates printed (run
with -s to see them) are the same on every run.
"""
import math

import numpy as np
import pytest
from scipy import integrate, stats

from experiments.stats import (
    DEFAULT_MIXTURE_VARIANCE,
    SRM_P_VALUE_THRESHOLD,
    always_valid_interval,
    cuped_adjust,
    holm_adjust,
    ratio_lift,
    sample_ratio_mismatch,
    shoppers_needed_per_variant,
    welch_lift,
)

SIMULATED_EXPERIMENTS = 1_000


def revenue_per_shopper(rng, mean, size):
    """Skewed like revenue: most shoppers spend a little, a few a lot."""
    return rng.exponential(mean, size=size)


# Welch's lift


def test_welch_lift_matches_a_hand_worked_example():
    control = np.array([1.0, 2.0, 3.0, 4.0, 5.0])  # mean 3, variance 2.5
    treatment = np.array([2.0, 4.0, 6.0, 8.0, 10.0])  # mean 6, variance 10
    lift = welch_lift(control, treatment)

    standard_error = math.sqrt(2.5 / 5 + 10 / 5)  # sqrt(2.5)
    degrees_of_freedom = 2.5**2 / ((2.5 / 5) ** 2 / 4 + (10 / 5) ** 2 / 4)  # 6.25 / 1.0625
    t_quantile = stats.t.ppf(0.975, degrees_of_freedom)
    assert lift.control_value == 3.0
    assert lift.treatment_value == 6.0
    assert lift.absolute == 3.0
    assert lift.p_value == pytest.approx(2 * stats.t.sf(3 / standard_error, degrees_of_freedom))
    assert lift.absolute_interval.low == pytest.approx(3 - t_quantile * standard_error)
    assert lift.absolute_interval.high == pytest.approx(3 + t_quantile * standard_error)
    # Relative lift 6 / 3 - 1 = 1; on the log scale, log 2 with standard error
    # sqrt((10 / 5) / 6**2 + (2.5 / 5) / 3**2) = sqrt(1 / 18 + 1 / 18) = 1 / 3.
    assert lift.relative == pytest.approx(1.0)
    z = stats.norm.ppf(0.975)
    assert lift.relative_interval.low == pytest.approx(2 * math.exp(-z / 3) - 1)
    assert lift.relative_interval.high == pytest.approx(2 * math.exp(z / 3) - 1)


def test_the_relative_interval_agrees_with_the_difference_on_a_small_conversion_rate():
    # 300 shoppers an arm, 9% against 15.3% converted: the difference's interval lies above zero.
    # The ratio's symmetric interval reached below zero, telling the merchant the opposite.
    control = np.array([1.0] * 27 + [0.0] * 273)
    treatment = np.array([1.0] * 46 + [0.0] * 254)
    lift = welch_lift(control, treatment)
    assert lift.absolute_interval.low > 0
    assert lift.relative_interval.low > 0 and lift.relative_interval.high > lift.relative > 0


def test_welch_lift_agrees_with_scipy_ttest_ind_without_equal_variances():
    rng = np.random.default_rng(11)
    control = revenue_per_shopper(rng, 20.0, 300)
    treatment = revenue_per_shopper(rng, 23.0, 450)
    lift = welch_lift(control, treatment, alpha=0.1)

    reference = stats.ttest_ind(treatment, control, equal_var=False)
    assert lift.p_value == pytest.approx(reference.pvalue)
    assert lift.absolute == pytest.approx(treatment.mean() - control.mean())
    assert lift.absolute_interval.contains(lift.absolute)
    assert lift.significant == (reference.pvalue < 0.1)


def test_fixed_horizon_welch_test_is_wrong_about_5_percent_of_the_time_in_1000_aa_experiments():
    rng = np.random.default_rng(2024)
    control = revenue_per_shopper(rng, 20.0, (SIMULATED_EXPERIMENTS, 500))
    treatment = revenue_per_shopper(rng, 20.0, (SIMULATED_EXPERIMENTS, 500))
    false_positive_rate = welch_lift(control, treatment).significant.mean()
    print(f"\nA/A, one look, Welch at alpha 0.05: false-positive rate {false_positive_rate:.1%}")
    assert 0.03 <= false_positive_rate <= 0.07, f"false-positive rate {false_positive_rate:.1%}"


def test_relative_lift_interval_covers_the_true_lift_about_95_percent_of_the_time():
    rng = np.random.default_rng(7)
    control = revenue_per_shopper(rng, 20.0, (SIMULATED_EXPERIMENTS, 500))
    treatment = revenue_per_shopper(rng, 22.0, (SIMULATED_EXPERIMENTS, 500))
    coverage = welch_lift(control, treatment).relative_interval.contains(0.10).mean()
    assert 0.93 <= coverage <= 0.97


def test_a_batch_of_experiments_gives_the_same_lifts_as_one_experiment_at_a_time():
    rng = np.random.default_rng(21)
    control = revenue_per_shopper(rng, 20.0, (3, 200))
    treatment = revenue_per_shopper(rng, 21.0, (3, 250))
    clicks, impressions = clicks_and_impressions(rng, 6, 200)
    batches = [
        (
            welch_lift(control, treatment),
            [welch_lift(control[index], treatment[index]) for index in range(3)],
        ),
        (
            ratio_lift(clicks[:3], impressions[:3], clicks[3:], impressions[3:]),
            [
                ratio_lift(clicks[index], impressions[index], clicks[index + 3], impressions[index + 3])
                for index in range(3)
            ],
        ),
    ]
    for batch, one_at_a_time in batches:
        for index, single in enumerate(one_at_a_time):
            assert batch.p_value[index] == pytest.approx(single.p_value)
            assert batch.absolute_interval.low[index] == pytest.approx(single.absolute_interval.low)
            assert batch.relative_interval.high[index] == pytest.approx(single.relative_interval.high)
            assert isinstance(single.p_value, float) and isinstance(single.significant, bool)


def test_welch_lift_needs_two_shoppers_per_arm():
    with pytest.raises(ValueError):
        welch_lift(np.array([1.0]), np.array([1.0, 2.0]))


# Ratio metrics


def clicks_and_impressions(rng, experiments, shoppers):
    """Shoppers differ in how much they browse and how often they click, so clicks cluster by shopper."""
    impressions = 1 + rng.poisson(9, size=(experiments, shoppers))
    click_through = rng.beta(1, 9, size=(experiments, shoppers))
    return rng.binomial(impressions, click_through).astype(float), impressions.astype(float)


def test_ratio_lift_variance_is_that_of_the_linearised_metric():
    rng = np.random.default_rng(5)
    clicks, impressions = clicks_and_impressions(rng, 2, 400)
    lift = ratio_lift(clicks[0], impressions[0], clicks[1], impressions[1])

    def linearised_variance(numerator, denominator):
        ratio = numerator.sum() / denominator.sum()
        return np.var(numerator - ratio * denominator, ddof=1) / (numerator.size * denominator.mean() ** 2)

    standard_error = math.sqrt(
        linearised_variance(clicks[0], impressions[0]) + linearised_variance(clicks[1], impressions[1])
    )
    half_width = (lift.absolute_interval.high - lift.absolute_interval.low) / 2
    assert lift.control_value == pytest.approx(clicks[0].sum() / impressions[0].sum())
    assert lift.absolute == pytest.approx(lift.treatment_value - lift.control_value)
    assert half_width == pytest.approx(stats.norm.ppf(0.975) * standard_error)
    assert lift.p_value == pytest.approx(2 * stats.norm.sf(abs(lift.absolute) / standard_error))


def test_ratio_lift_keeps_false_positives_near_alpha_where_counting_impressions_as_independent_does_not():
    rng = np.random.default_rng(99)
    control_clicks, control_impressions = clicks_and_impressions(rng, SIMULATED_EXPERIMENTS, 500)
    treatment_clicks, treatment_impressions = clicks_and_impressions(rng, SIMULATED_EXPERIMENTS, 500)
    delta_method_rate = ratio_lift(
        control_clicks, control_impressions, treatment_clicks, treatment_impressions
    ).significant.mean()
    # The naive reference: a two-proportion z-test over impressions.
    control_rate = control_clicks.sum(axis=1) / control_impressions.sum(axis=1)
    treatment_rate = treatment_clicks.sum(axis=1) / treatment_impressions.sum(axis=1)
    pooled_rate = (control_clicks.sum(axis=1) + treatment_clicks.sum(axis=1)) / (
        control_impressions.sum(axis=1) + treatment_impressions.sum(axis=1)
    )
    naive_standard_error = np.sqrt(
        pooled_rate
        * (1 - pooled_rate)
        * (1 / control_impressions.sum(axis=1) + 1 / treatment_impressions.sum(axis=1))
    )
    naive_p_values = 2 * stats.norm.sf(np.abs(treatment_rate - control_rate) / naive_standard_error)
    naive_rate = np.mean(naive_p_values < 0.05)
    print(f"\nA/A click-through: delta method {delta_method_rate:.1%}, per-impression test {naive_rate:.1%}")
    rates = f"delta method {delta_method_rate:.1%}, per impression {naive_rate:.1%}"
    assert 0.03 <= delta_method_rate <= 0.07, rates
    assert naive_rate > 0.08, rates


# Sample-ratio mismatch


def test_a_fifty_fifty_design_served_52_48_to_100_000_shoppers_is_flagged():
    srm = sample_ratio_mismatch([52_000, 48_000], [0.5, 0.5])
    # By hand: chi-square = 2 * 2000^2 / 50000 = 160, one degree of freedom.
    assert srm.p_value == pytest.approx(stats.chi2.sf(160, 1))
    assert srm.flagged


def test_a_correct_split_is_not_flagged():
    rng = np.random.default_rng(3)
    control = int(rng.binomial(100_000, 0.5))
    srm = sample_ratio_mismatch([control, 100_000 - control], [0.5, 0.5])
    assert srm.p_value >= SRM_P_VALUE_THRESHOLD
    assert not srm.flagged


def test_srm_compares_with_the_designed_weights_not_an_even_split():
    rng = np.random.default_rng(4)
    counts = rng.multinomial(90_000, [0.2, 0.3, 0.5])
    assert not sample_ratio_mismatch(counts, [2, 3, 5]).flagged
    assert sample_ratio_mismatch(counts, [1, 1, 1]).flagged


# CUPED


def test_cuped_theta_is_the_regression_slope_on_the_pre_period():
    rng = np.random.default_rng(8)
    pre_values = revenue_per_shopper(rng, 20.0, 2_000)
    values = 0.7 * pre_values + revenue_per_shopper(rng, 6.0, 2_000)
    adjusted = cuped_adjust(values, pre_values)

    slope = stats.linregress(pre_values, values).slope
    np.testing.assert_allclose(adjusted, values - slope * (pre_values - pre_values.mean()))
    assert adjusted.mean() == pytest.approx(values.mean())
    correlation = np.corrcoef(values, pre_values)[0, 1]
    assert adjusted.var() == pytest.approx(values.var() * (1 - correlation**2))


def test_cuped_narrows_the_interval_without_moving_the_estimate_much():
    rng = np.random.default_rng(9)
    shoppers = 4_000
    pre_values = revenue_per_shopper(rng, 20.0, shoppers)
    in_treatment = np.arange(shoppers) % 2 == 1
    values = 0.8 * pre_values + revenue_per_shopper(rng, 5.0, shoppers) + 1.0 * in_treatment
    adjusted = cuped_adjust(values, pre_values)

    plain = welch_lift(values[~in_treatment], values[in_treatment])
    with_cuped = welch_lift(adjusted[~in_treatment], adjusted[in_treatment])
    plain_width = plain.absolute_interval.high - plain.absolute_interval.low
    cuped_width = with_cuped.absolute_interval.high - with_cuped.absolute_interval.low
    assert cuped_width < 0.5 * plain_width
    assert with_cuped.absolute_interval.contains(1.0)


def test_cuped_leaves_values_alone_when_the_pre_period_is_constant():
    values = np.array([1.0, 5.0, 2.0])
    np.testing.assert_array_equal(cuped_adjust(values, np.zeros(3)), values)


# Holm


def test_holm_matches_a_hand_worked_example():
    # Sorted: 0.005 * 4 = 0.02, 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 = 0.04 -> raised to 0.06.
    assert holm_adjust([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_adjusted_p_values_are_capped_at_one_and_never_fall_as_raw_ones_rise():
    raw = [0.5, 0.6, 0.001, 0.2, 0.2]
    adjusted = holm_adjust(raw)
    assert adjusted == pytest.approx([1.0, 1.0, 0.005, 0.8, 0.8])
    in_raw_order = [adjusted[index] for index in np.argsort(raw)]
    assert in_raw_order == sorted(in_raw_order)


def test_holm_of_no_p_values_is_empty():
    assert holm_adjust([]) == []


# Always-valid interval


def mixture_likelihood_ratio(difference, variance, tau_squared, null_difference):
    """The mSPRT statistic by numerical integration: the closed form's independent reference."""

    def integrand(true_difference):
        return (
            stats.norm.pdf(difference, true_difference, math.sqrt(variance))
            / stats.norm.pdf(difference, null_difference, math.sqrt(variance))
            * stats.norm.pdf(true_difference, null_difference, math.sqrt(tau_squared))
        )

    spread = 12 * math.sqrt(tau_squared)
    return integrate.quad(integrand, null_difference - spread, null_difference + spread, limit=200)[0]


def test_always_valid_interval_ends_where_the_mixture_likelihood_ratio_reaches_one_over_alpha():
    rng = np.random.default_rng(12)
    control = revenue_per_shopper(rng, 20.0, 3_000)
    treatment = revenue_per_shopper(rng, 21.0, 2_500)
    interval = always_valid_interval(control, treatment, alpha=0.05)

    difference = treatment.mean() - control.mean()
    variance = control.var(ddof=1) / 3_000 + treatment.var(ddof=1) / 2_500
    tau_squared = DEFAULT_MIXTURE_VARIANCE * (control.var(ddof=1) + treatment.var(ddof=1)) / 2
    for edge in interval:
        at_edge = mixture_likelihood_ratio(difference, variance, tau_squared, edge)
        assert at_edge == pytest.approx(1 / 0.05, rel=1e-4)
    assert mixture_likelihood_ratio(difference, variance, tau_squared, difference) < 1 / 0.05
    fixed = welch_lift(control, treatment).absolute_interval
    assert interval.low < fixed.low and fixed.high < interval.high


def peeked_experiments(rng, *, true_difference, looks, shoppers_per_look):
    shoppers = looks * shoppers_per_look
    control = revenue_per_shopper(rng, 20.0, (SIMULATED_EXPERIMENTS, shoppers))
    treatment = revenue_per_shopper(rng, 20.0, (SIMULATED_EXPERIMENTS, shoppers)) + true_difference
    return control, treatment


def test_peeking_at_the_always_valid_interval_stays_under_alpha_where_peeking_at_welch_does_not():
    rng = np.random.default_rng(2021)
    looks, shoppers_per_look = 40, 50
    control, treatment = peeked_experiments(
        rng, true_difference=0.0, looks=looks, shoppers_per_look=shoppers_per_look
    )
    always_valid_rejected = np.zeros(SIMULATED_EXPERIMENTS, dtype=bool)
    naive_rejected = np.zeros(SIMULATED_EXPERIMENTS, dtype=bool)
    for look in range(1, looks + 1):
        seen = look * shoppers_per_look
        low, high = always_valid_interval(control[:, :seen], treatment[:, :seen])
        always_valid_rejected |= (low > 0) | (high < 0)
        naive = stats.ttest_ind(treatment[:, :seen], control[:, :seen], equal_var=False, axis=1)
        naive_rejected |= naive.pvalue < 0.05
    always_valid_rate = always_valid_rejected.mean()
    naive_rate = naive_rejected.mean()
    print(
        f"\nA/A, {looks} looks: always-valid false-positive rate {always_valid_rate:.1%},"
        f" Welch peeked at every look {naive_rate:.1%}"
    )
    rates = f"always-valid {always_valid_rate:.1%}, peeked Welch {naive_rate:.1%}"
    assert always_valid_rate <= 0.05, rates
    assert naive_rate > 0.05, rates


def test_always_valid_interval_finds_a_real_lift_when_monitored():
    rng = np.random.default_rng(2022)
    looks, shoppers_per_look = 40, 50
    control, treatment = peeked_experiments(
        rng, true_difference=3.0, looks=looks, shoppers_per_look=shoppers_per_look
    )
    detected = np.zeros(SIMULATED_EXPERIMENTS, dtype=bool)
    for look in range(1, looks + 1):
        seen = look * shoppers_per_look
        low, _ = always_valid_interval(control[:, :seen], treatment[:, :seen])
        detected |= low > 0
    assert detected.mean() >= 0.8


# Planning


def test_planner_for_a_proportion_matches_the_textbook_3841_for_ten_to_twelve_percent():
    assert shoppers_needed_per_variant(baseline_mean=0.10, minimum_detectable_effect=0.02) == 3841


def test_planned_proportion_experiment_has_the_requested_power():
    needed = shoppers_needed_per_variant(baseline_mean=0.10, minimum_detectable_effect=0.02, power=0.8)

    def power_of_pooled_z_test(shoppers):  # the other tail adds nothing at these sizes
        pooled = 0.11
        spread = math.sqrt(0.10 * 0.90 + 0.12 * 0.88)
        null_spread = stats.norm.ppf(0.975) * math.sqrt(2 * pooled * (1 - pooled))
        return stats.norm.cdf((0.02 * math.sqrt(shoppers) - null_spread) / spread)

    assert power_of_pooled_z_test(needed) >= 0.8 > power_of_pooled_z_test(needed - 1)

    rng = np.random.default_rng(13)
    simulations = 20_000
    control = rng.binomial(needed, 0.10, simulations) / needed
    treatment = rng.binomial(needed, 0.12, simulations) / needed
    pooled = (control + treatment) / 2
    z = (treatment - control) / np.sqrt(2 * pooled * (1 - pooled) / needed)
    simulated_power = np.mean(np.abs(z) > stats.norm.ppf(0.975))
    assert simulated_power == pytest.approx(0.8, abs=0.015)


def test_planner_for_a_mean_gives_the_textbook_63_per_arm_for_half_a_standard_deviation():
    needed = shoppers_needed_per_variant(baseline_mean=20.0, baseline_sd=2.0, minimum_detectable_effect=1.0)
    assert needed == 63  # 2 * (1.960 + 0.842)^2 / 0.5^2 = 62.8

    noncentrality = 1.0 / (2.0 * math.sqrt(2 / needed))
    degrees_of_freedom = 2 * needed - 2
    critical = stats.t.ppf(0.975, degrees_of_freedom)
    power_of_t_test = stats.nct.sf(critical, degrees_of_freedom, noncentrality) + stats.nct.cdf(
        -critical, degrees_of_freedom, noncentrality
    )
    assert power_of_t_test == pytest.approx(0.8, abs=0.01)


def test_planner_needs_more_shoppers_for_a_smaller_effect_or_more_power():
    base = shoppers_needed_per_variant(baseline_mean=0.05, minimum_detectable_effect=0.01)
    assert shoppers_needed_per_variant(baseline_mean=0.05, minimum_detectable_effect=0.005) > 3.5 * base
    assert shoppers_needed_per_variant(baseline_mean=0.05, minimum_detectable_effect=0.01, power=0.9) > base


def test_planner_refuses_a_rate_outside_zero_and_one():
    with pytest.raises(ValueError):
        shoppers_needed_per_variant(baseline_mean=0.99, minimum_detectable_effect=0.02)
