"""Assignment: stable per shopper, uniform, traffic share and weights honoured."""
import functools
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from scipy import stats

from experiments.assignment import assign, bucket, shoppers_moved_by_reweighting

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
SHOPPER_IDS = [f"shopper-{number}" for number in range(100_000)]
FIFTY_FIFTY = (("control", 0.5), ("treatment", 0.5))


# Enough to compare two designs shopper by shopper; proportions get the full 100,000.
FEWER_SHOPPERS = 20_000


@functools.cache  # several tests look at the same design: hash its shoppers once
def assign_everyone(*, traffic_share, variants, salt="experiment-7", shoppers=len(SHOPPER_IDS)):
    return tuple(
        assign(salt, shopper_id, traffic_share=traffic_share, variants=variants)
        for shopper_id in SHOPPER_IDS[:shoppers]
    )


def test_a_shopper_gets_the_same_bucket_on_every_call():
    assert len({bucket("experiment-7", "shopper-42") for _ in range(100)}) == 1


def test_known_buckets_never_change():
    # Pinned: a change of hash reassigns every shopper of every running experiment.
    assert bucket("experiment-7", "shopper-42") == 7349
    assert bucket("experiment-7", "shopper-43") == 7788
    assert bucket("other-experiment", "shopper-42") == 7124


def test_a_shopper_gets_the_same_variant_in_processes_with_different_hash_seeds():
    program = (
        "from experiments.assignment import assign\n"
        "print([assign('experiment-7', f'shopper-{n}', traffic_share=0.5,"
        " variants=[('a', 1), ('b', 1), ('c', 1)]) for n in range(200)])"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", program],
            env={"PYTHONHASHSEED": seed},
            cwd=REPOSITORY_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


def test_buckets_are_uniform_over_100_000_shoppers():
    counts = Counter(bucket("experiment-7", shopper_id, buckets=100) for shopper_id in SHOPPER_IDS)
    assert sorted(counts) == list(range(100))
    assert stats.chisquare([counts[index] for index in range(100)]).pvalue > 0.001


def test_variant_counts_follow_the_weights():
    variants = (("control", 0.2), ("ranker-a", 0.3), ("ranker-b", 0.5))
    counts = Counter(assign_everyone(traffic_share=1.0, variants=variants))
    observed = [counts["control"], counts["ranker-a"], counts["ranker-b"]]
    expected = [0.2 * 100_000, 0.3 * 100_000, 0.5 * 100_000]
    assert stats.chisquare(observed, f_exp=expected).pvalue > 0.001


@pytest.mark.parametrize("traffic_share", [0.05, 0.3, 0.75])
def test_traffic_share_is_honoured_within_one_percent(traffic_share):
    assigned = assign_everyone(traffic_share=traffic_share, variants=FIFTY_FIFTY)
    share_in = sum(variant is not None for variant in assigned) / len(assigned)
    assert share_in == pytest.approx(traffic_share, abs=0.01)


def test_no_traffic_assigns_no_one_and_full_traffic_assigns_everyone():
    assert set(assign_everyone(traffic_share=0.0, variants=FIFTY_FIFTY, shoppers=FEWER_SHOPPERS)) == {None}
    assert None not in assign_everyone(traffic_share=1.0, variants=FIFTY_FIFTY, shoppers=FEWER_SHOPPERS)


def test_variants_split_by_the_weights_inside_a_partial_traffic_share():
    counts = Counter(assign_everyone(traffic_share=0.3, variants=FIFTY_FIFTY))
    assert stats.chisquare([counts["control"], counts["treatment"]]).pvalue > 0.001


def test_raising_the_traffic_share_keeps_every_shopper_in_with_the_same_variant():
    before = assign_everyone(traffic_share=0.2, variants=FIFTY_FIFTY, shoppers=FEWER_SHOPPERS)
    after = assign_everyone(traffic_share=0.5, variants=FIFTY_FIFTY, shoppers=FEWER_SHOPPERS)
    already_in = [(old, new) for old, new in zip(before, after) if old is not None]
    assert len(already_in) > 0.19 * FEWER_SHOPPERS
    assert all(old == new for old, new in already_in)


def test_lowering_the_traffic_share_does_not_move_the_shoppers_who_stay():
    before = assign_everyone(traffic_share=0.5, variants=FIFTY_FIFTY, shoppers=FEWER_SHOPPERS)
    after = assign_everyone(traffic_share=0.2, variants=FIFTY_FIFTY, shoppers=FEWER_SHOPPERS)
    staying = [(old, new) for old, new in zip(before, after) if new is not None]
    assert len(staying) > 0.19 * FEWER_SHOPPERS
    assert all(old == new for old, new in staying)


def test_two_experiments_pick_unrelated_shoppers():
    first = assign_everyone(traffic_share=0.5, variants=FIFTY_FIFTY, shoppers=FEWER_SHOPPERS)
    second = assign_everyone(
        traffic_share=0.5, variants=FIFTY_FIFTY, salt="experiment-8", shoppers=FEWER_SHOPPERS
    )
    in_both = sum(one is not None and other is not None for one, other in zip(first, second))
    assert in_both / FEWER_SHOPPERS == pytest.approx(0.25, abs=0.01)


def test_reweighting_fifty_fifty_to_forty_sixty_moves_a_tenth_of_the_shoppers():
    forty_sixty = (("control", 0.4), ("treatment", 0.6))
    assert shoppers_moved_by_reweighting(FIFTY_FIFTY, forty_sixty) == pytest.approx(0.10)

    before = assign_everyone(traffic_share=1.0, variants=FIFTY_FIFTY, shoppers=FEWER_SHOPPERS)
    after = assign_everyone(traffic_share=1.0, variants=forty_sixty, shoppers=FEWER_SHOPPERS)
    moved = sum(old != new for old, new in zip(before, after)) / FEWER_SHOPPERS
    assert moved == pytest.approx(0.10, abs=0.01)


def test_reweighting_three_variants_moves_more_than_the_weights_changed_and_says_so():
    old = (("control", 0.34), ("ranker-a", 0.33), ("ranker-b", 0.33))
    new = (("control", 0.50), ("ranker-a", 0.25), ("ranker-b", 0.25))
    # By hand: control keeps [0, .34), ranker-a keeps [.50, .67), ranker-b keeps [.75, 1):
    # 0.34 + 0.17 + 0.25 = 0.76 stay, though the weights changed by only 0.16.
    assert shoppers_moved_by_reweighting(old, new) == pytest.approx(0.24)

    before = assign_everyone(traffic_share=0.6, variants=old, shoppers=FEWER_SHOPPERS)
    after = assign_everyone(traffic_share=0.6, variants=new, shoppers=FEWER_SHOPPERS)
    in_experiment = [(was, now) for was, now in zip(before, after) if was is not None]
    moved = sum(was != now for was, now in in_experiment) / len(in_experiment)
    assert moved == pytest.approx(0.24, abs=0.015)


def test_unchanged_weights_move_no_one_and_a_removed_variant_moves_all_its_shoppers():
    assert shoppers_moved_by_reweighting(FIFTY_FIFTY, [("control", 5), ("treatment", 5)]) == 0
    assert shoppers_moved_by_reweighting(FIFTY_FIFTY, [("control", 1.0)]) == pytest.approx(0.5)


def test_a_variant_of_weight_zero_gets_no_shoppers():
    variants = (("control", 0.5), ("paused", 0.0), ("treatment", 0.5))
    assigned = set(assign_everyone(traffic_share=1.0, variants=variants, shoppers=FEWER_SHOPPERS))
    assert assigned == {"control", "treatment"}


def test_weights_whose_sum_is_past_the_largest_float_still_split_as_their_ratio():
    # Saved before the services bounded weights: each finite, their sum infinite.
    huge = (("control", 1e308), ("treatment", 1e308))
    assigned = assign_everyone(traffic_share=1.0, variants=huge, shoppers=FEWER_SHOPPERS)
    assert set(assigned) == {"control", "treatment"}
    assert abs(assigned.count("control") / len(assigned) - 0.5) < 0.05


@pytest.mark.parametrize(
    "traffic_share, variants",
    [
        (1.5, FIFTY_FIFTY),
        (-0.1, FIFTY_FIFTY),
        (0.5, []),
        (0.5, [("control", 0.0), ("treatment", 0.0)]),
        (0.5, [("control", -0.2), ("treatment", 1.2)]),
        (0.5, [("control", 0.5), ("control", 0.5)]),
    ],
)
def test_an_impossible_design_is_refused(traffic_share, variants):
    with pytest.raises(ValueError):
        assign("experiment-7", "shopper-42", traffic_share=traffic_share, variants=variants)
