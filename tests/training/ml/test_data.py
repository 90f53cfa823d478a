import numpy as np
import pandas as pd
import pytest

from training.ml.data import (
    DataError,
    build_catalog,
    build_eval_set,
    item_text,
    prepare_dataset,
    prepare_interactions,
    split_by_time,
    training_examples,
)


def test_item_text_joins_the_fields_and_skips_empty_ones():
    assert (
        item_text(
            {"title": "Dark roast", "category": "coffee", "brand": "Bean Co", "description": "rich  aroma"}
        )
        == "Dark roast | coffee | Bean Co | rich aroma"
    )
    assert item_text({"title": "Brie", "category": None, "brand": float("nan"), "description": ""}) == "Brie"


def test_time_split_leaks_nothing(shop):
    split = shop.split
    assert split.train["timestamp"].max() < split.validation_cutoff <= split.validation["timestamp"].min()
    assert split.validation["timestamp"].max() < split.test_cutoff <= split.test["timestamp"].min()
    assert len(split.train) + len(split.validation) + len(split.test) > 0
    # The cutoffs are global instants: about the last 10 % of the interactions is test, the 10 %
    # before it validation (ties at a cutoff go to the later window).
    total = len(split.train) + len(split.validation) + len(split.test)
    assert len(split.test) >= total * 0.1 > len(split.test) - (split.test["timestamp"] == split.test_cutoff).sum()
    assert len(split.validation) + len(split.test) >= total * 0.2


def test_split_keeps_every_interaction_once():
    frame = pd.DataFrame({"user_id": ["u"] * 11, "item": range(11), "timestamp": np.arange(11.0)})
    split = split_by_time(frame, validation_fraction=0.1, test_fraction=0.1)
    assert (split.validation_cutoff, split.test_cutoff) == (8.0, 9.0)
    assert split.train["item"].tolist() == list(range(8))
    assert split.validation["item"].tolist() == [8]
    assert split.test["item"].tolist() == [9, 10]


def test_a_gap_in_the_history_does_not_empty_a_window():
    """A year-old import, then a few live events: cutting the calendar would put the validation
    window in the gap. Counting interactions puts it where they are."""
    old = pd.date_range("2017-01-01", periods=1000, freq="h")
    recent = pd.date_range("2026-11-30", periods=5, freq="min")
    frame = pd.DataFrame({
        "user_id": ["u"] * 1005, "item": range(1005), "timestamp": old.append(recent),
    })
    split = split_by_time(frame, validation_fraction=0.1, test_fraction=0.1)
    assert (len(split.train), len(split.validation), len(split.test)) == (804, 100, 101)
    assert split.train["timestamp"].max() < split.validation_cutoff <= split.validation["timestamp"].min()
    assert split.validation["timestamp"].max() < split.test_cutoff <= split.test["timestamp"].min()


def test_split_refuses_an_empty_window():
    frame = pd.DataFrame({"user_id": ["u"] * 3, "item": [0, 1, 2], "timestamp": [0.0, 0.1, 10.0]})
    with pytest.raises(DataError, match="validation window"):
        split_by_time(frame, validation_fraction=0.1, test_fraction=0.1)


def test_evaluation_histories_end_before_the_window(shop):
    train_users = set(shop.split.train["user_id"])
    before_test = pd.concat([shop.split.train, shop.split.validation])
    for user, history, targets in zip(shop.test.user_ids, shop.test.histories, shop.test.targets):
        assert history == before_test.loc[before_test["user_id"] == user, "item"].tolist()
        window = shop.split.test.loc[shop.split.test["user_id"] == user, "item"]
        assert sorted(targets.tolist()) == sorted(set(window))
    for user, history in zip(shop.validation.user_ids, shop.validation.histories):
        assert history == shop.split.train.loc[shop.split.train["user_id"] == user, "item"].tolist()
        assert history or user not in train_users


def test_histories_are_in_time_order():
    catalog = build_catalog(pd.DataFrame({"item_id": ["a", "b", "c"], "title": ["A", "B", "C"]}))
    raw = pd.DataFrame(
        {"user_id": [1, 1, 1, 1], "item_id": ["c", "a", "b", "zzz"], "timestamp": [3.0, 1.0, 2.0, 0.0]}
    )
    frame = prepare_interactions(raw, catalog)  # the unknown item "zzz" is dropped
    eval_set = build_eval_set(frame[frame["timestamp"] < 3], frame[frame["timestamp"] >= 3])
    assert eval_set.histories == [[0, 1]]
    assert eval_set.targets[0].tolist() == [2]


def test_training_examples_come_from_the_training_window_only(shop):
    examples = training_examples(shop.split.train, history_length=3)
    per_user = shop.split.train.groupby("user_id").size()
    assert len(examples) == int((per_user - 1).clip(lower=0).sum())
    assert all(1 <= len(history) <= 3 for history in examples.histories)


def test_cold_items_have_no_training_interaction(shop):
    cold = set(shop.cold_items.tolist())
    assert cold  # the tiny shop launches two items per category in the test window
    assert cold.isdisjoint(set(shop.split.train["item"]))
    assert cold & set(shop.split.test["item"])


def test_dataset_rejects_data_without_the_needed_columns(shop_items):
    with pytest.raises(DataError, match="timestamp"):
        prepare_dataset(pd.DataFrame({"user_id": [1], "item_id": ["coffee-0"]}), shop_items)


@pytest.mark.parametrize(
    "interactions_then_items",
    [
        "duplicate item",
        "empty catalog",
        "no known items",
        "one moment",
        "empty validation window",
        "nothing to learn",
    ],
)
def test_each_reason_the_data_cannot_be_trained_on_has_a_code(interactions_then_items):
    from training.ml.data import DataError, prepare_dataset, training_examples

    def at(day):
        return pd.Timestamp("2025-01-01") + pd.Timedelta(days=day)

    items = pd.DataFrame({"item_id": ["a", "b"], "title": ["A", "B"]})
    rows = [("u1", "a", at(0)), ("u2", "b", at(5)), ("u1", "b", at(95)), ("u2", "a", at(100))]
    case = {
        "duplicate item": (
            rows,
            pd.DataFrame({"item_id": ["a", "a"], "title": ["A", "A2"]}),
            "duplicate_item",
        ),
        "empty catalog": (rows, items.iloc[:0], "empty_catalog"),
        "no known items": ([("u1", "z", at(0))], items, "no_known_items"),
        "one moment": ([("u1", "a", at(0)), ("u2", "b", at(0))], items, "one_moment"),
        "empty validation window": (rows, items, "empty_validation_window"),
        "nothing to learn": (None, items, "nothing_to_learn"),
    }[interactions_then_items]
    rows, items, code = case
    with pytest.raises(DataError) as refused:
        if rows is None:  # one interaction each: no (history, next item) pair
            training_examples(
                pd.DataFrame({"user_id": ["u1", "u2"], "item": [0, 1], "timestamp": [at(0), at(1)]}), 20
            )
        else:
            frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
            prepare_dataset(frame, items, validation_fraction=0.1, test_fraction=0.1)
    assert refused.value.code == code
