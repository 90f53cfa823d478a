"""Honest offline evaluation: rank the FULL catalog for every shopper of a window.

A scorer is any callable `scorer(histories) -> scores`, where `histories` is a
list of item-index lists (one per shopper, oldest first) and `scores` a float
array of shape (len(histories), catalog size). No negatives are sampled: every
item of the catalog is scored and ranked, as it would be in production.

Per-shopper metrics, averaged over shoppers with at least one target:
- Recall@k: retrieved targets / targets;
- NDCG@k: DCG of the top k (binary gains, 1/log2(rank+1)) over the DCG of an ideal list;
- HR@k: 1 when at least one target is in the top k;
- MRR@k: 1 / rank of the first target in the top k (0 when none is).
Coverage@k is the share of the catalog that appears in anyone's top k.
`ndcg_by_shopper` keeps each shopper's NDCG, and `ratio_interval` turns two methods' into the
ratio of their means with a paired bootstrap interval: how sure a "5% better" is.
The `cold_` metrics restrict the targets to cold items (no training
interaction), still over the full ranking: cold recall@10 is the share of
cold target items that made it into the top 10.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
from scipy import stats

from .data import EvalSet

Scorer = Callable[[list[list[int]]], np.ndarray]
MODES = {"all_items": False, "new_items": True}
BCA_MAX_SHOPPERS = 5_000
RESAMPLE_BATCH = 500


def recall_at_k(ranked: Sequence[int], targets: Iterable[int], k: int) -> float:
    targets = set(targets)
    if not targets:
        raise ValueError("recall needs at least one target")
    return len(targets.intersection(ranked[:k])) / len(targets)


def hit_rate_at_k(ranked: Sequence[int], targets: Iterable[int], k: int) -> float:
    targets = set(targets)
    return float(any(item in targets for item in ranked[:k]))


def mrr_at_k(ranked: Sequence[int], targets: Iterable[int], k: int) -> float:
    targets = set(targets)
    for rank, item in enumerate(ranked[:k], start=1):
        if item in targets:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: Sequence[int], targets: Iterable[int], k: int) -> float:
    targets = set(targets)
    if not targets:
        raise ValueError("NDCG needs at least one target")
    dcg = sum(1.0 / np.log2(rank + 1) for rank, item in enumerate(ranked[:k], start=1) if item in targets)
    ideal = sum(1.0 / np.log2(rank + 1) for rank in range(1, min(len(targets), k) + 1))
    return float(dcg / ideal)


def catalog_coverage(top_lists: Iterable[Sequence[int]], n_items: int) -> float:
    """Share of the catalog's items that appear in at least one of the lists."""
    shown = set()
    for ranked in top_lists:
        shown.update(int(item) for item in ranked)
    return len(shown) / n_items


def top_k(scores: np.ndarray, k: int, *, tie_seed: int = 0) -> np.ndarray:
    """Indices of the k best items of each row, best first.

    Ties (a shopper with no history scores every item alike) are broken in a
    fixed random order of the items, not by index, so that no item wins a tie
    just for coming first in the catalog.
    """
    n_items = scores.shape[1]
    k = min(k, n_items)
    order = np.random.default_rng(tie_seed).permutation(n_items)
    shuffled = scores[:, order]
    candidates = np.argpartition(-shuffled, k - 1, axis=1)[:, :k]
    candidate_scores = np.take_along_axis(shuffled, candidates, axis=1)
    best_first = np.argsort(-candidate_scores, axis=1, kind="stable")
    return order[np.take_along_axis(candidates, best_first, axis=1)]


class _Accumulator:
    def __init__(self, k: int, n_items: int, cold_items: np.ndarray | None):
        self.k = k
        self.n_items = n_items
        self.cold = None if cold_items is None else {int(i) for i in cold_items}
        self.sums = {name: 0.0 for name in ("recall", "ndcg", "hr", "mrr")}
        self.cold_sums = dict.fromkeys(self.sums, 0.0)
        self.users = 0
        self.cold_users = 0
        self.shown: set[int] = set()
        self.ndcg_by_shopper: list[float] = []  # in the order shoppers were added

    def add(self, ranked: list[int], targets: set[int]) -> None:
        self.users += 1
        self.shown.update(ranked)
        self.ndcg_by_shopper.append(self._add(self.sums, ranked, targets))
        if self.cold is not None:
            cold_targets = targets & self.cold
            if cold_targets:
                self.cold_users += 1
                self._add(self.cold_sums, ranked, cold_targets)

    def _add(self, sums: dict[str, float], ranked: list[int], targets: set[int]) -> float:
        """Adds one shopper's metrics to `sums`; returns their NDCG."""
        ndcg = ndcg_at_k(ranked, targets, self.k)
        sums["recall"] += recall_at_k(ranked, targets, self.k)
        sums["ndcg"] += ndcg
        sums["hr"] += hit_rate_at_k(ranked, targets, self.k)
        sums["mrr"] += mrr_at_k(ranked, targets, self.k)
        return ndcg

    def report(self) -> dict[str, float]:
        k = self.k
        report = {f"{name}@{k}": total / max(self.users, 1) for name, total in self.sums.items()}
        report[f"coverage@{k}"] = len(self.shown) / self.n_items
        report["users"] = self.users
        if self.cold is not None:
            report.update(
                {
                    f"cold_{name}@{k}": total / max(self.cold_users, 1)
                    for name, total in self.cold_sums.items()
                }
            )
            report[f"cold_coverage@{k}"] = len(self.shown & self.cold) / max(len(self.cold), 1)
            report["cold_users"] = self.cold_users
        return report


def _rank_batch(
    scores: np.ndarray,
    histories: Sequence[Sequence[int]],
    targets: Sequence[np.ndarray],
    accumulator: _Accumulator,
    exclude_seen: bool,
) -> None:
    scores = np.array(scores, dtype=np.float32, copy=True)
    scores[np.isnan(scores)] = -np.inf
    kept_targets = []
    for row, (history, user_targets) in enumerate(zip(histories, targets)):
        wanted = {int(item) for item in user_targets}
        if exclude_seen and len(history):
            seen = np.unique(np.asarray(history, dtype=np.int64))
            scores[row, seen] = -np.inf
            wanted -= set(seen.tolist())
        kept_targets.append(wanted)
    ranked = top_k(scores, accumulator.k)
    for row, wanted in enumerate(kept_targets):
        if wanted:  # a shopper who only re-bought has nothing new to find
            accumulator.add(ranked[row].tolist(), wanted)


def evaluate_modes(
    scorer: Scorer,
    eval_set: EvalSet,
    *,
    n_items: int,
    k: int = 10,
    cold_items: np.ndarray | None = None,
    modes: Sequence[str] = ("all_items", "new_items"),
    batch_size: int = 512,
) -> dict[str, dict[str, float]]:
    """Evaluate in each mode, scoring each shopper once.

    "all_items": items the shopper had before stay in the ranking and the targets;
    "new_items": they are left out of both.
    """
    accumulators = _accumulate(scorer, eval_set, n_items, k, cold_items, modes, batch_size)
    return {mode: accumulator.report() for mode, accumulator in accumulators.items()}


def ndcg_by_shopper(
    scorer: Scorer,
    eval_set: EvalSet,
    *,
    n_items: int,
    k: int = 10,
    modes: Sequence[str] = ("all_items", "new_items"),
    batch_size: int = 512,
) -> dict[str, np.ndarray]:
    """NDCG@k of each shopper with targets, in the order of `eval_set`, per mode; their mean is
    `evaluate_modes`' ndcg@k. Which shoppers have targets depends on the data alone, not on the
    scorer, so two scorers' arrays pair up shopper by shopper (see `ratio_interval`)."""
    accumulators = _accumulate(scorer, eval_set, n_items, k, None, modes, batch_size)
    return {mode: np.asarray(accumulator.ndcg_by_shopper) for mode, accumulator in accumulators.items()}


def ratio_interval(
    ours: np.ndarray,
    baseline: np.ndarray,
    *,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(ratio, low, high): mean(ours) / mean(baseline), and its paired bootstrap interval.

    The same shoppers are drawn for both (paired): two methods differ far less on one shopper
    than shoppers differ from each other, so pairing keeps the shoppers' spread out of the
    interval. The interval is BCa's (scipy; percentile past BCA_MAX_SHOPPERS shoppers, or where
    BCa cannot be computed); its upper end is infinite where resamples of a few shoppers leave
    the baseline nothing. Where the baseline's mean is 0 the ratio is infinite and the interval
    unknown (nan, nan).
    """
    ours, baseline = np.asarray(ours, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
    if ours.shape != baseline.shape or ours.ndim != 1:
        raise ValueError(f"paired per-shopper values need one shape: {ours.shape} and {baseline.shape}")
    if len(ours) == 0 or baseline.mean() == 0:
        return float("inf"), float("nan"), float("nan")

    def ratio_of_means(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        # A resample of shoppers the baseline found nothing for: infinitely better, or alike (0 / 0).
        numerator, denominator = a.mean(axis=axis), b.mean(axis=axis)
        ratio = numerator / np.where(denominator > 0, denominator, 1.0)
        return np.where(denominator > 0, ratio, np.where(numerator > 0, np.inf, 1.0))

    ratio = float(ours.mean() / baseline.mean())
    if len(ours) < 2 or np.ptp(ours - baseline) == 0:  # nothing to resample: every shopper alike
        return ratio, ratio, ratio
    # BCa's jackknife grows with the square of the shoppers: past a few thousand, where the
    # ratio's spread is near normal anyway, the percentile interval does.
    methods = ("BCa", "percentile") if len(ours) <= BCA_MAX_SHOPPERS else ("percentile",)
    for method in methods:
        with np.errstate(invalid="ignore", divide="ignore"):
            result = stats.bootstrap(
                (ours, baseline),
                ratio_of_means,
                paired=True,
                vectorized=True,
                n_resamples=resamples,
                batch=RESAMPLE_BATCH,  # (batch, shoppers) floats at a time
                confidence_level=confidence,
                method=method,
                rng=np.random.default_rng(seed),
            )
        low, high = result.confidence_interval
        if not (np.isnan(low) or np.isnan(high)):
            return ratio, float(low), float(high)  # high may be inf: see ratio_of_means
    return ratio, float("nan"), float("nan")


def _accumulate(
    scorer: Scorer,
    eval_set: EvalSet,
    n_items: int,
    k: int,
    cold_items: np.ndarray | None,
    modes: Sequence[str],
    batch_size: int,
) -> dict[str, _Accumulator]:
    accumulators = {mode: _Accumulator(k, n_items, cold_items) for mode in modes}
    for start in range(0, len(eval_set), batch_size):
        histories = eval_set.histories[start : start + batch_size]
        scores = np.asarray(scorer(histories))
        if scores.shape != (len(histories), n_items):
            raise ValueError(
                f"the scorer returned shape {scores.shape}; full-catalog ranking needs "
                f"({len(histories)}, {n_items}): one score for every item"
            )
        for mode, accumulator in accumulators.items():
            _rank_batch(
                scores, histories, eval_set.targets[start : start + batch_size], accumulator, MODES[mode]
            )
    return accumulators


def evaluate(
    scorer: Scorer,
    eval_set: EvalSet,
    *,
    n_items: int,
    k: int = 10,
    exclude_seen: bool = False,
    cold_items: np.ndarray | None = None,
    batch_size: int = 512,
) -> dict[str, float]:
    mode = "new_items" if exclude_seen else "all_items"
    return evaluate_modes(
        scorer, eval_set, n_items=n_items, k=k, cold_items=cold_items, modes=(mode,), batch_size=batch_size
    )[mode]


def evaluate_score_matrix(
    scores: np.ndarray,
    eval_set: EvalSet,
    *,
    k: int = 10,
    exclude_seen: bool = False,
    cold_items: np.ndarray | None = None,
) -> dict[str, float]:
    """The same metrics from scores already computed for every shopper of `eval_set`, in its order."""
    if scores.shape[0] != len(eval_set):
        raise ValueError(f"{scores.shape[0]} rows of scores for {len(eval_set)} shoppers")
    accumulator = _Accumulator(k, scores.shape[1], cold_items)
    _rank_batch(scores, eval_set.histories, eval_set.targets, accumulator, exclude_seen)
    return accumulator.report()


# --- Search: what the encoder does for a shopper's words --------------------------------------

# A category name is asked for as a query when it holds at least this many products, and at most
# this share of the catalog (a name that is half the catalog tells nothing).
SEARCH_QUERY_MIN_ITEMS = 2
SEARCH_QUERY_MAX_SHARE = 0.5
SEARCH_QUERIES_MAX = 200
# Fewer queries than this, and the figure says too little to be reported.
SEARCH_QUERIES_MIN = 5


def category_search_queries(categories: Sequence[str]) -> list[tuple[str, np.ndarray]]:
    """The catalog's category names as a shopper's queries, each with the items it should find.

    Semantic search embeds a shopper's words with the version's encoder and ranks the catalog by
    similarity (recommendations.selectors). The names of the catalog's own categories, the last
    part of each path ("Grocery > Tea > Green tea" -> "Green tea"), are queries whose right
    answers are known: the items of that category. The largest categories first, at most
    SEARCH_QUERIES_MAX; none when fewer than SEARCH_QUERIES_MIN qualify.
    """
    groups: dict[str, tuple[str, list[int]]] = {}
    for row, path in enumerate(categories):
        name = " ".join((path or "").split(">")[-1].split())
        if name:
            groups.setdefault(name.casefold(), (name, []))[1].append(row)
    most = SEARCH_QUERY_MAX_SHARE * len(categories)
    kept = sorted(
        ((name, rows) for name, rows in groups.values() if SEARCH_QUERY_MIN_ITEMS <= len(rows) <= most),
        key=lambda group: (-len(group[1]), group[0].casefold()),
    )[:SEARCH_QUERIES_MAX]
    if len(kept) < SEARCH_QUERIES_MIN:
        return []
    return [(name, np.asarray(rows, dtype=np.int64)) for name, rows in kept]


def search_ndcg(
    query_vectors: np.ndarray, item_vectors: np.ndarray, relevant: Sequence[np.ndarray], k: int
) -> float:
    """Mean NDCG@k of the queries, each ranking the full catalog by cosine similarity (the
    vectors are unit length) against its relevant items (binary gains)."""
    top = top_k(query_vectors @ item_vectors.T, k)
    return float(np.mean([ndcg_at_k(ranked, rows, k) for ranked, rows in zip(top, relevant, strict=True)]))
