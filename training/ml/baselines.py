"""Collaborative and popularity baselines, scored in the same harness as the fine-tuned model.

Every baseline is fitted on the training window only and is a scorer in the
sense of `evaluate`: `baseline(histories) -> (len(histories), n_items) scores`.
Shoppers are "folded in" from their history at scoring time, so the same
fitted baseline serves the validation and the test windows.

Items a collaborative baseline cannot score (no training interaction, or left
out of EASE to bound its memory) score -inf or 0: they are ranked last.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

from .data import Dataset, EvalSet, histories_matrix
from .evaluate import Scorer, evaluate_modes


def log_popularity(item_counts: np.ndarray) -> np.ndarray:
    return np.log1p(np.asarray(item_counts, dtype=np.float64)).astype(np.float32)


class RandomScorer:
    """The floor every baseline should clear."""

    def __init__(self, n_items: int, seed: int = 0):
        self.n_items = n_items
        self.rng = np.random.default_rng(seed)

    def __call__(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        return self.rng.random((len(histories), self.n_items), dtype=np.float32)


class PopularityScorer:
    """Training interactions per item, the same list for everyone."""

    def __init__(self, item_counts: np.ndarray):
        self.scores = log_popularity(item_counts)

    def __call__(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        return np.tile(self.scores, (len(histories), 1))


class RepeatPurchaseScorer:
    """The shopper's own items first (most frequent, then most recent), then the popular ones.

    A strong baseline wherever people re-buy (groceries); with `exclude_seen` it
    falls back to popularity.
    """

    def __init__(self, item_counts: np.ndarray):
        popularity = log_popularity(item_counts)
        self.fallback = popularity / (popularity.max() + 1.0)  # below 1: under any seen item

    def __call__(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        scores = np.tile(self.fallback, (len(histories), 1))
        for row, history in enumerate(histories):
            if not len(history):
                continue
            history = np.asarray(history, dtype=np.int64)
            counts = np.bincount(history, minlength=scores.shape[1])
            last_seen = np.zeros(scores.shape[1])
            last_seen[history] = (np.arange(len(history)) + 1) / len(history)  # later positions overwrite
            seen = counts > 0
            scores[row, seen] = 2.0 + counts[seen] + 0.5 * last_seen[seen]
        return scores


class ItemItemScorer:
    """Scores = history counts @ an item-item matrix; `covered` marks the items it can score."""

    similarity: sparse.csr_matrix | np.ndarray
    covered: np.ndarray

    def __call__(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        scores = self.raw_scores(histories)
        scores[:, ~self.covered] = -np.inf
        return scores

    def raw_scores(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        raise NotImplementedError

    def item_item_matrix(self, neighbours: int) -> sparse.csr_matrix:
        """The similarity in the catalog's index space, `neighbours` strongest per row.

        This is what a saved version stores for its collaborative part.
        """
        raise NotImplementedError


def _keep_top_per_row(matrix: sparse.csr_matrix, neighbours: int) -> sparse.csr_matrix:
    matrix = matrix.tocsr()
    rows, cols, values = [], [], []
    for row in range(matrix.shape[0]):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        row_values = matrix.data[start:end]
        keep = np.argsort(-row_values, kind="stable")[:neighbours]
        rows.append(np.full(len(keep), row))
        cols.append(matrix.indices[start:end][keep])
        values.append(row_values[keep])
    if not rows:
        return sparse.csr_matrix(matrix.shape, dtype=np.float32)
    return sparse.csr_matrix(
        (np.concatenate(values).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))),
        shape=matrix.shape,
    )


class ItemKNNScorer(ItemItemScorer):
    """Item-based kNN: cosine similarity of items' co-occurrence over shoppers, shrunk for rare pairs."""

    def __init__(self, train_user_items: sparse.csr_matrix, *, neighbours: int = 100, shrink: float = 10.0):
        binary = (train_user_items > 0).astype(np.float32).tocsc()
        co_occurrence = (binary.T @ binary).tocsr()
        norms = np.sqrt(co_occurrence.diagonal())
        co_occurrence.setdiag(0)  # an item is not its own neighbour; re-buying is the repeat baseline's job
        co_occurrence.eliminate_zeros()
        coo = co_occurrence.tocoo()
        values = coo.data / (norms[coo.row] * norms[coo.col] + shrink)
        cosine = sparse.csr_matrix((values.astype(np.float32), (coo.row, coo.col)), shape=co_occurrence.shape)
        self.similarity = _keep_top_per_row(cosine, neighbours)
        self.covered = norms > 0

    def raw_scores(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        history_matrix = histories_matrix(histories, self.similarity.shape[0])
        return np.asarray((history_matrix @ self.similarity).todense(), dtype=np.float32)

    def item_item_matrix(self, neighbours: int) -> sparse.csr_matrix:
        return _keep_top_per_row(self.similarity, neighbours)


class EASEScorer(ItemItemScorer):
    """EASE (Steck, 2019): a closed-form item-item regression, B = I - P / diag(P), P = (XᵀX + λI)⁻¹.

    The inverse is dense: n² floats. Only items with training interactions take
    part, and at most `max_items` of the most popular ones (10 000 items: about
    800 MB while fitting); the others are not covered.
    """

    def __init__(self, train_user_items: sparse.csr_matrix, *, l2: float = 500.0, max_items: int = 10_000):
        counts = np.asarray(train_user_items.sum(axis=0)).ravel()
        active = np.flatnonzero(counts > 0)
        if len(active) > max_items:
            active = active[np.argsort(-counts[active], kind="stable")[:max_items]]
            active.sort()
        binary = (train_user_items[:, active] > 0).astype(np.float64)
        gram = np.asarray((binary.T @ binary).todense())
        gram[np.diag_indices_from(gram)] += l2
        precision = np.linalg.inv(gram)
        weights = precision / (-np.diag(precision))
        weights[np.diag_indices_from(weights)] = 0.0
        self.n_items = train_user_items.shape[1]
        self.active = active
        self.similarity = weights.astype(np.float32)
        self.covered = np.zeros(self.n_items, dtype=bool)
        self.covered[active] = True

    def raw_scores(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        history_matrix = histories_matrix(histories, self.n_items)[:, self.active]
        scores = np.zeros((len(histories), self.n_items), dtype=np.float32)
        scores[:, self.active] = history_matrix @ self.similarity
        return scores

    def item_item_matrix(self, neighbours: int) -> sparse.csr_matrix:
        # Prune by magnitude is not right for EASE's signed weights; keep the strongest positive ones,
        # which are what lifts an item for a shopper.
        positive = sparse.csr_matrix(np.where(self.similarity > 0, self.similarity, 0.0))
        pruned = _keep_top_per_row(positive, neighbours).tocoo()
        return sparse.csr_matrix(
            (pruned.data, (self.active[pruned.row], self.active[pruned.col])),
            shape=(self.n_items, self.n_items),
        )


class ALSScorer:
    """Implicit-feedback matrix factorisation (Hu, Koren & Volinsky) from the `implicit` library.

    Shoppers are folded in from their history with `recalculate_user`, so
    shoppers who were not in the training window still get a vector.
    """

    def __init__(
        self,
        train_user_items: sparse.csr_matrix,
        *,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 2.0,
        iterations: int = 15,
        threads: int = 1,
        seed: int = 0,
    ):
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        # implicit asks for single-threaded BLAS (and warns otherwise): its own threads do the parallel work.
        with threadpool_limits(1, "blas"):
            self.model = AlternatingLeastSquares(
                factors=factors,
                regularization=regularization,
                alpha=alpha,
                iterations=iterations,
                num_threads=threads,
                random_state=seed,
            )
            self.model.fit(train_user_items.astype(np.float32).tocsr(), show_progress=False)
        self.n_items = train_user_items.shape[1]
        self.covered = np.asarray(train_user_items.sum(axis=0)).ravel() > 0

    def __call__(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        from threadpoolctl import threadpool_limits

        history_matrix = histories_matrix(histories, self.n_items)
        with threadpool_limits(1, "blas"):
            user_factors = self.model.recalculate_user(np.arange(len(histories)), history_matrix)
        scores = (
            np.asarray(user_factors, dtype=np.float32).reshape(len(histories), -1) @ self.model.item_factors.T
        )
        scores[:, ~self.covered] = -np.inf
        return scores


BASELINES = ("random", "popularity", "repeat_purchase", "item_knn", "ease", "als")


def fit_baselines(
    dataset: Dataset,
    *,
    names: Sequence[str] = BASELINES,
    seed: int = 0,
    ease_l2: float = 500.0,
    ease_max_items: int = 10_000,
) -> dict[str, Scorer]:
    n_items = len(dataset.catalog)
    factories = {
        "random": lambda: RandomScorer(n_items, seed=seed),
        "popularity": lambda: PopularityScorer(dataset.item_counts),
        "repeat_purchase": lambda: RepeatPurchaseScorer(dataset.item_counts),
        "item_knn": lambda: ItemKNNScorer(dataset.train_user_items),
        "ease": lambda: EASEScorer(dataset.train_user_items, l2=ease_l2, max_items=ease_max_items),
        "als": lambda: ALSScorer(dataset.train_user_items, seed=seed),
    }
    unknown = set(names) - set(factories)
    if unknown:
        raise ValueError(f"unknown baseline(s): {', '.join(sorted(unknown))}")
    return {name: factories[name]() for name in names}


def evaluate_baselines(
    dataset: Dataset,
    eval_set: EvalSet,
    *,
    k: int = 10,
    names: Sequence[str] = BASELINES,
    modes: Sequence[str] = ("all_items", "new_items"),
    seed: int = 0,
    baselines: dict[str, Scorer] | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """{baseline: {mode: metrics}} on one window, with the cold-item metrics."""
    baselines = baselines or fit_baselines(dataset, names=names, seed=seed)
    return {
        name: evaluate_modes(
            scorer, eval_set, n_items=len(dataset.catalog), k=k, cold_items=dataset.cold_items, modes=modes
        )
        for name, scorer in baselines.items()
    }
