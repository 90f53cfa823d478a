"""Scoring shoppers from stored item embeddings: the content scorer and the hybrid blend.

Plain numpy: a loaded model version scores shoppers without running the encoder.
A shopper's vector is the recency-weighted mean of their last `history_length`
item embeddings, L2-normalised (the training loop uses the same rule in torch),
and an item's content score is its cosine with that vector.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy import sparse

from .data import EvalSet, histories_matrix
from .evaluate import evaluate_score_matrix


def recency_weights(length: int, decay: float) -> np.ndarray:
    """Weights of a history, oldest first: the newest item weighs 1, the one before `decay`, and so on."""
    return decay ** np.arange(length - 1, -1, -1, dtype=np.float64)


def user_vectors(
    histories: Sequence[Sequence[int]],
    item_embeddings: np.ndarray,
    *,
    history_length: int,
    recency_decay: float,
) -> np.ndarray:
    """(shoppers, dim) unit vectors; a shopper with no history gets the zero vector (scores all 0)."""
    vectors = np.zeros((len(histories), item_embeddings.shape[1]), dtype=np.float32)
    for row, history in enumerate(histories):
        recent = np.asarray(history[-history_length:], dtype=np.int64)
        if len(recent) == 0:
            continue
        vector = recency_weights(len(recent), recency_decay) @ item_embeddings[recent]
        norm = np.linalg.norm(vector)
        if norm > 0:
            vectors[row] = vector / norm
    return vectors


class ContentScorer:
    """Cosine between the shopper's vector and every item's embedding."""

    def __init__(self, item_embeddings: np.ndarray, *, history_length: int, recency_decay: float):
        self.item_embeddings = np.asarray(item_embeddings, dtype=np.float32)
        self.history_length = history_length
        self.recency_decay = recency_decay

    def __call__(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        vectors = user_vectors(
            histories,
            self.item_embeddings,
            history_length=self.history_length,
            recency_decay=self.recency_decay,
        )
        return vectors @ self.item_embeddings.T


@dataclass(frozen=True)
class BlendWeights:
    content: float = 1.0
    collaborative: float = 0.0
    popularity: float = 0.0
    # The shopper's own items (re-buying). Versions saved before these existed load with 0.
    repeat: float = 0.0  # how many times, the most recent breaking ties
    frequency: float = 0.0  # how many times, older times fading (see buy_again_scores)
    recency: float = 0.0  # how long ago the last time was


# Ranking ignores the scale of the blend, so content is fixed at 1, plus a few
# collaborative-only points for catalogs whose text says little.
DEFAULT_GRID = tuple(
    [
        BlendWeights(1.0, c, p)
        for c, p in itertools.product((0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0), (0.0, 0.1, 0.25, 0.5))
    ]
    + [BlendWeights(0.0, 1.0, p) for p in (0.0, 0.1, 0.25, 0.5)]
)
# Buy-again weights are relative to the sum of the other weights (the blend's scale), and
# small because their z-scores are large: a shopper's few own items stand far above the
# catalog's mean (about sqrt(items / own items) standard deviations), so in a catalog of
# thousands 0.05 already lifts them by a few points and 1.0 puts them all first, as
# re-buying stores (groceries) want (4.0 does it in a small catalog); 0 leaves them to the
# other signals.
REPEAT_GRID = (0.0, 0.05, 0.25, 1.0, 4.0)
# (repeat, frequency, recency): the plain count alone, or the fading count with some
# recency. Groceries' buy-again lists are better ordered by what a shopper buys lately
# than by what they bought most over the year (on The Complete Journey, +3-4% NDCG@10 on
# the validation and on the test window, measured with bench/quality.py's split).
BUY_AGAIN_GRID = tuple(
    [(repeat, 0.0, 0.0) for repeat in REPEAT_GRID]
    + [
        (0.0, frequency, recency)
        for frequency, recency in itertools.product((0.05, 0.25, 1.0, 4.0), (0.0, 0.05, 0.25, 1.0))
    ]
)
# The buy-again signals read a shopper's newest BUY_AGAIN_WINDOW items, about what serving
# reads of a shopper's events (recommendations/selectors/shoppers.py), so what validation
# measures is what the storefront gets; a time counts half every FREQUENCY_HALF_LIFE later
# items (a grocery household buys about 700 lines a year: half weight after four months).
BUY_AGAIN_WINDOW = 500
FREQUENCY_HALF_LIFE = 230.0


def repeat_scores(histories: Sequence[Sequence[int]], n_items: int, recency_decay: float) -> np.ndarray:
    """(shoppers, items): how much each shopper had each item, recent times weighing more.

    Each occurrence in the history adds 1 plus its recency weight (the newest 1, the one before
    `recency_decay`...): the most frequent items first and, among equals, the most recent, the
    order of the repeat-purchase baseline.
    """
    scores = np.zeros((len(histories), n_items), dtype=np.float32)
    for row, history in enumerate(histories):
        if len(history):
            items = np.asarray(history, dtype=np.int64)
            np.add.at(scores[row], items, 1.0 + recency_weights(len(items), recency_decay))
    return scores


def buy_again_scores(
    histories: Sequence[Sequence[int]],
    n_items: int,
    *,
    window: int = BUY_AGAIN_WINDOW,
    half_life: float = FREQUENCY_HALF_LIFE,
) -> tuple[np.ndarray, np.ndarray]:
    """(frequency, recency), each (shoppers, items), over each shopper's newest `window` items.

    An item's age is how many items came after it (the newest: 0). Frequency is
    log(1 + sum of 2^(-age / half_life)) over the times the shopper had the item; recency is
    1 - age / window of the last time. Items outside the window score 0 in both.
    """
    frequency = np.zeros((len(histories), n_items), dtype=np.float32)
    recency = np.zeros((len(histories), n_items), dtype=np.float32)
    for row, history in enumerate(histories):
        recent = np.asarray(history[-window:], dtype=np.int64)
        if not len(recent):
            continue
        ages = np.arange(len(recent) - 1, -1, -1, dtype=np.float64)
        np.add.at(frequency[row], recent, np.exp2(-ages / half_life))
        recency[row, recent] = 1.0 - ages / window  # oldest first: the last time is written last
    return np.log1p(frequency), recency


def content_neighbours(
    item_embeddings: np.ndarray, covered: np.ndarray, neighbours: int, chunk: int = 1024
) -> sparse.csr_matrix:
    """(items, items): row i, for an item outside `covered`, holds cosine weights (summing to 1)
    of its `neighbours` most similar covered items; rows of covered items are empty."""
    n_items = len(item_embeddings)
    warm, cold = np.flatnonzero(covered), np.flatnonzero(~covered)
    if len(warm) == 0 or len(cold) == 0 or neighbours < 1:
        return sparse.csr_matrix((n_items, n_items), dtype=np.float32)
    count = min(neighbours, len(warm))
    rows, cols, values = [], [], []
    for start in range(0, len(cold), chunk):  # in chunks: a full cold x warm matrix can be large
        block = cold[start : start + chunk]
        similarity = item_embeddings[block] @ item_embeddings[warm].T
        nearest = np.argpartition(-similarity, count - 1, axis=1)[:, :count]
        weights = np.take_along_axis(similarity, nearest, axis=1).clip(min=0)
        totals = weights.sum(axis=1, keepdims=True)
        weights = np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0)
        rows.append(np.repeat(block, count))
        cols.append(warm[nearest].ravel())
        values.append(weights.ravel())
    return sparse.csr_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(n_items, n_items)
    )


class Components(NamedTuple):
    """The standardised scores the blend weighs, each (shoppers, items)."""

    content: np.ndarray
    collaborative: np.ndarray
    popularity: np.ndarray
    repeat: np.ndarray | None  # the buy-again signals: None where their weight is 0
    frequency: np.ndarray | None
    recency: np.ndarray | None


def _standardise(values: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
    """Per row (shopper): z-scores over `columns` (all when None); the other columns get 0, the mean."""
    out = np.zeros_like(values, dtype=np.float32)
    part = values if columns is None else values[:, columns]
    if part.shape[1] == 0:
        return out
    std = part.std(axis=1, keepdims=True)
    z = (part - part.mean(axis=1, keepdims=True)) / np.where(std > 0, std, 1.0)
    if columns is None:
        out[:] = z
    else:
        out[:, columns] = z
    return out


class HybridScorer:
    """Content score blended with a collaborative score, a log-popularity prior and the
    buy-again signals of the shopper's own items (repeat, frequency, recency).

    Each component is standardised per shopper (z-scores), so the weights mean
    the same thing for every shopper and every catalog.

    Cold items. The collaborative and popularity components only exist for
    warm items (those with training interactions). Giving a cold item a raw 0
    for them would bury it under every warm item. Instead:
    - popularity: a cold item gets the warm items' mean, 0 after standardising;
    - collaborative: a cold item borrows the standardised collaborative scores
      of its nearest warm items by content (cosine-weighted mean of
      `cold_neighbours` of them): what this shopper's behaviour says about
      items like it. With no warm neighbour that is the mean, 0.
    So a cold item is scored from its content alone: its own content score and
    what its content neighbours earned, neither pushed to the bottom nor lifted
    above the warm items that behaviour vouches for.
    """

    def __init__(
        self,
        *,
        item_embeddings: np.ndarray,
        item_counts: np.ndarray,
        collaborative: sparse.csr_matrix,
        collaborative_items: np.ndarray,
        weights: BlendWeights = BlendWeights(),
        history_length: int = 20,
        recency_decay: float = 0.8,
        cold_neighbours: int = 10,
        buy_again_window: int = BUY_AGAIN_WINDOW,
        frequency_half_life: float = FREQUENCY_HALF_LIFE,
    ):
        self.content = ContentScorer(
            item_embeddings, history_length=history_length, recency_decay=recency_decay
        )
        self.item_counts = np.asarray(item_counts, dtype=np.float32)
        self.collaborative = sparse.csr_matrix(collaborative, dtype=np.float32)
        self.collaborative_items = np.flatnonzero(np.asarray(collaborative_items, dtype=bool))
        self.warm_items = np.flatnonzero(self.item_counts > 0)
        popularity = np.log1p(self.item_counts)[None, :]
        self.popularity = _standardise(popularity, self.warm_items)[0]
        self.weights = weights
        self.cold_neighbour_count = cold_neighbours
        self.buy_again_window = buy_again_window
        self.frequency_half_life = frequency_half_life
        self.cold_neighbours = content_neighbours(
            self.item_embeddings, np.asarray(collaborative_items, dtype=bool), cold_neighbours
        )

    @property
    def item_embeddings(self) -> np.ndarray:
        return self.content.item_embeddings

    @property
    def n_items(self) -> int:
        return self.item_embeddings.shape[0]

    def with_items(self, extra_embeddings: np.ndarray) -> HybridScorer:
        """This scorer over its items plus `extra_embeddings` (items added after training), appended last.

        The new items have no interactions, so they are cold items like any
        other (see the class docstring): scored by their content, and by what
        their content neighbours earned from behaviour.
        """
        extra = np.asarray(extra_embeddings, dtype=np.float32).reshape(-1, self.item_embeddings.shape[1])
        n_items = self.n_items + len(extra)
        collaborative = self.collaborative.copy()
        collaborative.resize((n_items, n_items))
        collaborative_items = np.zeros(n_items, dtype=bool)
        collaborative_items[self.collaborative_items] = True
        return HybridScorer(
            item_embeddings=np.concatenate([self.item_embeddings, extra]),
            item_counts=np.concatenate([self.item_counts, np.zeros(len(extra), dtype=np.float32)]),
            collaborative=collaborative,
            collaborative_items=collaborative_items,
            weights=self.weights,
            history_length=self.content.history_length,
            recency_decay=self.content.recency_decay,
            cold_neighbours=self.cold_neighbour_count,
            buy_again_window=self.buy_again_window,
            frequency_half_life=self.frequency_half_life,
        )

    def components(self, histories: Sequence[Sequence[int]], *, every: bool = False) -> Components:
        """The standardised scores of `histories`, each (shoppers, items).

        A buy-again signal whose weight is 0 is None (it would be multiplied by 0),
        unless `every` (choosing the weights needs them all).
        """
        content = _standardise(self.content(histories))
        raw_collaborative = np.asarray(
            (histories_matrix(histories, self.n_items) @ self.collaborative).todense()
        )
        collaborative = _standardise(raw_collaborative, self.collaborative_items)
        # Rows of the neighbour matrix are empty for covered items: only the uncovered columns change.
        collaborative += np.asarray(self.cold_neighbours @ collaborative.T).T
        popularity = np.broadcast_to(self.popularity, content.shape)
        repeat = frequency = recency = None
        if self.weights.repeat or every:
            repeat = _standardise(repeat_scores(histories, self.n_items, self.content.recency_decay))
        if self.weights.frequency or self.weights.recency or every:
            raw_frequency, raw_recency = buy_again_scores(
                histories, self.n_items, window=self.buy_again_window, half_life=self.frequency_half_life
            )
            frequency, recency = _standardise(raw_frequency), _standardise(raw_recency)
        return Components(content, collaborative, popularity, repeat, frequency, recency)

    def __call__(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        return _blend(self.components(histories), self.weights)

    @classmethod
    def fit(
        cls,
        *,
        item_embeddings: np.ndarray,
        item_counts: np.ndarray,
        collaborative: sparse.csr_matrix,
        collaborative_items: np.ndarray,
        validation: EvalSet,
        history_length: int,
        recency_decay: float,
        k: int = 10,
        exclude_seen: bool = False,
        grid: Sequence[BlendWeights] = DEFAULT_GRID,
        buy_again_grid: Sequence[tuple[float, float, float]] = BUY_AGAIN_GRID,
        max_cells: int = 20_000_000,
        seed: int = 0,
    ) -> tuple[HybridScorer, list[dict]]:
        """Choose the blend weights by NDCG@k on the validation window (a small grid search).

        In two stages:
        1. content, collaborative and popularity, without the buy-again signals, measured on
           the items each shopper had not had before (their earlier items left out of the
           ranking and the targets). Ranking what a shopper has not bought is these weights'
           whole job: the buy-again signals are 0 for every such item, so a re-buy never
           decides them. Measured on every item instead, they would be chosen for lifting the
           shopper's own items (their content look-alikes, their co-bought items), which the
           buy-again signals do better, and would rank new items worse.
        2. the buy-again weights (repeat, frequency, recency) on top of them, measured on
           every item (or on new items only where `exclude_seen`), all 0 unless re-buying
           helps. A triple of the grid is multiplied by the sum of the first stage's weights,
           so it means the same against a blend of any scale.

        Returns the scorer and every evaluated point's results, each with the task it was
        measured on. The shoppers are subsampled so that each component matrix stays under
        `max_cells` cells.
        """
        scorer = cls(
            item_embeddings=item_embeddings,
            item_counts=item_counts,
            collaborative=collaborative,
            collaborative_items=collaborative_items,
            history_length=history_length,
            recency_decay=recency_decay,
        )
        sample = _subsample(validation, max(100, max_cells // scorer.n_items), seed)
        components = scorer.components(sample.histories, every=True)
        results = []

        def best_of(candidates: Sequence[BlendWeights], *, new_items: bool) -> BlendWeights:
            scored = []
            for weights in candidates:
                metrics = evaluate_score_matrix(
                    _blend(components, weights), sample, k=k, exclude_seen=new_items
                )
                scored.append(metrics[f"ndcg@{k}"])
                results.append(
                    {
                        "weights": asdict(weights),
                        "task": "new_items" if new_items else "all_items",
                        f"ndcg@{k}": metrics[f"ndcg@{k}"],
                    }
                )
            best = max(range(len(candidates)), key=lambda i: (scored[i], -i))  # first of equals wins
            return candidates[best]

        no_buy_again = {"repeat": 0.0, "frequency": 0.0, "recency": 0.0}
        first = best_of([replace(weights, **no_buy_again) for weights in grid], new_items=True)
        scale = first.content + first.collaborative + first.popularity
        # No buy-again first, so that it wins the ties: where buying again does not help.
        triples = [(0.0, 0.0, 0.0), *(triple for triple in dict.fromkeys(buy_again_grid) if any(triple))]
        scorer.weights = best_of(
            [replace(first, repeat=scale * r, frequency=scale * f, recency=scale * c) for r, f, c in triples],
            new_items=exclude_seen,
        )
        return scorer, results

    def save(self, folder: Path) -> None:
        """Writes item_embeddings.npy (float16), item_counts.npy, collaborative.npz and scorer.json."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "item_embeddings.npy", self.item_embeddings.astype(np.float16))
        np.save(folder / "item_counts.npy", self.item_counts)
        collaborative_items = np.zeros(self.n_items, dtype=bool)
        collaborative_items[self.collaborative_items] = True
        np.save(folder / "collaborative_items.npy", collaborative_items)
        sparse.save_npz(folder / "collaborative.npz", self.collaborative, compressed=True)
        (folder / "scorer.json").write_text(
            json.dumps(
                {
                    "weights": asdict(self.weights),
                    "history_length": self.content.history_length,
                    "recency_decay": self.content.recency_decay,
                    "buy_again_window": self.buy_again_window,
                    "frequency_half_life": self.frequency_half_life,
                },
                indent=2,
            )
        )

    @classmethod
    def load(cls, folder: Path) -> HybridScorer:
        folder = Path(folder)
        state = json.loads((folder / "scorer.json").read_text())
        return cls(
            item_embeddings=np.load(folder / "item_embeddings.npy").astype(np.float32),
            item_counts=np.load(folder / "item_counts.npy"),
            collaborative=sparse.load_npz(folder / "collaborative.npz").tocsr(),
            collaborative_items=np.load(folder / "collaborative_items.npy"),
            weights=BlendWeights(**state["weights"]),
            history_length=state["history_length"],
            recency_decay=state["recency_decay"],
            # Versions saved before the frequency and recency weights lack these, and weigh them 0.
            buy_again_window=state.get("buy_again_window", BUY_AGAIN_WINDOW),
            frequency_half_life=state.get("frequency_half_life", FREQUENCY_HALF_LIFE),
        )


def _blend(components: Components, weights: BlendWeights) -> np.ndarray:
    blend = (
        weights.content * components.content
        + weights.collaborative * components.collaborative
        + weights.popularity * components.popularity
    )
    for name in ("repeat", "frequency", "recency"):
        weight = getattr(weights, name)
        if weight:
            blend = blend + weight * getattr(components, name)
    return blend


def _subsample(eval_set: EvalSet, max_users: int, seed: int) -> EvalSet:
    if len(eval_set) <= max_users:
        return eval_set
    rows = np.sort(np.random.default_rng(seed).choice(len(eval_set), size=max_users, replace=False))
    return EvalSet(
        user_ids=[eval_set.user_ids[i] for i in rows],
        histories=[eval_set.histories[i] for i in rows],
        targets=[eval_set.targets[i] for i in rows],
    )
