"""The metric functions against cases worked out by hand, and the evaluator's full-catalog ranking."""

import math

import numpy as np
import pytest

from training.ml.data import EvalSet
from training.ml.evaluate import (
    catalog_coverage,
    evaluate,
    evaluate_modes,
    hit_rate_at_k,
    mrr_at_k,
    ndcg_at_k,
    ndcg_by_shopper,
    ratio_interval,
    recall_at_k,
    top_k,
)

RANKED = [3, 1, 4, 5, 9]
TARGETS = {1, 5, 7}  # hits at ranks 2 and 4; item 7 is not retrieved


def test_recall_is_the_share_of_targets_retrieved():
    assert recall_at_k(RANKED, TARGETS, 5) == pytest.approx(2 / 3)
    assert recall_at_k(RANKED, TARGETS, 3) == pytest.approx(1 / 3)
    assert recall_at_k(RANKED, TARGETS, 1) == 0.0


def test_ndcg_matches_the_hand_computed_value():
    dcg = 1 / math.log2(3) + 1 / math.log2(5)  # ranks 2 and 4
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)  # three targets at ranks 1-3
    assert ndcg_at_k(RANKED, TARGETS, 5) == pytest.approx(dcg / ideal)
    assert ndcg_at_k(RANKED, TARGETS, 5) == pytest.approx(0.49818, abs=1e-5)
    # With k=2 the ideal list holds only two hits.
    assert ndcg_at_k(RANKED, TARGETS, 2) == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert ndcg_at_k([7, 1, 5], TARGETS, 3) == pytest.approx(1.0)


def test_hit_rate_and_mrr_look_at_the_first_hit():
    assert hit_rate_at_k(RANKED, TARGETS, 5) == 1.0
    assert hit_rate_at_k(RANKED, TARGETS, 1) == 0.0
    assert mrr_at_k(RANKED, TARGETS, 5) == pytest.approx(0.5)
    assert mrr_at_k(RANKED, TARGETS, 1) == 0.0
    assert mrr_at_k([1, 5], TARGETS, 2) == 1.0


def test_coverage_is_the_share_of_the_catalog_in_anyones_list():
    assert catalog_coverage([[0, 1], [1, 2]], 10) == pytest.approx(0.3)


def test_top_k_is_best_first():
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [4.0, 3.0, 2.0, 1.0]])
    assert top_k(scores, 2).tolist() == [[1, 3], [0, 1]]


def test_top_k_breaks_ties_without_favouring_the_first_items():
    firsts = {int(top_k(np.zeros((1, 50)), 1, tie_seed=seed)[0, 0]) for seed in range(20)}
    assert len(firsts) > 5


def _scorer(matrix):
    return lambda histories: matrix[: len(histories)]


def test_evaluator_averages_hand_computed_users():
    # User A: targets {1}, ranking 1 > 0 > 2 > ... (a hit at rank 1).
    # User B: targets {3, 4}, ranking 2 > 3 > 0 > 1 > 4 (one hit at rank 2 within k=2).
    scores = np.array([[0.5, 0.9, 0.1, 0.0, 0.0], [0.3, 0.2, 0.9, 0.5, 0.1]])
    eval_set = EvalSet(user_ids=["a", "b"], histories=[[0], [1]], targets=[np.array([1]), np.array([3, 4])])
    report = evaluate(lambda histories: scores, eval_set, n_items=5, k=2)
    assert report["users"] == 2
    assert report["recall@2"] == pytest.approx((1 + 1 / 2) / 2)
    assert report["hr@2"] == pytest.approx(1.0)
    assert report["mrr@2"] == pytest.approx((1 + 1 / 2) / 2)
    ndcg_b = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert report["ndcg@2"] == pytest.approx((1 + ndcg_b) / 2)
    assert report["coverage@2"] == pytest.approx(4 / 5)  # A shows 1 and 0, B shows 2 and 3; 4 is unseen


def test_evaluator_ranks_the_full_catalog():
    n_items = 1000
    calls = []

    def scorer(histories):
        calls.append(len(histories))
        scores = np.zeros((len(histories), n_items))
        scores[:, n_items - 1] = 1.0  # the last item of the catalog: a sampled evaluation would rarely see it
        return scores

    eval_set = EvalSet(
        user_ids=list(range(3)), histories=[[0], [1], [2]], targets=[np.array([n_items - 1])] * 3
    )
    report = evaluate(scorer, eval_set, n_items=n_items, k=10)
    assert sum(calls) == 3
    assert report["recall@10"] == 1.0 and report["mrr@10"] == 1.0


def test_evaluator_refuses_a_scorer_that_does_not_score_every_item():
    eval_set = EvalSet(user_ids=["a"], histories=[[0]], targets=[np.array([1])])
    with pytest.raises(ValueError, match="every item"):
        evaluate(lambda histories: np.zeros((len(histories), 99)), eval_set, n_items=100)


def test_exclude_seen_removes_seen_items_from_ranking_and_targets():
    # The user had items 0 and 1; in the window they re-bought 0 and found 2. Item 0 scores highest.
    scores = np.array([[0.9, 0.1, 0.5, 0.0]])
    eval_set = EvalSet(user_ids=["a"], histories=[[0, 1]], targets=[np.array([0, 2])])
    with_seen = evaluate(lambda h: scores, eval_set, n_items=4, k=1, exclude_seen=False)
    new_only = evaluate(lambda h: scores, eval_set, n_items=4, k=1, exclude_seen=True)
    assert with_seen["recall@1"] == pytest.approx(0.5)  # targets {0, 2}; the top item is 0
    assert new_only["recall@1"] == 1.0  # 0 left the ranking and the targets: the top item is now 2


def test_exclude_seen_drops_users_who_only_rebought():
    scores = np.array([[0.9, 0.1, 0.5], [0.1, 0.9, 0.5]])
    eval_set = EvalSet(user_ids=["a", "b"], histories=[[0], [0]], targets=[np.array([0]), np.array([1])])
    reports = evaluate_modes(lambda h: scores, eval_set, n_items=3, k=1)
    assert reports["all_items"]["users"] == 2
    assert reports["new_items"]["users"] == 1


def test_cold_metrics_only_count_cold_targets():
    # Item 4 is cold. The user's targets are 1 (warm, rank 3) and 4 (cold, rank 1).
    scores = np.array([[0.5, 0.3, 0.0, 0.0, 0.9]])
    eval_set = EvalSet(user_ids=["a"], histories=[[2]], targets=[np.array([1, 4])])
    report = evaluate(lambda h: scores, eval_set, n_items=5, k=2, cold_items=np.array([4]))
    assert report["recall@2"] == pytest.approx(0.5)
    assert report["cold_recall@2"] == 1.0
    assert report["cold_mrr@2"] == 1.0
    assert report["cold_users"] == 1
    assert report["cold_coverage@2"] == 1.0


def test_ndcg_by_shopper_lists_each_shopper_with_targets_in_order_and_averages_to_the_report():
    # a: hit at rank 1 (NDCG 1). b: only re-bought item 0, so no new-item target. c: misses.
    scores = np.array([[0.9, 0.5, 0.1], [0.9, 0.5, 0.1], [0.1, 0.5, 0.9]])
    eval_set = EvalSet(
        user_ids=["a", "b", "c"],
        histories=[[2], [0], [2]],
        targets=[np.array([0]), np.array([0]), np.array([0])],
    )
    by_shopper = ndcg_by_shopper(lambda h: scores, eval_set, n_items=3, k=1)
    reports = evaluate_modes(lambda h: scores, eval_set, n_items=3, k=1)
    assert by_shopper["all_items"].tolist() == [1.0, 1.0, 0.0]
    assert by_shopper["new_items"].tolist() == [1.0, 0.0]  # b has nothing new to find
    for mode, values in by_shopper.items():
        assert values.mean() == pytest.approx(reports[mode]["ndcg@1"])


def test_the_ratio_of_two_equal_methods_is_one_with_no_width():
    values = np.linspace(0.0, 1.0, 50)
    assert ratio_interval(values, values) == (1.0, 1.0, 1.0)


def test_a_method_better_for_every_shopper_gets_an_interval_above_one_around_its_ratio():
    rng = np.random.default_rng(0)
    baseline = rng.uniform(0.1, 0.9, size=200)
    ours = baseline * rng.uniform(1.15, 1.25, size=200)
    ratio, low, high = ratio_interval(ours, baseline, resamples=2_000)
    assert ratio == pytest.approx(ours.mean() / baseline.mean())
    assert 1.0 < low < ratio < high < 1.3


def test_a_noisy_difference_on_few_shoppers_gets_an_interval_that_holds_one():
    rng = np.random.default_rng(1)
    baseline = rng.uniform(0.0, 1.0, size=20)
    ours = np.clip(baseline + rng.normal(0.02, 0.3, size=20), 0.0, 1.0)
    _ratio, low, high = ratio_interval(ours, baseline, resamples=2_000)
    assert low < 1.0 < high


def test_the_ratio_over_a_baseline_that_finds_nothing_is_infinite_with_no_interval():
    ratio, low, high = ratio_interval(np.array([0.5, 0.2]), np.zeros(2))
    assert ratio == float("inf") and np.isnan(low) and np.isnan(high)


def test_when_resamples_can_leave_the_baseline_nothing_the_interval_is_open_above():
    baseline = np.zeros(11)
    baseline[[1, 4]] = [0.3, 0.4]  # two of eleven shoppers: many resamples miss both
    ours = np.zeros(11)
    ours[[1, 2, 5, 7]] = [0.3, 0.5, 0.2, 0.4]
    ratio, low, high = ratio_interval(ours, baseline, resamples=2_000)
    assert ratio == pytest.approx(2.0)
    assert 0 <= low < ratio and high == float("inf")


def test_the_ratio_needs_the_same_shoppers_on_both_sides():
    with pytest.raises(ValueError, match="one shape"):
        ratio_interval(np.ones(3), np.ones(4))


# --- Search: the catalog's category names as queries ------------------------------------------


def test_the_search_queries_are_the_last_part_of_each_category_path_largest_first():
    from training.ml.evaluate import category_search_queries

    categories = (
        ["Drinks > Tea"] * 3 + ["drinks > TEA "] + ["Food > Cheese"] * 2 + ["Coffee", "Coffee"]
        + ["Bread", "Bread", "Jam", "Jam", "", "Lonely"]
    )
    queries = category_search_queries(categories)

    assert [(name, rows.tolist()) for name, rows in queries] == [
        ("Tea", [0, 1, 2, 3]),  # the same name however it is written
        ("Bread", [8, 9]), ("Cheese", [4, 5]), ("Coffee", [6, 7]), ("Jam", [10, 11]),
    ]  # "Lonely" has one product: nothing to rank


def test_no_search_query_is_asked_of_a_catalog_with_too_few_categories_or_one_that_is_half_the_catalog():
    from training.ml.evaluate import category_search_queries

    assert category_search_queries(["Tea", "Tea", "Jam", "Jam"]) == []
    assert [name for name, _ in category_search_queries(["All"] * 12 + [c for c in "ABCDE" for _ in "xy"])] == list(
        "ABCDE"
    )


def test_search_ndcg_ranks_the_whole_catalog_by_similarity_to_each_query():
    from training.ml.evaluate import search_ndcg

    items = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.6, 0.8]])
    queries = np.array([[1.0, 0.0], [0.0, 1.0]])
    # Query 0 ranks 0, 1, 3, 2: its items 1 and 2 sit at ranks 2 and 4. Query 1 ranks 2, 3, 1, 0: item 2 first.
    expected = ((1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3)) + 1.0) / 2
    assert search_ndcg(queries, items, [np.array([1, 2]), np.array([2])], k=4) == pytest.approx(expected)
