import json
from dataclasses import replace

import numpy as np
import pytest
from scipy import sparse

from training.ml.data import EvalSet
from training.ml.scorer import BlendWeights, HybridScorer, buy_again_scores, repeat_scores

BLEND = BlendWeights(1.0, 1.0, 0.5)


def _four_items(weights=BLEND):
    # Items 0 and 3 read alike (3 is new: no training interaction); 1 is bought with 0; 2 is a best seller.
    embeddings = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [0.98, 0.2]], dtype=np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    collaborative = sparse.csr_matrix(
        np.array([[0, 5.0, 0.5, 0], [5.0, 0, 0, 0], [0.5, 0, 0, 0], [0, 0, 0, 0]])
    )
    counts = np.array([10, 20, 500, 0])
    return HybridScorer(
        item_embeddings=embeddings,
        item_counts=counts,
        collaborative=collaborative,
        collaborative_items=counts > 0,
        weights=weights,
        history_length=5,
        recency_decay=0.8,
    )


def test_hybrid_scores_cold_items_from_their_content():
    scorer = _four_items()
    content, collaborative, popularity, *_buy_again = scorer.components([[0]])
    # No sales: the warm items' mean popularity (0 after standardising), not the lowest of all.
    assert popularity[0, 3] == 0.0
    # No behaviour of its own: the collaborative scores of the warm items it reads like, weighted by cosine.
    cosine = scorer.item_embeddings[:3] @ scorer.item_embeddings[3]
    expected = (cosine.clip(min=0) / cosine.clip(min=0).sum()) @ collaborative[0, :3]
    assert collaborative[0, 3] == pytest.approx(expected, abs=1e-5)
    scores = scorer([[0]])[0]
    # The cold look-alike beats the unrelated best seller, instead of sinking for having no sales.
    assert scores[3] > scores[2]
    assert scores[3] == pytest.approx(content[0, 3] + collaborative[0, 3])  # weights 1, 1, 0.5


def _fit_on(validation: EvalSet, k: int = 1, **options):
    """The four items' scorer with its blend weights chosen on `validation` by NDCG@k."""
    scorer = _four_items()
    return HybridScorer.fit(
        item_embeddings=scorer.item_embeddings,
        item_counts=scorer.item_counts,
        collaborative=scorer.collaborative,
        collaborative_items=scorer.item_counts > 0,
        validation=validation,
        history_length=5,
        recency_decay=0.8,
        k=k,
        **options,
    )


def test_blend_weights_are_chosen_on_validation():
    # Shoppers who had item 0 went on to item 1: behaviour, not text, predicts it.
    validation = EvalSet(user_ids=list(range(4)), histories=[[0]] * 4, targets=[np.array([1])] * 4)
    fitted, grid = _fit_on(validation)
    assert fitted.weights.collaborative > 0
    best = max(entry["ndcg@1"] for entry in grid)
    assert best == 1.0
    assert np.argmax(fitted([[0]])[0]) == 1


def test_hybrid_round_trips_through_a_folder(tmp_path):
    scorer = _four_items()
    scorer.save(tmp_path)
    loaded = HybridScorer.load(tmp_path)
    assert loaded.weights == scorer.weights
    np.testing.assert_allclose(loaded([[0], [1, 2], []]), scorer([[0], [1, 2], []]), atol=1e-3)


def test_fine_tuned_hybrid_finds_cold_items_that_collaborative_baselines_cannot(lora_outcome):
    test = lora_outcome.metrics["test"]
    assert test["hybrid"]["all_items"]["cold_users"] > 0
    # Among the items a shopper has not had, where cold items compete with warm ones only...
    assert test["hybrid"]["new_items"]["cold_recall@10"] > 0.1
    assert test["item_knn"]["new_items"]["cold_recall@10"] == 0.0
    # ...and still beside the shopper's own items, which re-buying lifts above them.
    assert test["hybrid"]["all_items"]["cold_recall@10"] > 0.0
    assert test["item_knn"]["all_items"]["cold_recall@10"] == 0.0
    assert test["hybrid"]["all_items"]["ndcg@10"] > test["random"]["all_items"]["ndcg@10"]


def test_a_job_fits_the_hybrid_with_each_behaviour_signal_and_keeps_the_one_chosen_on_validation(
    lora_outcome,
):
    from training.ml.baselines import EASEScorer, ItemKNNScorer

    metrics = lora_outcome.metrics
    candidates = metrics["hybrid_candidates"]
    assert set(candidates) == {"ease", "item_knn"}
    ratio, low, _high = metrics["hybrid_signal_intervals"]["item_knn"]
    assert ratio == pytest.approx(candidates["item_knn"] / candidates["ease"])
    chosen = metrics["hybrid_collaborative"]
    assert chosen == ("item_knn" if low > 1 else "ease")
    # The first stage's best point, on new items, is what the choice was made on.
    best_first_stage = max(e["ndcg@10"] for e in metrics["hybrid_grid"] if e["task"] == "new_items")
    assert best_first_stage == pytest.approx(candidates[chosen])
    # The stored item-item matrix is the chosen model's.
    model = {"ease": EASEScorer, "item_knn": ItemKNNScorer}[chosen](lora_outcome.dataset.train_user_items)
    stored = lora_outcome.scorer.collaborative.toarray()
    assert (stored > 0).sum() > 0
    np.testing.assert_allclose(stored, model.item_item_matrix(100).toarray(), atol=1e-6)


def test_a_job_compares_its_hybrid_on_test_with_the_baseline_best_on_validation(lora_outcome):
    metrics = lora_outcome.metrics
    comparison = metrics["comparison"]
    id_only = [name for name in metrics["validation"] if name not in {"hybrid", "content", "random"}]
    assert comparison["baseline"] == max(id_only, key=lambda name: metrics["validation"][name]["ndcg@10"])
    test = metrics["test"]
    assert comparison["mode"] == "all_items"
    assert comparison["ours"] == pytest.approx(test["hybrid"]["all_items"]["ndcg@10"])
    assert comparison["baseline_value"] == pytest.approx(test[comparison["baseline"]]["all_items"]["ndcg@10"])
    assert comparison["ratio"] == pytest.approx(comparison["ours"] / comparison["baseline_value"])
    assert comparison["low"] <= comparison["ratio"] <= comparison["high"]
    assert comparison["shoppers"] == test["hybrid"]["all_items"]["users"]
    json.dumps(comparison, allow_nan=False)  # storable as jsonb


def _two_baselines_and_ours():
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    n_users, n_items = 60, 8
    targets = [np.array([int(rng.integers(n_items))]) for _ in range(n_users)]
    target_first = np.zeros((n_users, n_items))
    for row, target in enumerate(targets):
        target_first[row, target] = 1.0
    noise = rng.random((n_users, n_items)) * 0.5
    dataset = SimpleNamespace(
        catalog=list(range(n_items)),
        test=EvalSet(user_ids=list(range(n_users)), histories=[[]] * n_users, targets=targets),
    )
    ours = lambda histories: 2 * target_first + noise  # finds every target first
    weak = lambda histories: noise
    return dataset, ours, weak


def test_the_comparison_takes_the_baseline_best_on_validation_not_on_test():
    from training.ml.pipeline import compare_with_best_baseline

    dataset, ours, weak = _two_baselines_and_ours()
    validation = {"popularity": {"ndcg@1": 0.2}, "ease": {"ndcg@1": 0.3}}
    # On test "popularity" would be the better one (it is ours); validation picked "ease".
    comparison = compare_with_best_baseline(
        ours, {"popularity": ours, "ease": weak}, validation, dataset, mode="all_items", k=1
    )
    assert comparison["baseline"] == "ease"
    assert comparison["ours"] == 1.0 and comparison["shoppers"] == 60
    assert 1.0 < comparison["low"] <= comparison["ratio"] <= comparison["high"]


def test_there_is_no_comparison_without_a_baseline():
    from training.ml.pipeline import compare_with_best_baseline

    dataset, ours, _weak = _two_baselines_and_ours()
    assert compare_with_best_baseline(ours, {}, {}, dataset, mode="all_items", k=1) is None


def _per_shopper(mean, spread, size=100, seed=0):
    return np.clip(np.random.default_rng(seed).normal(mean, spread, size), 0.0, 1.0)


def test_the_default_behaviour_signal_stays_when_another_wins_validation_only_by_luck():
    from training.ml.pipeline import choose_behaviour_signal

    rng = np.random.default_rng(1)
    ease = rng.uniform(0.2, 0.4, 100)
    differences = rng.normal(0, 0.06, 100)  # better for some shoppers, worse for others...
    item_knn = ease + differences - differences.mean() + 0.01  # ...and 3% better on average
    assert item_knn.mean() / ease.mean() == pytest.approx(1.033, abs=0.001)

    chosen, intervals = choose_behaviour_signal({"ease": ease, "item_knn": item_knn})

    assert chosen == "ease"
    ratio, low, high = intervals["item_knn"]
    assert low < 1 < high and ratio == pytest.approx(item_knn.mean() / ease.mean())


def test_another_behaviour_signal_replaces_the_default_when_it_wins_beyond_chance():
    from training.ml.pipeline import choose_behaviour_signal

    ease = _per_shopper(0.3, 0.1, seed=1)
    item_knn = ease * 1.3

    chosen, intervals = choose_behaviour_signal({"ease": ease, "item_knn": item_knn})

    assert chosen == "item_knn" and intervals["item_knn"][1] > 1


def test_the_best_of_several_signals_that_beat_the_default_is_kept():
    from training.ml.pipeline import choose_behaviour_signal

    default = _per_shopper(0.3, 0.1, seed=1)
    chosen, _intervals = choose_behaviour_signal(
        {"ease": default, "item_knn": default * 1.2, "als": default * 1.4}
    )
    assert chosen == "als"


def test_a_job_asked_for_one_behaviour_signal_uses_that_one(tiny_config, shop_interactions, shop_items):
    from training.ml.baselines import ItemKNNScorer
    from training.ml.pipeline import fine_tune

    outcome = fine_tune(
        tiny_config.replace(epochs=1), shop_interactions, shop_items, collaborative="item_knn", baselines=()
    )

    assert outcome.metrics["hybrid_collaborative"] == "item_knn"
    assert set(outcome.metrics["hybrid_candidates"]) == {"item_knn"}
    expected = ItemKNNScorer(outcome.dataset.train_user_items).item_item_matrix(100).toarray()
    np.testing.assert_allclose(outcome.scorer.collaborative.toarray(), expected, atol=1e-6)


def test_a_validation_window_of_re_buys_only_leaves_metrics_that_json_can_store(
    tiny_config, shop_interactions, shop_items
):
    """No validation shopper buys anything new, so no hybrid has a new-items mean: the version's
    metrics must still be JSON (SQLite's JSON check and PostgreSQL's jsonb refuse NaN)."""
    from training.ml.pipeline import fine_tune

    from training.ml.data import split_by_time

    interactions = shop_interactions.sort_values("timestamp").reset_index(drop=True)
    cut = split_by_time(
        interactions, validation_fraction=tiny_config.validation_fraction, test_fraction=tiny_config.test_fraction
    )
    timestamps = interactions["timestamp"]
    validation = (timestamps >= cut.validation_cutoff) & (timestamps < cut.test_cutoff)
    first_item = interactions[timestamps < cut.validation_cutoff].groupby("user_id")["item_id"].first()
    # Every validation row becomes a re-buy of a shopper with a history; the rows stay where they
    # are in time, so the cutoffs do not move.
    newcomer = validation & ~interactions["user_id"].isin(first_item.index)
    interactions.loc[newcomer, "user_id"] = first_item.index[0]
    interactions.loc[validation, "item_id"] = interactions.loc[validation, "user_id"].map(first_item)

    outcome = fine_tune(tiny_config.replace(epochs=1), interactions, shop_items, baselines=())

    assert set(outcome.metrics["hybrid_candidates"].values()) == {None}
    json.dumps(outcome.metrics, allow_nan=False)


def test_a_job_refuses_an_unknown_behaviour_signal(tiny_config, shop_interactions, shop_items):
    from training.ml.pipeline import fine_tune

    with pytest.raises(ValueError, match="collaborative: 'svd' is not auto or one of ease, item_knn"):
        fine_tune(tiny_config, shop_interactions, shop_items, collaborative="svd")


def test_repeat_scores_put_the_most_frequent_then_the_most_recent_items_first():
    scores = repeat_scores([[2, 0, 2, 1], []], n_items=4, recency_decay=0.8)

    assert list(np.argsort(-scores[0])[:3]) == [2, 1, 0]  # twice; then once, 1 newer than 0
    assert scores[0, 3] == 0.0
    assert not scores[1].any()


def test_a_repeat_weight_puts_the_shoppers_own_items_above_the_rest():
    # Behaviour alone: who had item 0 goes on to item 1.
    without = _four_items(BlendWeights(0.0, 1.0, 0.5))
    with_repeat = _four_items(BlendWeights(0.0, 1.0, 0.5, repeat=4.0))

    assert np.argmax(without([[0]])[0]) == 1
    assert np.argmax(with_repeat([[0]])[0]) == 0


def test_a_buy_again_weight_is_chosen_on_validation_where_shoppers_rebuy():
    # Every shopper's next item is one they already had.
    validation = EvalSet(user_ids=list(range(4)), histories=[[0, 2]] * 4, targets=[np.array([2])] * 4)
    fitted, _grid = _fit_on(validation)

    assert fitted.weights.repeat + fitted.weights.frequency + fitted.weights.recency > 0
    assert np.argmax(fitted([[0, 2]])[0]) == 2


def test_a_version_saved_before_the_repeat_weight_loads_without_it(tmp_path):
    _four_items().save(tmp_path)
    state = json.loads((tmp_path / "scorer.json").read_text())
    del state["weights"]["repeat"]
    (tmp_path / "scorer.json").write_text(json.dumps(state))

    assert HybridScorer.load(tmp_path).weights.repeat == 0.0


def test_the_other_weights_are_chosen_first_without_buying_again_so_they_still_serve_new_items():
    # Some shoppers re-buy, others move on: a case where choosing all four weights at once
    # would settle the popularity weight differently than it is best without re-buys.
    validation = EvalSet(
        user_ids=list(range(4)),
        histories=[[1, 0], [2, 1], [1, 1], [2, 0]],
        targets=[np.array([1]), np.array([2]), np.array([1]), np.array([0])],
    )

    with_buy_again, _ = _fit_on(validation, k=2)
    without_any, _ = _fit_on(validation, k=2, buy_again_grid=())

    assert with_buy_again.weights != without_any.weights
    assert replace(with_buy_again.weights, repeat=0.0, frequency=0.0, recency=0.0) == without_any.weights


def test_the_other_weights_are_chosen_on_the_items_a_shopper_has_not_had():
    # Everyone had item 0; half of them buy it again, the other half buy item 1, which goes with it.
    # Over every item, content (item 0 reads most like itself) and behaviour tie at one hit in two;
    # over new items only behaviour finds item 1, where content offers item 3, 0's look-alike.
    validation = EvalSet(
        user_ids=list(range(4)),
        histories=[[0]] * 4,
        targets=[np.array([0]), np.array([0]), np.array([1]), np.array([1])],
    )

    fitted, grid = _fit_on(validation)

    assert fitted.weights.collaborative > 0
    new_item_scores = fitted([[0]])[0]
    new_item_scores[0] = -np.inf
    assert np.argmax(new_item_scores) == 1
    assert {entry["task"] for entry in grid} == {"new_items", "all_items"}


def test_buy_again_weights_are_scaled_to_the_rest_of_the_blend():
    # A buy-again weight of 1 means "as strong as all the other signals together", whatever their sum.
    validation = EvalSet(user_ids=list(range(4)), histories=[[0, 2]] * 4, targets=[np.array([2])] * 4)

    fitted, _grid = _fit_on(validation, grid=[BlendWeights(1.0, 4.0, 0.5)], buy_again_grid=[(0.0, 1.0, 0.0)])

    assert fitted.weights == BlendWeights(1.0, 4.0, 0.5, frequency=5.5)


def test_frequency_lets_old_purchases_fade_where_the_plain_count_does_not():
    # Item 0: four times long ago; item 1: twice lately.
    history = [[0, 0, 0, 0, *([2] * 40), 1, 1]]
    counts = repeat_scores(history, n_items=3, recency_decay=0.8)
    frequency, _recency = buy_again_scores(history, n_items=3, half_life=10)

    assert counts[0, 0] > counts[0, 1]
    assert frequency[0, 1] > frequency[0, 0] > 0


def test_recency_is_one_for_the_newest_item_and_falls_with_age_across_the_window():
    frequency, recency = buy_again_scores([[0, 1, 0, 2], []], n_items=4, window=4)

    # Item 0's last time is one item old, item 1's two, item 2 is the newest; item 3 was never had.
    assert recency[0].tolist() == [0.75, 0.5, 1.0, 0.0]
    assert not frequency[1].any() and not recency[1].any()


def test_buy_again_signals_read_only_the_newest_window_of_a_history():
    frequency, recency = buy_again_scores([[0, 1, 2, 3]], n_items=4, window=2)

    assert frequency[0, :2].tolist() == [0.0, 0.0]
    assert recency[0, :2].tolist() == [0.0, 0.0]
    assert frequency[0, 3] > 0 and recency[0, 3] == 1.0


def test_serving_reads_at_least_the_window_that_the_buy_again_signals_were_measured_on():
    from recommendations.selectors.shoppers import HISTORY_EVENTS_READ
    from training.ml.scorer import BUY_AGAIN_WINDOW

    assert HISTORY_EVENTS_READ >= BUY_AGAIN_WINDOW


def test_a_version_saved_before_frequency_and_recency_loads_without_them(tmp_path):
    _four_items().save(tmp_path)
    state = json.loads((tmp_path / "scorer.json").read_text())
    for key in ("frequency", "recency"):
        del state["weights"][key]
    del state["buy_again_window"], state["frequency_half_life"]
    (tmp_path / "scorer.json").write_text(json.dumps(state))

    loaded = HybridScorer.load(tmp_path)
    assert (loaded.weights.frequency, loaded.weights.recency) == (0.0, 0.0)
    np.testing.assert_allclose(loaded([[0, 1]]), _four_items()([[0, 1]]), atol=1e-3)


def test_a_recency_weight_puts_the_latest_own_item_first():
    scorer = _four_items(BlendWeights(0.0, 0.0, 0.0, recency=1.0))

    assert np.argmax(scorer([[2, 1, 0]])[0]) == 0
    assert np.argmax(scorer([[0, 1, 2]])[0]) == 2
