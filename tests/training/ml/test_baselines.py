"""Each baseline on the tiny shop (scaled up to 120 shoppers), in the same harness as the model."""

import numpy as np
import pytest

from training.ml.baselines import ALSScorer, EASEScorer, ItemKNNScorer, evaluate_baselines, fit_baselines
from training.ml.data import prepare_dataset

from .conftest import make_interactions


@pytest.fixture(scope="module")
def bigger_shop(shop_items):
    return prepare_dataset(make_interactions(shop_items, n_shoppers=120, seed=1), shop_items)


@pytest.fixture(scope="module")
def reports(bigger_shop):
    return evaluate_baselines(bigger_shop, bigger_shop.test)


@pytest.mark.parametrize("name", ["popularity", "repeat_purchase", "item_knn", "ease", "als"])
def test_baseline_beats_random(reports, name):
    assert reports[name]["all_items"]["ndcg@10"] > 2 * reports["random"]["all_items"]["ndcg@10"]


@pytest.mark.parametrize("name", ["item_knn", "ease", "als"])
def test_collaborative_baselines_find_new_items_better_than_popularity(reports, name):
    assert reports[name]["new_items"]["ndcg@10"] > reports["popularity"]["new_items"]["ndcg@10"]


def test_repeat_purchase_wins_where_people_rebuy_and_falls_back_to_popularity_otherwise(reports):
    assert (
        reports["repeat_purchase"]["all_items"]["recall@10"] > reports["popularity"]["all_items"]["recall@10"]
    )
    assert reports["repeat_purchase"]["new_items"] == reports["popularity"]["new_items"]


def test_collaborative_baselines_cannot_find_cold_items(reports, bigger_shop):
    assert len(bigger_shop.cold_items) and reports["popularity"]["all_items"]["cold_users"] > 0
    for name in ("item_knn", "ease", "als", "popularity"):
        assert reports[name]["all_items"]["cold_recall@10"] == 0.0


def test_every_baseline_scores_the_whole_catalog(bigger_shop):
    histories = bigger_shop.test.histories[:3]
    for name, scorer in fit_baselines(bigger_shop).items():
        assert scorer(histories).shape == (3, len(bigger_shop.catalog)), name


def test_ease_keeps_to_max_items_of_the_most_popular(bigger_shop):
    ease = EASEScorer(bigger_shop.train_user_items, max_items=5)
    counts = bigger_shop.item_counts
    assert ease.similarity.shape == (5, 5)
    assert set(np.flatnonzero(ease.covered)) == set(np.argsort(-counts, kind="stable")[:5])
    scores = ease(bigger_shop.test.histories[:2])
    assert np.isneginf(scores[:, ~ease.covered]).all()


def test_item_knn_and_als_fold_in_a_shopper_they_never_saw(bigger_shop):
    coffee = [bigger_shop.catalog.index[f"coffee-{i}"] for i in range(3)]
    cheese = {bigger_shop.catalog.index[f"cheese-{i}"] for i in range(10)}
    coffee_items = {bigger_shop.catalog.index[f"coffee-{i}"] for i in range(10)}
    for scorer in (ItemKNNScorer(bigger_shop.train_user_items), ALSScorer(bigger_shop.train_user_items)):
        top = np.argsort(-scorer([coffee])[0])[:10]
        # The coffee and cheese mission: most of the top ten come from it.
        assert len(set(top.tolist()) & (cheese | coffee_items)) >= 7, type(scorer).__name__
