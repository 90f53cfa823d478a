"""The training loop on the tiny shop with the tiny encoder: learning, early stopping, cancel, resume."""

import time
from pathlib import Path

import numpy as np
import pytest

from training.ml.loop import CheckpointMismatch, TrainingCancelled, train
from training.ml.model import ItemTokens, build_model, encode_items

RANDOM_NDCG = 0.12  # a random ranking of the tiny shop scores about 0.07 on validation


def _mission_gap(model, tokens, shop):
    """cos(coffee, cheese) - cos(coffee, tea): bought together vs never bought together."""
    vectors = encode_items(model, tokens)
    category = np.array([item_id.rsplit("-", 1)[0] for item_id in shop.catalog.item_ids])
    similarity = vectors @ vectors.T
    mean = lambda a, b: similarity[np.ix_(category == a, category == b)].mean()
    return mean("coffee", "cheese") - mean("coffee", "tea")


@pytest.mark.parametrize(("method", "learning_rate"), [("lora", 1e-2), ("full", 3e-4)])
def test_fine_tuning_improves_validation_ndcg_over_the_untrained_model(
    tiny_config, shop, method, learning_rate
):
    config = tiny_config.replace(method=method, learning_rate=learning_rate, epochs=5)
    untrained = build_model(config)
    untrained_gap = _mission_gap(untrained, ItemTokens(shop.catalog.texts, untrained.tokenizer, 16), shop)

    result = train(config, shop)

    epoch_zero = result.history[0]
    assert epoch_zero.epoch == 0 and epoch_zero.train_loss is None
    assert [record.epoch for record in result.history] == [0, 1, 2, 3, 4, 5]
    assert result.best_epoch >= 1
    assert result.best_metric > epoch_zero.validation["ndcg@10"] + 0.02
    assert result.best_metric > RANDOM_NDCG
    assert result.history[-1].train_loss < result.history[1].train_loss
    # What it learned: coffee and cheese, bought together, moved closer than coffee and tea.
    # (By less with the logQ correction, which discounts pairs for being popular: LoRA +0.024.)
    assert _mission_gap(result.model, result.tokens, shop) > untrained_gap + 0.02


def test_returned_model_carries_the_best_epochs_weights(tiny_config, shop):
    result = train(tiny_config.replace(epochs=3), shop)
    from training.ml.loop import _validate
    from training.ml.model import encode_items

    again = _validate(encode_items(result.model, result.tokens), shop, tiny_config)
    assert again["ndcg@10"] == pytest.approx(result.best_metric)


def test_early_stopping_stops_when_validation_stops_improving(tiny_config, shop):
    # A learning rate this small cannot move the validation NDCG: no epoch beats epoch 0.
    config = tiny_config.replace(learning_rate=1e-9, epochs=6, early_stopping_patience=2)
    result = train(config, shop)
    assert [record.epoch for record in result.history] == [0, 1, 2]
    assert result.stopped_early
    assert result.best_epoch == 0


def test_progress_is_reported_every_step_with_an_eta(tiny_config, shop):
    calls = []
    train(tiny_config.replace(epochs=2), shop, progress=lambda *args: calls.append(args))
    steps = [call[0] for call in calls]
    total = calls[0][1]
    assert steps == list(range(1, total + 1))
    assert {call[2] for call in calls} == {1, 2}
    assert all(np.isfinite(call[3]) and call[4] >= 0 for call in calls)


def test_the_eta_counts_the_validations_still_to_come_not_only_the_steps(tiny_config, shop, monkeypatch):
    # On a CPU with a large catalog, encoding it for an epoch's validation outlasts the epoch's steps:
    # an ETA of steps alone said "about 1 s left" for minutes.
    from training.ml import loop

    real_validate = loop._validate

    def slow_validate(*args, **kwargs):
        time.sleep(0.3)
        return real_validate(*args, **kwargs)

    monkeypatch.setattr(loop, "_validate", slow_validate)
    calls = []
    train(tiny_config.replace(epochs=2), shop, progress=lambda *args: calls.append(args))
    first_epoch_last_step = [call for call in calls if call[2] == 1][-1]
    assert first_epoch_last_step[4] >= 0.6  # this epoch's validation and the next one's
    assert calls[-1][4] >= 0.3  # the last epoch's validation


def test_cancel_stops_within_one_step(tiny_config, shop):
    steps = []
    with pytest.raises(TrainingCancelled) as cancelled:
        train(
            tiny_config,
            shop,
            progress=lambda step, *rest: steps.append(step),
            should_cancel=lambda: len(steps) >= 3,
        )
    assert steps == [1, 2, 3]
    assert cancelled.value.step == 3


def test_item_texts_are_tokenised_once(tiny_config, shop, monkeypatch):
    from transformers import PreTrainedTokenizerBase

    texts_tokenised = []
    original = PreTrainedTokenizerBase.__call__
    monkeypatch.setattr(
        PreTrainedTokenizerBase,
        "__call__",
        lambda self, texts, *args, **kwargs: texts_tokenised.append(list(texts)) or original(self, texts, *args, **kwargs),
    )
    train(tiny_config.replace(epochs=2), shop)
    # The catalog once; the category names searched for after each epoch once too.
    assert texts_tokenised.count(shop.catalog.texts) == 1
    assert len(texts_tokenised) == 2


def test_checkpointed_run_resumes_from_its_last_epoch(tiny_config, shop, tmp_path):
    config = tiny_config.replace(epochs=3)
    first_steps = []

    def cancel_in_epoch_two():
        return bool(first_steps) and first_steps[-1][2] == 2

    with pytest.raises(TrainingCancelled) as cancelled:
        train(
            config,
            shop,
            checkpoint_dir=tmp_path,
            should_cancel=cancel_in_epoch_two,
            progress=lambda *args: first_steps.append(args),
        )
    steps_per_epoch = first_steps[-2][0]  # the last step of epoch 1
    assert [record.epoch for record in cancelled.value.history] == [0, 1]

    resumed_steps = []
    resumed = train(config, shop, checkpoint_dir=tmp_path, progress=lambda *args: resumed_steps.append(args))
    assert resumed.resumed_from_epoch == 1
    assert resumed_steps[0][0] == steps_per_epoch + 1  # epoch 1 was not trained again
    assert {args[2] for args in resumed_steps} == {2, 3}
    assert resumed.history[1] == cancelled.value.history[1]

    uninterrupted = train(config, shop)
    assert [r.validation for r in resumed.history] == [r.validation for r in uninterrupted.history]
    assert [r.train_loss for r in resumed.history] == pytest.approx(
        [r.train_loss for r in uninterrupted.history]
    )


def test_a_finished_run_resumes_to_its_result_without_training(tiny_config, shop, tmp_path):
    config = tiny_config.replace(epochs=1)
    first = train(config, shop, checkpoint_dir=tmp_path)
    steps = []
    again = train(config, shop, checkpoint_dir=tmp_path, progress=lambda *args: steps.append(args))
    assert steps == []
    assert again.best_metric == first.best_metric and again.best_epoch == first.best_epoch


def test_a_checkpoint_from_other_settings_is_refused(tiny_config, shop, tmp_path):
    train(tiny_config.replace(epochs=1), shop, checkpoint_dir=tmp_path)
    with pytest.raises(CheckpointMismatch, match="learning_rate"):
        train(tiny_config.replace(epochs=1, learning_rate=1e-3), shop, checkpoint_dir=tmp_path)


def test_each_evaluated_epoch_is_reported_once(tiny_config, shop, tmp_path):
    seen = []
    with pytest.raises(TrainingCancelled):
        train(
            tiny_config.replace(epochs=2),
            shop,
            checkpoint_dir=tmp_path,
            on_epoch=lambda record: seen.append(record.epoch),
            should_cancel=lambda: len(seen) == 2,  # stop at the first step of epoch 2
        )
    result = train(
        tiny_config.replace(epochs=2),
        shop,
        checkpoint_dir=tmp_path,
        on_epoch=lambda record: seen.append(record.epoch),
    )
    assert seen == [0, 1, 2]
    assert seen == [record.epoch for record in result.history]


def test_a_checkpoint_from_other_data_with_the_same_counts_is_refused(tiny_config, shop, tmp_path):
    import dataclasses

    from training.ml.data import Catalog

    train(tiny_config.replace(epochs=1), shop, checkpoint_dir=tmp_path)
    texts = list(shop.catalog.texts)
    texts[0] = texts[0] + " | now organic"  # the merchant edited a title: as many items, other text
    edited = dataclasses.replace(shop, catalog=Catalog(shop.catalog.item_ids, texts, shop.catalog.index))
    with pytest.raises(CheckpointMismatch, match="other data"):
        train(tiny_config.replace(epochs=1), edited, checkpoint_dir=tmp_path)


def test_a_checkpoint_written_before_a_setting_existed_resumes_a_job_read_with_from_stored(
    tiny_config, shop, tmp_path
):
    import torch

    from training.ml.config import TrainConfig

    stored = {**tiny_config.replace(epochs=2, logq_correction=False).to_dict()}
    with pytest.raises(TrainingCancelled):
        seen = []
        train(
            TrainConfig.from_dict(stored),
            shop,
            checkpoint_dir=tmp_path,
            on_epoch=lambda record: seen.append(record.epoch),
            should_cancel=lambda: len(seen) == 2,
        )
    # As the code before logq_correction wrote it: the setting is not in the checkpoint's config.
    checkpoint = torch.load(tmp_path / "last.pt", weights_only=False)
    del checkpoint["config"]["logq_correction"]
    torch.save(checkpoint, tmp_path / "last.pt")
    del stored["logq_correction"]

    resumed = train(TrainConfig.from_stored(stored), shop, checkpoint_dir=tmp_path)
    assert resumed.resumed_from_epoch == 1


def test_a_crash_between_the_best_weights_and_the_checkpoint_leaves_them_in_step(
    tiny_config, shop, tmp_path, monkeypatch
):
    import torch

    from training.ml import loop

    real_write = loop._Checkpoints._write

    def crash_on_epoch_ones_checkpoint(self, name, payload):
        if name == loop.CHECKPOINT and payload["epoch"] == 1:
            raise OSError("the machine went down")
        real_write(self, name, payload)

    monkeypatch.setattr(loop._Checkpoints, "_write", crash_on_epoch_ones_checkpoint)
    with pytest.raises(OSError):
        train(tiny_config.replace(epochs=2), shop, checkpoint_dir=tmp_path)  # epoch 1 is a new best

    checkpoint = torch.load(tmp_path / "last.pt", weights_only=False)
    best = torch.load(tmp_path / checkpoint.get("best_file", "best.pt"), weights_only=False)
    assert checkpoint["epoch"] == 0
    assert best["epoch"] == checkpoint["best_epoch"] == 0


def test_only_the_best_epochs_weights_are_kept_beside_the_checkpoint(tiny_config, shop, tmp_path):
    result = train(tiny_config.replace(epochs=3), shop, checkpoint_dir=tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        f"best-epoch{result.best_epoch}.pt",
        "last.pt",
    ]


def test_a_diverged_epochs_loss_is_recorded_as_missing_not_nan(tiny_config, shop, monkeypatch):
    from training.ml import loop

    monkeypatch.setattr(loop._Run, "train_epoch", lambda *args: float("nan"))
    result = train(tiny_config.replace(epochs=1), shop)
    assert result.history[1].train_loss is None


def test_a_cancel_asked_after_the_last_step_stops_the_evaluation_that_follows(
    tiny_config, shop_interactions, shop_items
):
    from training.ml.pipeline import fine_tune

    steps = []
    with pytest.raises(TrainingCancelled) as cancelled:
        fine_tune(
            tiny_config.replace(epochs=1),
            shop_interactions,
            shop_items,
            progress=lambda *args: steps.append(args),
            should_cancel=lambda: bool(steps) and steps[-1][0] == steps[-1][1],  # asked once training is over
        )
    assert cancelled.value.step == steps[-1][1]


def test_two_writers_of_one_checkpoint_folder_never_share_a_temporary_file(tiny_config, tmp_path, monkeypatch):
    """A worker taken for dead that wakes up writes beside the run that took its job over."""
    from training.ml import loop

    written = []
    real_save = loop.torch.save
    monkeypatch.setattr(loop.torch, "save", lambda payload, path: (written.append(path), real_save(payload, path)))
    first = loop._Checkpoints(tmp_path, tiny_config, {"items": 1})
    second = loop._Checkpoints(tmp_path, tiny_config, {"items": 1})
    first._write("last.pt", {"epoch": 1})
    second._write("last.pt", {"epoch": 2})
    assert len(set(written)) == 2
    assert [path.name for path in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left


def test_a_checkpoint_write_that_fails_leaves_the_previous_one_and_no_temporary_file(
    tiny_config, tmp_path, monkeypatch
):
    from training.ml import loop

    checkpoints = loop._Checkpoints(tmp_path, tiny_config, {"items": 1})
    checkpoints._write("last.pt", {"epoch": 1})

    def disk_full(payload, path):
        Path(path).write_bytes(b"torn")
        raise OSError("No space left on device")

    monkeypatch.setattr(loop.torch, "save", disk_full)
    with pytest.raises(OSError):
        checkpoints._write("last.pt", {"epoch": 2})
    assert [path.name for path in tmp_path.iterdir()] == ["last.pt"]
    assert loop.torch.load(tmp_path / "last.pt")["epoch"] == 1


def test_the_versions_validation_figure_is_the_kept_epochs_own(tiny_model_dir, shop_items, shop_interactions):
    # A learning rate far too high makes the pretrained encoder (epoch 0) the best: the version keeps
    # it, and its validation table must read what the curve read for it, not another precision's figure.
    from tests.training.ml.conftest import tiny_training_settings
    from training.ml.config import TrainConfig
    from training.ml.pipeline import fine_tune

    settings = {**tiny_training_settings(tiny_model_dir, epochs=2), "learning_rate": 0.5}
    metrics = fine_tune(TrainConfig(**settings), shop_interactions, shop_items).metrics
    kept = metrics["epochs"][metrics["best_epoch"]]
    assert metrics["best_epoch"] == 0
    assert metrics["validation"]["content"]["ndcg@10"] == pytest.approx(kept["validation"]["ndcg@10"], abs=1e-12)


def test_each_epoch_and_the_version_say_how_the_encoder_finds_the_category_names(
    tiny_model_dir, shop_items, shop_interactions
):
    from tests.training.ml.conftest import tiny_training_settings
    from training.ml.config import TrainConfig
    from training.ml.pipeline import fine_tune

    metrics = fine_tune(TrainConfig(**tiny_training_settings(tiny_model_dir, epochs=1)), shop_interactions, shop_items).metrics

    searched = [epoch["search"] for epoch in metrics["epochs"]]
    assert len(searched) == 2 and all(0.0 < figure <= 1.0 for figure in searched)
    assert metrics["search"] == {
        "ndcg@10": searched[metrics["best_epoch"]], "pretrained": searched[0], "queries": shop_items["category"].nunique(),
    }


def test_a_catalog_without_categories_has_no_search_figure(tiny_model_dir, shop_items, shop_interactions):
    from tests.training.ml.conftest import tiny_training_settings
    from training.ml.config import TrainConfig
    from training.ml.pipeline import fine_tune

    no_categories = shop_items.assign(category="")
    metrics = fine_tune(TrainConfig(**tiny_training_settings(tiny_model_dir, epochs=1)), shop_interactions, no_categories).metrics

    assert metrics["search"] is None and metrics["epochs"][0]["search"] is None
