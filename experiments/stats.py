"""The analysis of an A/B experiment, over numpy arrays: plain Python, no Django.

Inputs are per-shopper values, one number per shopper exposed to the arm
(revenue, clicks, 1/0 for converted), because the shopper is the unit that
was randomised: treating impressions or clicks as independent would make the
intervals too narrow. A metric that is a ratio of per-shopper sums
(click-through = clicks / impressions) goes through `ratio_lift`.

In `welch_lift`, `ratio_lift` and `always_valid_interval`, the last axis
holds the shoppers and leading axes, if any, are independent experiments, so
that a simulation of a thousand experiments is one call (and the results'
numbers are then arrays, one per experiment).

The distributions come from scipy.stats; the formulas here are the ones scipy
does not offer, each with its reference.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

# A sample-ratio mismatch means the assignment or the exposure logging is
# broken, so results are not to be trusted; the threshold is strict because
# the check runs on every experiment, every day.
SRM_P_VALUE_THRESHOLD = 0.001

# The always-valid interval is tightest near 16.4 / mixture_variance shoppers
# per arm (at alpha = 0.05): 0.0016 puts that near 10,000, a common size for
# a merchant's experiment. Any value fixed before looking keeps it valid.
DEFAULT_MIXTURE_VARIANCE = 0.0016

# A float for one experiment; an array, one per experiment, for several.
Estimate = float | np.ndarray


@dataclass(frozen=True)
class Interval:
    low: Estimate
    high: Estimate

    def __iter__(self) -> Iterator[Estimate]:
        # So that `low, high = interval` reads naturally.
        yield self.low
        yield self.high

    def contains(self, value: float) -> bool | np.ndarray:
        return _float_or_array(np.logical_and(self.low <= value, value <= self.high))


@dataclass(frozen=True)
class Lift:
    """Treatment against control.

    `control_value` and `treatment_value` are the arms' means (for a ratio
    metric, the ratio of the arm's sums). `relative` is treatment / control - 1.
    """

    control_value: Estimate
    treatment_value: Estimate
    absolute: Estimate
    absolute_interval: Interval
    relative: Estimate
    relative_interval: Interval
    p_value: Estimate
    alpha: float

    @property
    def significant(self) -> bool | np.ndarray:
        return _float_or_array(np.less(self.p_value, self.alpha))


@dataclass(frozen=True)
class Srm:
    p_value: float
    flagged: bool


def welch_lift(control: np.ndarray, treatment: np.ndarray, alpha: float = 0.05) -> Lift:
    """Difference of means by Welch's t-test, which does not assume equal variances.

    Each arm needs at least two shoppers. The relative lift's interval is the
    delta method's on the log of the ratio (see _relative_lift), and is
    undefined (nan) when the control mean is 0.
    """
    control = _per_shopper_values(control, "control")
    treatment = _per_shopper_values(treatment, "treatment")
    test = stats.ttest_ind(treatment, control, equal_var=False, axis=-1)
    absolute_interval = test.confidence_interval(confidence_level=1 - alpha)
    control_mean = control.mean(axis=-1)
    treatment_mean = treatment.mean(axis=-1)
    relative, relative_interval = _relative_lift(
        control_mean,
        control.var(axis=-1, ddof=1) / control.shape[-1],
        treatment_mean,
        treatment.var(axis=-1, ddof=1) / treatment.shape[-1],
        alpha,
    )
    return Lift(
        control_value=_float_or_array(control_mean),
        treatment_value=_float_or_array(treatment_mean),
        absolute=_float_or_array(treatment_mean - control_mean),
        absolute_interval=Interval(
            _float_or_array(absolute_interval.low), _float_or_array(absolute_interval.high)
        ),
        relative=relative,
        relative_interval=relative_interval,
        p_value=_float_or_array(test.pvalue),
        alpha=alpha,
    )


def ratio_lift(
    control_numerator: np.ndarray,
    control_denominator: np.ndarray,
    treatment_numerator: np.ndarray,
    treatment_denominator: np.ndarray,
    alpha: float = 0.05,
) -> Lift:
    """Lift of a ratio metric, sum(numerator) / sum(denominator) per arm, by the delta method.

    Numerator and denominator are per shopper (clicks and impressions of each
    shopper exposed to the arm), so that a shopper's many impressions count
    as one randomised unit. Each arm's denominators must have a positive mean.
    Intervals and the p-value are normal (z), which the delta method needs
    anyway: use it with hundreds of shoppers per arm, not a handful.

    Reference: Deng, Knoblich and Lu (2018), "Applying the Delta Method in
    Metric Analytics: A Practical Guide with Novel Ideas", KDD.
    """
    control_ratio, control_variance = _ratio_and_its_variance(
        control_numerator, control_denominator, "control"
    )
    treatment_ratio, treatment_variance = _ratio_and_its_variance(
        treatment_numerator, treatment_denominator, "treatment"
    )
    difference = treatment_ratio - control_ratio
    standard_error = np.sqrt(control_variance + treatment_variance)
    z = stats.norm.ppf(1 - alpha / 2)
    relative, relative_interval = _relative_lift(
        control_ratio, control_variance, treatment_ratio, treatment_variance, alpha
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        # A zero standard error (no shopper ever clicked) gives p = nan, not a warning.
        p_value = 2 * stats.norm.sf(np.abs(difference) / standard_error)
    return Lift(
        control_value=_float_or_array(control_ratio),
        treatment_value=_float_or_array(treatment_ratio),
        absolute=_float_or_array(difference),
        absolute_interval=Interval(
            _float_or_array(difference - z * standard_error), _float_or_array(difference + z * standard_error)
        ),
        relative=relative,
        relative_interval=relative_interval,
        p_value=_float_or_array(p_value),
        alpha=alpha,
    )


def sample_ratio_mismatch(observed_counts: Sequence[int], expected_weights: Sequence[float]) -> Srm:
    """Chi-square goodness of fit of the shoppers per variant against the designed weights.

    Flagged when p < SRM_P_VALUE_THRESHOLD. Weights need not add up to 1.
    """
    observed = np.asarray(observed_counts, dtype=float)
    weights = np.asarray(expected_weights, dtype=float)
    if observed.shape != weights.shape or observed.size < 2:
        raise ValueError("give one count and one weight per variant, for at least two variants")
    if np.any(weights <= 0):
        raise ValueError("every variant needs a positive weight to be checked")
    expected = observed.sum() * weights / weights.sum()
    p_value = float(stats.chisquare(observed, f_exp=expected).pvalue)
    return Srm(p_value=p_value, flagged=p_value < SRM_P_VALUE_THRESHOLD)


def cuped_adjust(values: np.ndarray, pre_values: np.ndarray) -> np.ndarray:
    """Values less what their pre-experiment covariate predicts: same mean, smaller variance.

    Pass every arm's shoppers together (pooled), then split the result by
    arm: theta must be one number for all arms, or the adjustment would bias
    the difference. `pre_values` is each shopper's same metric before the
    experiment started (0 for new shoppers), never something the treatment
    could change. The variance shrinks by the squared correlation of the two.

    Reference: Deng, Xu, Kohavi and Walker (2013), "Improving the Sensitivity
    of Online Controlled Experiments by Utilizing Pre-Experiment Data", WSDM.
    """
    values = np.asarray(values, dtype=float)
    pre_values = np.asarray(pre_values, dtype=float)
    if values.shape != pre_values.shape or values.ndim != 1:
        raise ValueError("values and pre_values must be 1-D and of the same length")
    pre_variance = pre_values.var(ddof=1)
    if pre_variance == 0:
        # A constant covariate predicts nothing; theta would be 0/0.
        return values.copy()
    theta = np.cov(values, pre_values, ddof=1)[0, 1] / pre_variance
    return values - theta * (pre_values - pre_values.mean())


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the order given.

    Compare each with alpha: that controls the chance of any false positive
    among the comparisons (several treatments, or several metrics) at alpha.
    Adjusted values never fall as the raw ones rise, and are capped at 1.
    """
    # scipy.stats.false_discovery_control offers Benjamini-Hochberg/Yekutieli
    # (false discovery rate) but not Holm (family-wise error), and statsmodels
    # is too large a dependency for these few lines.
    raw = np.asarray(p_values, dtype=float)
    if raw.size == 0:
        return []
    if np.any((raw < 0) | (raw > 1)):
        raise ValueError("p-values must be between 0 and 1")
    count = raw.size
    order = np.argsort(raw, kind="stable")
    scaled = (count - np.arange(count)) * raw[order]
    adjusted = np.empty(count)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return adjusted.tolist()


def always_valid_interval(
    control: np.ndarray,
    treatment: np.ndarray,
    alpha: float = 0.05,
    mixture_variance: float = DEFAULT_MIXTURE_VARIANCE,
) -> Interval:
    """A confidence sequence for mean(treatment) - mean(control): safe to look at after every shopper.

    With probability at least 1 - alpha, the intervals computed at every
    look, however many and whenever taken, all contain the true difference;
    a fixed-horizon interval only promises that for a single look decided in
    advance. Stopping when it excludes 0 is therefore fine.

    The boundary is the normal mixture of Howard, Ramdas, McAuliffe and
    Sekhon (2021), "Time-uniform, nonparametric, nonasymptotic confidence
    sequences", Annals of Statistics, eq. (14), which is also the mixture
    SPRT of Johari, Koomen, Pekelis and Walsh (2022), "Always Valid
    Inference: Continuous Monitoring of A/B Tests", Operations Research.
    With d the difference of means, V = s_c^2 / n_c + s_t^2 / n_t its
    variance and tau^2 the variance of the normal mixture over the true
    difference:

        d +- sqrt( V (V + tau^2) / tau^2 * (ln((V + tau^2) / V) + 2 ln(1 / alpha)) )

    which is where the mixture likelihood ratio reaches 1 / alpha (Ville's
    inequality). As in Johari et al., V plugs in the sample variances, so
    the guarantee is asymptotic: look once each arm has some dozens of
    shoppers. `mixture_variance` is tau^2 in units of the per-shopper
    variance, (s_c^2 + s_t^2) / 2, so that it does not depend on the metric's
    scale; the interval is tightest near 16.4 / mixture_variance shoppers per
    arm, and valid for any value chosen before looking (never after).

    The last axis holds the shoppers; leading axes, if any, are independent
    experiments (simulations), and then `low` and `high` are arrays.
    """
    control = np.asarray(control, dtype=float)
    treatment = np.asarray(treatment, dtype=float)
    if control.shape[-1] < 2 or treatment.shape[-1] < 2:
        raise ValueError("each arm needs at least two shoppers")
    if mixture_variance <= 0:
        raise ValueError("mixture_variance must be positive")
    control_variance = control.var(axis=-1, ddof=1)
    treatment_variance = treatment.var(axis=-1, ddof=1)
    difference = treatment.mean(axis=-1) - control.mean(axis=-1)
    variance = control_variance / control.shape[-1] + treatment_variance / treatment.shape[-1]
    tau_squared = mixture_variance * (control_variance + treatment_variance) / 2
    half_width = np.sqrt(
        variance
        * (variance + tau_squared)
        / tau_squared
        * (np.log((variance + tau_squared) / variance) + 2 * np.log(1 / alpha))
    )
    return Interval(_float_or_array(difference - half_width), _float_or_array(difference + half_width))


def shoppers_needed_per_variant(
    *,
    baseline_mean: float,
    minimum_detectable_effect: float,
    baseline_sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
) -> int:
    """Shoppers each variant needs to detect an absolute difference with a two-sided test.

    For a mean (revenue per shopper), give `baseline_sd`; both arms are taken
    to share it: n = 2 sd^2 (z_{1-alpha/2} + z_power)^2 / effect^2.
    For a proportion (conversion), leave `baseline_sd` out and give the
    baseline rate as `baseline_mean`: the pooled two-proportion z-test,
    n = (z_{1-alpha/2} sqrt(2 p q) + z_power sqrt(p1 q1 + p2 q2))^2 / effect^2
    with p the average of p1 and p2 (Fleiss, Levin and Paik, "Statistical
    Methods for Rates and Proportions", 3rd ed., chapter 4, without the
    continuity correction). The effect is absolute: 0.02 for 10% to 12%.
    """
    if minimum_detectable_effect == 0:
        raise ValueError("minimum_detectable_effect must not be 0")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError("alpha and power must be between 0 and 1")
    z_alpha = stats.norm.ppf(1 - alpha / 2)
    z_power = stats.norm.ppf(power)
    if baseline_sd is not None:
        if baseline_sd <= 0:
            raise ValueError("baseline_sd must be positive")
        needed = 2 * baseline_sd**2 * (z_alpha + z_power) ** 2 / minimum_detectable_effect**2
        return math.ceil(needed)
    control_rate = baseline_mean
    treatment_rate = baseline_mean + minimum_detectable_effect
    if not (0 < control_rate < 1 and 0 < treatment_rate < 1):
        raise ValueError("for a proportion, the baseline rate and the rate it moves to must be in (0, 1)")
    pooled_rate = (control_rate + treatment_rate) / 2
    spread_under_null = math.sqrt(2 * pooled_rate * (1 - pooled_rate))
    spread_under_effect = math.sqrt(
        control_rate * (1 - control_rate) + treatment_rate * (1 - treatment_rate)
    )
    needed = (z_alpha * spread_under_null + z_power * spread_under_effect) ** 2 / minimum_detectable_effect**2
    return math.ceil(needed)


def _per_shopper_values(values: np.ndarray, arm: str) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.ndim == 0 or values.shape[-1] < 2:
        raise ValueError(f"{arm} needs the values of at least two shoppers")
    return values


def _ratio_and_its_variance(
    numerator: np.ndarray, denominator: np.ndarray, arm: str
) -> tuple[np.ndarray, np.ndarray]:
    numerator = _per_shopper_values(numerator, f"{arm} numerator")
    denominator = _per_shopper_values(denominator, f"{arm} denominator")
    if numerator.shape != denominator.shape:
        raise ValueError(f"{arm}: one numerator and one denominator per shopper")
    shoppers = numerator.shape[-1]
    numerator_mean = numerator.mean(axis=-1)
    denominator_mean = denominator.mean(axis=-1)
    if np.any(denominator_mean <= 0):
        raise ValueError(f"{arm}: the denominators' mean must be positive")
    ratio = numerator_mean / denominator_mean
    numerator_deviation = numerator - numerator_mean[..., np.newaxis]
    denominator_deviation = denominator - denominator_mean[..., np.newaxis]
    covariance = (numerator_deviation * denominator_deviation).sum(axis=-1) / (shoppers - 1)
    variance = (
        numerator.var(axis=-1, ddof=1) - 2 * ratio * covariance + ratio**2 * denominator.var(axis=-1, ddof=1)
    ) / (shoppers * denominator_mean**2)
    return ratio, variance


def _relative_lift(
    control_value: np.ndarray,
    control_variance: np.ndarray,
    treatment_value: np.ndarray,
    treatment_variance: np.ndarray,
    alpha: float,
) -> tuple[Estimate, Interval]:
    """treatment / control - 1, with its interval from the delta method on the log of the ratio;
    the arms are independent.

    A ratio's sampling distribution is skewed when the control's value is uncertain (a small
    conversion rate): the symmetric interval of the ratio itself then reaches below zero while the
    difference's interval does not, and the two disagree on one result. On the log scale the
    interval is asymmetric and keeps to the data's side of zero (Kohavi, Tang and Xu, "Trustworthy
    Online Controlled Experiments", 2020, ch. 18: the log transformation of a ratio). Where a value
    is not positive (a CUPED-adjusted mean can be), it falls back to the ratio's delta method.
    """
    z = stats.norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        # A control of 0 has no relative lift: nan, not an error, so one such
        # experiment among many does not stop the others.
        relative = np.where(control_value == 0, np.nan, treatment_value / control_value - 1)
        linear_error = np.sqrt(
            treatment_variance / control_value**2 + treatment_value**2 * control_variance / control_value**4
        )
        positive = (control_value > 0) & (treatment_value > 0)
        log_ratio = np.log(np.where(positive, treatment_value / control_value, 1.0))
        log_error = np.sqrt(treatment_variance / treatment_value**2 + control_variance / control_value**2)
        low = np.where(positive, np.exp(log_ratio - z * log_error) - 1, relative - z * linear_error)
        high = np.where(positive, np.exp(log_ratio + z * log_error) - 1, relative + z * linear_error)
    return _float_or_array(relative), Interval(_float_or_array(low), _float_or_array(high))


def _float_or_array(value):
    """A plain float (or bool) for one experiment, the array for several."""
    value = np.asarray(value)
    if value.ndim == 0:
        return value.item()
    return value
