"""From raw interactions and items to a time split, training examples and evaluation sets.

Inputs are plain pandas frames:
- interactions: user_id, item_id, timestamp (datetime or number), optional event_type;
- items: item_id, title, category, brand, description (missing text is fine).

Every item is addressed by its index in `Catalog.item_ids`; histories and
targets below are lists of those indices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

TEXT_FIELDS = ("title", "category", "brand", "description")


class DataError(ValueError):
    """The data cannot be trained on, with the reason in words a merchant understands.

    `code` and `params` let a caller say it in the merchant's language (as ConfigError's do).
    """

    def __init__(self, reason: str, code: str = "", **params: Any):
        super().__init__(reason)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Catalog:
    item_ids: list[Any]
    texts: list[str]
    index: dict[Any, int] = field(repr=False)
    # Each item's category path ("" when it has none): the queries search is measured with.
    categories: list[str] = field(default_factory=list, repr=False)

    def __len__(self) -> int:
        return len(self.item_ids)

    def indices(self, item_ids: Sequence[Any]) -> list[int]:
        """Catalog indices of the given ids; ids the catalog does not know are skipped."""
        return [self.index[item_id] for item_id in item_ids if item_id in self.index]


def item_text(row: dict[str, Any]) -> str:
    """ "title | category | brand | description", leaving out empty parts; the model truncates by tokens."""
    parts = []
    for name in TEXT_FIELDS:
        value = row.get(name)
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        value = " ".join(str(value).split())
        if value:
            parts.append(value)
    return " | ".join(parts)


def build_catalog(items: pd.DataFrame) -> Catalog:
    if "item_id" not in items.columns:
        raise DataError("the items have no item_id column", "missing_columns", columns="item_id")
    if items["item_id"].duplicated().any():
        duplicated = items.loc[items["item_id"].duplicated(), "item_id"].iloc[0]
        raise DataError(f"item {duplicated!r} appears twice in the items", "duplicate_item", item=str(duplicated))
    if items.empty:
        raise DataError("the catalog is empty", "empty_catalog")
    records = items.to_dict("records")
    item_ids = [record["item_id"] for record in records]
    texts = [item_text(record) for record in records]
    categories = [
        "" if not isinstance(record.get("category"), str) else record["category"] for record in records
    ]
    return Catalog(
        item_ids=item_ids, texts=texts, index={item_id: i for i, item_id in enumerate(item_ids)},
        categories=categories,
    )


def prepare_interactions(interactions: pd.DataFrame, catalog: Catalog) -> pd.DataFrame:
    """Columns user_id, item (catalog index), timestamp, sorted by time.

    Interactions with items the catalog does not know, and exact duplicates, are dropped.
    """
    missing = {"user_id", "item_id", "timestamp"} - set(interactions.columns)
    if missing:
        columns = ", ".join(sorted(missing))
        raise DataError(f"the interactions lack the column(s) {columns}", "missing_columns", columns=columns)
    frame = interactions[["user_id", "item_id", "timestamp"]].copy()
    frame["item"] = frame["item_id"].map(catalog.index)
    frame = frame.dropna(subset=["item", "timestamp", "user_id"])
    frame["item"] = frame["item"].astype(np.int64)
    frame = frame.drop_duplicates(["user_id", "item", "timestamp"])
    # A stable sort keeps the input order of events with the same timestamp (a basket).
    frame = frame.sort_values("timestamp", kind="stable").reset_index(drop=True)
    if frame.empty:
        raise DataError("no interaction refers to an item in the catalog", "no_known_items")
    return frame[["user_id", "item", "timestamp"]]


@dataclass(frozen=True)
class TimeSplit:
    """Three windows cut at two global times.

    train < validation_cutoff <= validation < test_cutoff <= test
    """

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    validation_cutoff: Any
    test_cutoff: Any


def split_by_time(
    interactions: pd.DataFrame, *, validation_fraction: float = 0.1, test_fraction: float = 0.1
) -> TimeSplit:
    """Cut by time where the interactions run out: the last `test_fraction` of them (in time
    order) is test, the `validation_fraction` before it validation.

    The cutoffs are global (the same instant for every shopper), so nothing the
    model trains on happened after anything it is evaluated on. They are placed by
    counting interactions, not by cutting the calendar: a store whose history has a
    gap (a year-old import, then live events) would otherwise get windows that fall
    in the gap, empty. Interactions at a cutoff's instant go to the later window.
    """
    timestamps = interactions["timestamp"]
    if timestamps.min() == timestamps.max():
        raise DataError("all interactions happened at the same time: there is nothing to split", "one_moment")
    ordered = timestamps.sort_values(kind="stable").reset_index(drop=True)

    def first_after(fraction_before: float):
        # The instant of the first interaction past that share of them (1e-9: 0.8 * 10 is 7.99...).
        return ordered.iloc[min(int(len(ordered) * fraction_before + 1e-9), len(ordered) - 1)]

    test_cutoff = first_after(1 - test_fraction)
    validation_cutoff = first_after(1 - test_fraction - validation_fraction)
    train = interactions[timestamps < validation_cutoff]
    validation = interactions[(timestamps >= validation_cutoff) & (timestamps < test_cutoff)]
    test = interactions[timestamps >= test_cutoff]
    for name, window in (("training", train), ("validation", validation), ("test", test)):
        if window.empty:
            raise DataError(
                f"the {name} window has no interactions; the history is too short or too uneven",
                f"empty_{name}_window",
            )
    return TimeSplit(
        train=train.reset_index(drop=True),
        validation=validation.reset_index(drop=True),
        test=test.reset_index(drop=True),
        validation_cutoff=validation_cutoff,
        test_cutoff=test_cutoff,
    )


def user_histories(interactions: pd.DataFrame) -> dict[Any, list[int]]:
    """Each shopper's items in time order (the frame is sorted by time)."""
    return {user: list(items) for user, items in interactions.groupby("user_id", sort=False)["item"]}


@dataclass(frozen=True)
class EvalSet:
    """The shoppers active in one window: what they did before it, and what they did in it.

    `histories[u]` is everything shopper u did before the window (time order);
    `targets[u]` the distinct items of the window. With `exclude_seen`, the
    evaluator removes the history's items from the ranking and from the targets.
    """

    user_ids: list[Any]
    histories: list[list[int]]
    targets: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.user_ids)


def build_eval_set(before: pd.DataFrame, window: pd.DataFrame) -> EvalSet:
    histories = user_histories(before)
    user_ids, user_histories_, targets = [], [], []
    for user, items in window.groupby("user_id", sort=True)["item"]:
        user_ids.append(user)
        user_histories_.append(histories.get(user, []))
        targets.append(np.unique(np.asarray(items, dtype=np.int64)))
    return EvalSet(user_ids=user_ids, histories=user_histories_, targets=targets)


@dataclass(frozen=True)
class Dataset:
    """Everything a training run and its evaluation read, built once from the raw frames."""

    catalog: Catalog
    split: TimeSplit
    train_users: list[Any]
    train_user_items: sparse.csr_matrix  # (train users, items): interaction counts in the training window
    validation: EvalSet  # history: training window; targets: validation window
    test: EvalSet  # history: training and validation windows; targets: test window

    @property
    def item_counts(self) -> np.ndarray:
        """Training interactions per item: the popularity prior and the warm/cold divide."""
        return np.asarray(self.train_user_items.sum(axis=0)).ravel()

    @property
    def cold_items(self) -> np.ndarray:
        """Indices of items with no training interaction: only their text speaks for them."""
        return np.flatnonzero(self.item_counts == 0)


def user_item_matrix(interactions: pd.DataFrame, n_items: int) -> tuple[list[Any], sparse.csr_matrix]:
    codes, users = pd.factorize(interactions["user_id"], sort=True)
    matrix = sparse.csr_matrix(
        (np.ones(len(codes), dtype=np.float32), (codes, interactions["item"].to_numpy())),
        shape=(len(users), n_items),
    )
    matrix.sum_duplicates()
    return list(users), matrix


def prepare_dataset(
    interactions: pd.DataFrame,
    items: pd.DataFrame,
    *,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> Dataset:
    catalog = build_catalog(items)
    frame = prepare_interactions(interactions, catalog)
    split = split_by_time(frame, validation_fraction=validation_fraction, test_fraction=test_fraction)
    train_users, train_user_items = user_item_matrix(split.train, len(catalog))
    return Dataset(
        catalog=catalog,
        split=split,
        train_users=train_users,
        train_user_items=train_user_items,
        validation=build_eval_set(split.train, split.validation),
        test=build_eval_set(pd.concat([split.train, split.validation]), split.test),
    )


def histories_matrix(histories: Sequence[Sequence[int]], n_items: int) -> sparse.csr_matrix:
    """(users, items) counts of each history: how the collaborative scorers see a shopper."""
    rows = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
    cols = np.fromiter((item for h in histories for item in h), dtype=np.int64, count=len(rows))
    matrix = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(histories), n_items)
    )
    matrix.sum_duplicates()
    return matrix


@dataclass(frozen=True)
class TrainingExamples:
    """(recent history, next item) pairs from the training window.

    One pair per interaction after a shopper's first.
    """

    histories: list[list[int]]
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.targets)


def training_examples(train: pd.DataFrame, history_length: int) -> TrainingExamples:
    histories, targets = [], []
    for sequence in user_histories(train).values():
        for position in range(1, len(sequence)):
            histories.append(sequence[max(0, position - history_length) : position])
            targets.append(sequence[position])
    if not targets:
        raise DataError(
            "no shopper has two interactions in the training window: there is nothing to learn from",
            "nothing_to_learn",
        )
    return TrainingExamples(histories=histories, targets=np.asarray(targets, dtype=np.int64))
