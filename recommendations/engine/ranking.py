"""Turning scores into a list: filters, merchant rules, top-k, diversity and rank fusion.

Scores are over a catalog's rows; -inf marks an item the scorer knows nothing
about. Exact top-k with numpy's argpartition is linear in the catalog and
takes about a millisecond for 100,000 items: enough up to about a million.
Past that, an approximate index (HNSW, IVF) would hand `top_k` its candidates
instead of the whole catalog; nothing else here would change.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# The k of reciprocal rank fusion (Cormack et al., 2009): damps the weight of the very first ranks.
RRF_K = 60


def shift_by_rules(
    scores: np.ndarray, eligible: np.ndarray, rules: Sequence[tuple[np.ndarray, float]]
) -> np.ndarray:
    """Each rule moves its items by `shift` standard deviations of the eligible items' scores.

    `rules`: (mask over the catalog, shift), positive to boost, negative to bury.
    """
    if not rules:
        return scores
    finite = eligible & np.isfinite(scores)
    spread = float(scores[finite].std()) if finite.any() else 0.0
    spread = spread if spread > 0 else 1.0
    shifted = scores.copy()
    for mask, shift in rules:
        shifted[mask & finite] += shift * spread
    return shifted


def lead_with(scores: np.ndarray, eligible: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The masked items ahead of every other eligible item, each group in its own order (a
    category's best sellers first, then the rest: a few best sellers would outscore a shift)."""
    finite = eligible & np.isfinite(scores)
    if not (finite & mask).any():
        return scores
    shifted = scores.copy()
    shifted[mask & finite] += float(scores[finite].max() - scores[finite & mask].min()) + 1.0
    return shifted


def top_k(scores: np.ndarray, eligible: np.ndarray, k: int) -> np.ndarray:
    """The rows of the k best eligible, scored items, best first; ties go to the lower row."""
    candidates = np.flatnonzero(eligible & np.isfinite(scores))
    if len(candidates) > k:
        part = np.argpartition(-scores[candidates], k - 1)[:k]
        threshold = scores[candidates[part]].min()
        # argpartition cuts ties arbitrarily: take every item tied at the threshold, then sort.
        candidates = candidates[scores[candidates] >= threshold]
    order = np.lexsort((candidates, -scores[candidates]))
    return candidates[order][:k]


def maximal_marginal_relevance(
    candidates: np.ndarray, scores: np.ndarray, embeddings: np.ndarray, k: int, diversity: float
) -> np.ndarray:
    """Re-rank `candidates` (best first) so the list also covers different things (Carbonell & Goldstein).

    Each pick maximises (1 - diversity) * relevance - diversity * (its highest
    cosine with what is already picked), relevance being the score rescaled to
    0..1 over the candidates. `embeddings`: one unit row per candidate.
    diversity 0 keeps the order; 1 picks by dissimilarity alone after the first.
    """
    if diversity <= 0 or len(candidates) <= 1:
        return candidates[:k]
    relevance = scores[candidates].astype(np.float64)
    low, high = relevance.min(), relevance.max()
    relevance = (relevance - low) / (high - low) if high > low else np.ones_like(relevance)
    similarity = embeddings @ embeddings.T
    picked = [0]
    closest = similarity[0].copy()
    available = np.ones(len(candidates), dtype=bool)
    available[0] = False
    while len(picked) < min(k, len(candidates)):
        value = (1 - diversity) * relevance - diversity * closest
        value[~available] = -np.inf
        choice = int(np.argmax(value))
        picked.append(choice)
        available[choice] = False
        closest = np.maximum(closest, similarity[choice])
    return candidates[picked]


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], weights: Sequence[float] | None = None, k: int = RRF_K
) -> list[tuple[int, float]]:
    """Fuse ranked lists of rows: each row scores the sum of weight / (k + rank) over the lists it is in."""
    weights = weights or [1.0] * len(rankings)
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, row in enumerate(ranking, start=1):
            fused[int(row)] = fused.get(int(row), 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))
