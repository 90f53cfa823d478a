import dataclasses
import json
from pathlib import Path

import pytest

from training.ml.config import ConfigError, TrainConfig


def test_default_base_model_is_the_packaged_minilm_folder():
    folder = Path(TrainConfig().base_model)
    assert (folder / "config.json").is_file()
    assert json.loads((folder / "config.json").read_text())["hidden_size"] == 384


def test_defaults_validate():
    assert TrainConfig().validate() == TrainConfig()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"method": "qlora"}, "method"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": -1e-4}, "learning_rate"),
        ({"batch_size": 0}, "batch_size"),
        ({"epochs": "3"}, "epochs"),
        ({"lora_dropout": 1.0}, "lora_dropout"),
        ({"temperature": 0}, "temperature"),
        ({"device": "tpu"}, "device"),
        ({"base_model": "/nonexistent/model"}, "base_model"),
        ({"base_model": "/tmp"}, "base_model"),  # a folder, but no config.json
        ({"method": "full", "freeze_layers": 7}, "freeze_layers"),  # MiniLM has 6 layers
        ({"validation_fraction": 0.5, "test_fraction": 0.5}, "test_fraction"),
        ({"lora_target_modules": ()}, "lora_target_modules"),
        # Each of these passed validation and then failed the job on the worker, after it was queued.
        ({"learning_rate": float("inf")}, "learning_rate"),  # JSON's 1e400
        ({"weight_decay": float("nan")}, "weight_decay"),  # NaN is neither below 0 nor above it
        ({"max_grad_norm": 10**400}, "max_grad_norm"),  # an int too large for a float
        ({"seed": -1}, "seed"),
        ({"seed": 2**32}, "seed"),  # numpy and torch take seeds below 2**32
        ({"device": "cuda:banana"}, "device"),
        ({"method": "full", "freeze_layers": 6}, "freeze_layers"),  # every layer frozen: nothing trains
        ({"lora_target_modules": ("query", "valeu")}, "lora_target_modules"),  # peft would skip the typo
        ({"lora_alpha": 10**12}, "lora_alpha"),
        ({"learning_rate": 5}, "learning_rate"),  # accepted once: every weight thrown away
    ],
)
def test_validate_rejects_a_bad_setting_and_names_its_field(changes, field):
    with pytest.raises(ConfigError) as raised:
        TrainConfig(**changes).validate()
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")
    assert isinstance(raised.value, ValueError)


def test_a_misspelt_lora_module_is_named_in_the_refusal():
    with pytest.raises(ConfigError) as raised:
        TrainConfig(lora_target_modules=("query", "valeu", "kee")).validate()
    assert raised.value.code == "no_such_module"
    assert raised.value.params == {"names": "valeu, kee"}


def test_lora_modules_match_by_their_last_dotted_parts_as_peft_matches_them():
    TrainConfig(lora_target_modules=("attention.self.query", "output.dense")).validate()


def test_max_tokens_may_not_pass_what_the_base_model_reads(tiny_model_dir):
    config = TrainConfig(base_model=tiny_model_dir)  # its max_position_embeddings is 64
    config.replace(max_tokens=64).validate()
    with pytest.raises(ConfigError) as raised:
        config.replace(max_tokens=65).validate()
    assert (raised.value.field, raised.value.params) == ("max_tokens", {"positions": 64})


def test_the_largest_seed_numpy_takes_and_a_numbered_gpu_are_accepted():
    TrainConfig(seed=2**32 - 1, device="cuda:1").validate()


def test_a_base_model_whose_config_is_not_json_is_refused_as_unreadable(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError) as raised:
        TrainConfig(base_model=str(tmp_path)).validate()
    assert (raised.value.field, raised.value.code) == ("base_model", "unreadable_config")


def test_config_survives_a_json_round_trip():
    config = TrainConfig(method="full", freeze_layers=2, lora_target_modules=("query", "key", "value"))
    restored = TrainConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert restored == config
    assert restored.lora_target_modules == ("query", "key", "value")


def test_from_dict_names_an_unknown_setting():
    with pytest.raises(ConfigError) as raised:
        TrainConfig.from_dict({"learning_rat": 1e-4})
    assert raised.value.field == "learning_rat"


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainConfig().epochs = 10


@pytest.mark.parametrize(
    "max_samples, examples, expected",
    [
        (4_096, 57_880, (4_096, 64)),  # a big shop: the cap, in whole batches
        (4_096, 3_000, (3_000, 47)),  # a small shop: all of its examples, the partial batch a step too
        (0, 57_880, (57_880, 905)),  # 0: every example
    ],
)
def test_an_epoch_draws_at_most_the_cap_and_counts_its_last_partial_batch_as_a_step(
    max_samples, examples, expected
):
    config = TrainConfig(max_samples_per_epoch=max_samples, batch_size=64)
    assert config.epoch_size(examples) == expected


def test_a_stored_config_from_before_a_setting_existed_keeps_the_old_behaviour():
    stored = TrainConfig().to_dict()
    del stored["logq_correction"]  # a job queued before the logQ correction

    assert TrainConfig.from_stored(stored).logq_correction is False
    assert TrainConfig.from_stored(TrainConfig().to_dict()).logq_correction is True
    assert TrainConfig.from_dict({}).logq_correction is True  # a new job takes today's default
