"""The serving engine's parts, plain Python: the memory-bounded cache, the catalog's filters, ranking."""

import numpy as np

from recommendations.engine.cache import MemoryBoundedLRU
from recommendations.engine.catalog import ServingCatalog
from recommendations.engine.ranking import (
    maximal_marginal_relevance,
    reciprocal_rank_fusion,
    shift_by_rules,
    top_k,
)


def test_the_cache_evicts_the_least_recently_used_entries_past_its_memory_bound():
    cache = MemoryBoundedLRU(max_bytes=100, size_of=len)
    cache.get_or_load("a", lambda: "x" * 40)
    cache.get_or_load("b", lambda: "x" * 40)
    cache.get_or_load("a", lambda: "never loaded again")  # "a" is now the most recent
    cache.get_or_load("c", lambda: "x" * 40)
    assert "a" in cache and "c" in cache and "b" not in cache
    assert cache.bytes == 80


def test_the_cache_keeps_an_entry_larger_than_its_bound_so_a_big_tenant_is_still_served():
    cache = MemoryBoundedLRU(max_bytes=10, size_of=len)
    assert cache.get_or_load("big", lambda: "x" * 50) == "x" * 50
    assert "big" in cache


def test_the_cache_does_not_keep_a_failed_load():
    cache = MemoryBoundedLRU(max_bytes=100, size_of=len)

    def broken():
        raise OSError("no such folder")

    try:
        cache.get_or_load("a", broken)
    except OSError:
        pass
    assert "a" not in cache
    assert cache.get_or_load("a", lambda: "loaded") == "loaded"


def catalog() -> ServingCatalog:
    return ServingCatalog(
        [
            {
                "external_id": "A",
                "category": "Grocery > Produce > Apples",
                "brand": "Orchard",
                "in_stock": True,
            },
            {"external_id": "B", "category": "Grocery > Produce", "brand": "orchard", "in_stock": False},
            {"external_id": "C", "category": "Grocery > Produced Goods", "brand": "Other", "in_stock": True},
            {"external_id": "D", "category": "Household", "brand": "", "in_stock": True},
        ]
    )


def test_a_category_filter_takes_the_category_and_those_below_it_but_not_a_longer_name():
    assert catalog().category_mask("Grocery > Produce").tolist() == [True, True, False, False]


def test_a_brand_filter_ignores_case():
    assert catalog().brand_mask("ORCHARD").tolist() == [True, True, False, False]


def test_top_k_takes_eligible_scored_items_best_first_and_breaks_ties_by_row():
    scores = np.array([0.5, 0.9, 0.5, -np.inf, 0.7], dtype=np.float32)
    eligible = np.array([True, False, True, True, True])
    assert top_k(scores, eligible, 3).tolist() == [4, 0, 2]
    assert top_k(scores, eligible, 10).tolist() == [4, 0, 2]  # the unscored item is never taken


def test_rules_move_items_by_standard_deviations_of_the_scores():
    scores = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)
    eligible = np.ones(4, dtype=bool)
    boost_first = np.array([True, False, False, False])
    bury_last = np.array([False, False, False, True])
    shifted = shift_by_rules(scores, eligible, [(boost_first, 3.0), (bury_last, -3.0)])
    assert top_k(shifted, eligible, 4).tolist() == [0, 2, 1, 3]
    assert scores.tolist() == [1.0, 2.0, 3.0, 4.0]  # the input is left alone


def test_diversity_picks_a_different_kind_of_item_before_a_near_duplicate():
    candidates = np.array([10, 11, 12])
    scores = np.zeros(20, dtype=np.float32)
    scores[[10, 11, 12]] = [1.0, 0.95, 0.5]
    embeddings = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    assert maximal_marginal_relevance(candidates, scores, embeddings, 2, diversity=0.0).tolist() == [10, 11]
    assert maximal_marginal_relevance(candidates, scores, embeddings, 2, diversity=0.5).tolist() == [10, 12]


def test_rank_fusion_favours_items_that_several_rankings_agree_on():
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1, 4]])
    assert [row for row, _score in fused] == [1, 3, 2, 4]
    weighted = reciprocal_rank_fusion([[1, 2], [2, 1]], weights=[1.0, 0.1])
    assert weighted[0][0] == 1


def test_a_catalogs_counted_size_is_close_to_the_memory_it_takes_with_its_masks():
    import json
    import tracemalloc

    from recommendations.engine.catalog import MASK_MEMO_SIZE

    def product(i: int) -> dict:
        return {
            "external_id": f"SKU-{i:07d}",
            "title": f"Organic product number {i} with a longer title",
            "category": f"Grocery > Produce > Kind {i % 50}",
            "brand": f"Brand {i % 300}",
            "price": "3.49",
            "currency": "USD",
            "in_stock": i % 7 != 0,
            # Parsed per row, as a JSONField gives it.
            "attributes": json.loads(json.dumps({"image": f"https://cdn.example.com/{i}.jpg", "size": "1 kg"})),
        }

    tracemalloc.start()
    try:
        loaded = ServingCatalog([product(i) for i in range(5_000)])
        for kind in range(MASK_MEMO_SIZE - 1):  # the filters requests ask for fill the mask memo
            loaded.category_mask(f"Grocery > Produce > Kind {kind}")
        taken, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert 0.8 * taken <= loaded.nbytes <= 1.5 * taken
