"""Which variant a shopper sees: a stable hash of (experiment salt, shopper id).

Plain Python, no Django: the serving path calls it for every recommendation
and the analysis recomputes it offline, so both must agree without a database.

Two independent hashes decide two things:

- whether the shopper is in the experiment at all: the bucket of
  `f"{salt}:traffic"` against the traffic share;
- which variant a shopper in the experiment sees: the bucket of
  `f"{salt}:variant"` against the cumulative weights.

Because the two are independent, raising the traffic share (a ramp-up from 5%
to 50%) keeps every shopper already in, in the same variant; it only adds
shoppers, and spreads them over the variants by the weights. Lowering it drops
shoppers but does not move those who stay. And the shoppers in the
experiment split by the weights whatever the traffic share, which would not
hold if one hash decided both.

Changing the weights while an experiment runs is different, and not free.
Variants own consecutive ranges of the variant buckets in the order given
(the first takes [0, w1), the second [w1, w1 + w2), ...). New weights move the
range boundaries, and the shoppers between an old and a new boundary change
variant: they have now seen both, and what they do next mixes the two.
Going from 50/50 to 40/60 moves 10% of the shoppers in the experiment; with
three or more variants, changing an early weight shifts every later boundary
and can move more shoppers than the change of weights suggests (34/33/33 to
50/25/25 moves 24%, not 16%). `shoppers_moved_by_reweighting` gives the
fraction so the UI can say it before the merchant confirms. The clean
alternative is a new experiment (a new salt), whose analysis starts afresh.
"""
from __future__ import annotations

import bisect
import functools
import hashlib
import math
from collections.abc import Sequence

# Traffic shares and weights are honoured to 1/10,000 (0.01%).
BUCKETS = 10_000


def bucket(salt: str, shopper_id: str, buckets: int = BUCKETS) -> int:
    """The shopper's bucket in [0, buckets): the same in every process, on every machine.

    Python's hash() of a str is randomised per process (PYTHONHASHSEED), so it
    cannot be used. Changing this function reassigns every shopper of every
    running experiment.
    """
    if buckets < 1:
        raise ValueError(f"buckets must be at least 1, not {buckets}")
    digest = hashlib.sha256(f"{salt}:{shopper_id}".encode()).digest()
    # 64 bits reduced modulo a few thousand: the modulo bias is below 1e-15.
    return int.from_bytes(digest[:8], "big") % buckets


def assign(
    salt: str,
    shopper_id: str,
    *,
    traffic_share: float,
    variants: Sequence[tuple[str, float]],
) -> str | None:
    """The variant the shopper sees, or None when the shopper is outside the experiment's traffic.

    `salt` identifies the experiment (give each experiment its own, so that
    two experiments do not pick the same shoppers); `variants` are
    (name, weight) pairs in a fixed order, weights non-negative and not all
    zero (they need not add up to 1). Keep the order when editing weights:
    the order decides the ranges.
    """
    _check_traffic_share(traffic_share)
    names = [name for name, _ in variants]
    upper_bounds = _variant_upper_bounds(variants)
    if bucket(f"{salt}:traffic", shopper_id) >= round(traffic_share * BUCKETS):
        return None
    position = bucket(f"{salt}:variant", shopper_id)
    # bisect_right skips variants of weight zero: their ranges are empty.
    return names[bisect.bisect_right(upper_bounds, position)]


def shoppers_moved_by_reweighting(
    old_variants: Sequence[tuple[str, float]],
    new_variants: Sequence[tuple[str, float]],
) -> float:
    """The fraction of shoppers in the experiment whose variant changes when the weights change.

    Exact for `assign` (same bucket ranges), at an unchanged traffic share.
    Variants are matched by name; the shoppers of a removed variant count as
    moved.
    """
    old_ranges = _variant_ranges(old_variants)
    new_ranges = _variant_ranges(new_variants)
    staying = 0
    for name, (old_start, old_end) in old_ranges.items():
        if name in new_ranges:
            new_start, new_end = new_ranges[name]
            staying += max(0, min(old_end, new_end) - max(old_start, new_start))
    return 1 - staying / BUCKETS


def _check_traffic_share(traffic_share: float) -> None:
    if not 0 <= traffic_share <= 1:
        raise ValueError(f"traffic_share must be between 0 and 1, not {traffic_share}")


def _variant_upper_bounds(variants: Sequence[tuple[str, float]]) -> tuple[int, ...]:
    """Each variant's exclusive upper bucket, in order; the last is BUCKETS."""
    return _upper_bounds_of_design(tuple((name, weight) for name, weight in variants))


# Serving assigns on every recommendation, against the few designs of the
# running experiments: checking and summing the weights once per design,
# not once per call, halves the cost of `assign`.
@functools.lru_cache(maxsize=1024)
def _upper_bounds_of_design(variants: tuple[tuple[str, float], ...]) -> tuple[int, ...]:
    names = [name for name, _ in variants]
    weights = [weight for _, weight in variants]
    if not names:
        raise ValueError("an experiment needs at least one variant")
    if len(set(names)) != len(names):
        raise ValueError(f"variant names must be unique: {names}")
    if any(not math.isfinite(weight) or weight < 0 for weight in weights):
        raise ValueError(f"variant weights must be finite and non-negative: {weights}")
    # Relative to the largest: weights that are each finite may add up past the largest float
    # (the services bound them, but an experiment saved before that must still assign).
    largest = max(weights)
    if largest <= 0:
        raise ValueError("at least one variant needs a positive weight")
    weights = [weight / largest for weight in weights]
    total = sum(weights)
    upper_bounds = []
    cumulative = 0.0
    for weight in weights:
        cumulative += weight
        upper_bounds.append(round(cumulative / total * BUCKETS))
    upper_bounds[-1] = BUCKETS  # rounding must not leave the top buckets unassigned
    return tuple(upper_bounds)


def _variant_ranges(variants: Sequence[tuple[str, float]]) -> dict[str, tuple[int, int]]:
    upper_bounds = _variant_upper_bounds(variants)
    lower_bounds = [0, *upper_bounds[:-1]]
    return {
        name: (lower, upper)
        for (name, _), lower, upper in zip(variants, lower_bounds, upper_bounds, strict=True)
    }
