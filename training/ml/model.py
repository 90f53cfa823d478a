"""The encoder: item text -> unit vector, shopper = recency-weighted mean of their items' vectors.

One pretrained Hugging Face encoder serves both towers: items are encoded from
their text (mean pooling over tokens, L2-normalised) and a shopper is the
normalised, recency-weighted mean of their recent items' vectors. The shopper
side has no parameters of its own, so a trained version only needs its item
embeddings to score shoppers (see scorer.py); the encoder is needed only for
the text of new items.

Training (loop.py) puts each shopper's next item above the other items of the
batch: InfoNCE over cosine similarities with a temperature.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .config import ConfigError, TrainConfig
from .scorer import recency_weights


def load_encoder(path: str, device: str = "cpu") -> tuple[nn.Module, PreTrainedTokenizerBase]:  # noqa: F821
    """The encoder and tokenizer of a local folder; never a hub download."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).to(device)
    return model, tokenizer


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors that are not padding, L2-normalised (as sentence-transformers does)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * mask).sum(dim=1)
    pooled = summed / mask.sum(dim=1).clamp(min=1e-9)
    return F.normalize(pooled.float(), dim=-1)


class ItemTokens:
    """Every item's text tokenised once (truncated to `max_tokens`), padded per batch on demand."""

    def __init__(self, texts: Sequence[str], tokenizer, max_tokens: int):
        encoded = tokenizer(list(texts), truncation=True, max_length=max_tokens, padding=False)
        self.input_ids = [list(ids) for ids in encoded["input_ids"]]
        self.lengths = np.array([len(ids) for ids in self.input_ids], dtype=np.int64)
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def __len__(self) -> int:
        return len(self.input_ids)

    def batch(self, indices: Sequence[int], device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
        """Dynamic padding: the batch is as wide as its longest item, never a fixed 128."""
        width = int(self.lengths[list(indices)].max())
        input_ids = torch.full((len(indices), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(indices), width), dtype=torch.long)
        for row, index in enumerate(indices):
            ids = self.input_ids[index]
            input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, : len(ids)] = 1
        return {"input_ids": input_ids.to(device), "attention_mask": attention_mask.to(device)}


class ItemEncoder(nn.Module):
    """Wraps the (possibly peft-wrapped) encoder: token ids -> unit item vectors."""

    def __init__(self, encoder: nn.Module, tokenizer, method: str):
        super().__init__()
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.method = method

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        output = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        return mean_pool(output.last_hidden_state, attention_mask)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Only what training changes: the adapters for LoRA, the unfrozen weights for full fine-tuning."""
        return {name: p.detach().clone() for name, p in self.named_parameters() if p.requires_grad}

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        parameters = dict(self.named_parameters())
        missing = [name for name, p in parameters.items() if p.requires_grad and name not in state]
        if missing:
            raise ValueError(f"the saved state lacks {missing[0]} (and {len(missing) - 1} more)")
        with torch.no_grad():
            for name, value in state.items():
                parameters[name].copy_(value)

    def save_pretrained(self, folder) -> None:
        """LoRA: the adapter only (adapter_config.json + adapter_model.safetensors).

        Full fine-tuning: the whole encoder and its tokenizer.
        """
        self.encoder.save_pretrained(folder)
        if self.method == "full":
            self.tokenizer.save_pretrained(folder)


def build_model(config: TrainConfig, device: str = "cpu") -> ItemEncoder:
    """The base encoder from `config.base_model`, made trainable the way `config.method` says."""
    encoder, tokenizer = load_encoder(config.base_model, device)
    if config.method == "lora":
        encoder = _with_lora(encoder, config)
    else:
        _freeze_lowest_layers(encoder, config.freeze_layers)
    return ItemEncoder(encoder, tokenizer, config.method)


def _with_lora(encoder: nn.Module, config: TrainConfig) -> nn.Module:
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.lora_target_modules),
        bias="none",
    )
    try:
        with warnings.catch_warnings():
            # peft 0.21 asks transformers 5 for a renamed attribute; the notice is theirs, not ours.
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            return get_peft_model(encoder, lora)
    except ValueError as error:  # peft: "Target modules {...} not found in the base model"
        raise ConfigError("lora_target_modules", str(error)) from error


def lora_targets_missing(base_model: str, targets: Sequence[str]) -> list[str]:
    """The names in `targets` that match no module of the base encoder, the way peft matches a
    name (the module's whole name, or its last dotted parts). peft itself refuses only when no
    name matches; a misspelt second name would leave that projection untrained, unnoticed.

    [] when the encoder cannot be built from its config alone: training then says why.
    """
    names = _module_names(base_model, _config_stamp(base_model))
    if names is None:
        return []
    return [
        target for target in targets
        if not any(name == target or name.endswith(f".{target}") for name in names)
    ]


def _config_stamp(base_model: str) -> tuple[int, int]:
    stat = (Path(base_model) / "config.json").stat()
    return stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=16)
def _module_names(base_model: str, _stamp: tuple[int, int]) -> frozenset[str] | None:
    """The encoder's module names, built on the meta device: from config.json alone, with no
    weights read and no memory taken, so a job's settings are checked before it is queued."""
    from transformers import AutoConfig, AutoModel

    try:
        config = AutoConfig.from_pretrained(base_model, local_files_only=True)
        with torch.device("meta"):
            encoder = AutoModel.from_config(config)
    except Exception:  # noqa: BLE001 - any failure here is training's to report, with its own reason
        return None
    return frozenset(name for name, _module in encoder.named_modules())


def encoder_layers(encoder: nn.Module) -> nn.ModuleList:
    """The stack of transformer layers, for the architectures merchants are likely to bring."""
    for path in ("encoder.layer", "transformer.layer", "layers", "encoder.layers"):
        module = encoder
        for attribute in path.split("."):
            module = getattr(module, attribute, None)
            if module is None:
                break
        if isinstance(module, nn.ModuleList):
            return module
    raise ConfigError("freeze_layers", f"cannot find the layers of {type(encoder).__name__} to freeze")


def _freeze_lowest_layers(encoder: nn.Module, count: int) -> None:
    if count == 0:
        return
    embeddings = getattr(encoder, "embeddings", None)
    if embeddings is not None:
        embeddings.requires_grad_(False)
    for layer in encoder_layers(encoder)[:count]:
        layer.requires_grad_(False)


def autocast(device: torch.device | str) -> contextlib.AbstractContextManager:
    """bf16 autocast on a GPU that supports it; plain fp32 elsewhere.

    CPU autocast to bf16 costs more than it saves on most CPUs.
    """
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def encode_items(
    model: ItemEncoder, tokens: ItemTokens, indices: Sequence[int] | None = None, batch_size: int = 256
) -> np.ndarray:
    """(items, dim) float32 unit vectors, in the order of `indices` (default: the whole catalog).

    Items are batched in order of length, so each batch pads little.
    """
    indices = np.arange(len(tokens)) if indices is None else np.asarray(indices, dtype=np.int64)
    order = np.argsort(tokens.lengths[indices], kind="stable")
    was_training = model.training
    model.eval()
    out = None
    try:
        for start in range(0, len(order), batch_size):
            positions = order[start : start + batch_size]
            with autocast(model.device):
                vectors = model(**tokens.batch(indices[positions].tolist(), model.device))
            vectors = vectors.float().cpu().numpy()
            if out is None:
                out = np.zeros((len(indices), vectors.shape[1]), dtype=np.float32)
            out[positions] = vectors
    finally:
        model.train(was_training)
    return out


def shopper_vectors(
    histories: Sequence[Sequence[int]],
    item_vectors: torch.Tensor,
    positions: dict[int, int],
    recency_decay: float,
) -> torch.Tensor:
    """The torch twin of scorer.user_vectors: recency-weighted mean of the history's vectors, normalised.

    `item_vectors[positions[item]]` is the vector of catalog item `item`.
    """
    width = max(len(h) for h in histories)
    index = torch.zeros((len(histories), width), dtype=torch.long)
    weights = torch.zeros((len(histories), width), dtype=torch.float32)
    for row, history in enumerate(histories):
        index[row, : len(history)] = torch.tensor([positions[item] for item in history])
        weights[row, : len(history)] = torch.from_numpy(
            recency_weights(len(history), recency_decay).astype(np.float32)
        )
    device = item_vectors.device
    gathered = item_vectors[index.to(device)]  # (shoppers, width, dim)
    summed = (weights.to(device).unsqueeze(-1) * gathered.float()).sum(dim=1)
    return F.normalize(summed, dim=-1)


# The newest items of a history that training back-propagates through: with the
# default recency decay of 0.8 they hold about two thirds of the shopper vector's weight.
GRADIENT_HISTORY_ITEMS = 4


def in_batch_loss(
    model: ItemEncoder,
    tokens: ItemTokens,
    histories: Sequence[Sequence[int]],
    targets: Sequence[int],
    *,
    temperature: float,
    recency_decay: float,
    bank: torch.Tensor | None = None,
    log_q: torch.Tensor | None = None,
) -> torch.Tensor:
    """InfoNCE: each shopper's next item against the other shoppers' next items of the batch.

    `log_q`, a (catalog items,) tensor of log sampling probabilities: the logQ correction
    (Yi et al., RecSys 2019). The batch's other targets are negatives drawn by popularity, so
    plain in-batch InfoNCE pushes popular items down more often than a softmax over the catalog
    would; subtracting each candidate's log q from its logit removes that bias.

    Every distinct item of the batch is encoded once. Gradients flow through the
    targets and the last GRADIENT_HISTORY_ITEMS items of each history, which
    carry most of the recency weight. The older history items (most of the
    batch's items) get no gradient: without a `bank` they are encoded by the
    current model without gradients; with one, a (catalog items, dim) tensor of
    unit vectors, their vectors are read from it, which saves their forward pass
    too, most of what a step still spent. The bank is refreshed in place with the
    vectors this step encodes (detached), so frequent items stay current between
    the bank's full refreshes (each epoch's validation encodes the catalog anyway).
    Another shopper's target that is the same item is not a negative: it is masked.
    """
    with_gradients = {int(t) for t in targets} | {
        item for history in histories for item in history[-GRADIENT_HISTORY_ITEMS:]
    }
    gradient_items = sorted(with_gradients)
    frozen_items = sorted({item for history in histories for item in history} - with_gradients)
    positions = {item: position for position, item in enumerate(gradient_items + frozen_items)}
    device = model.device
    with autocast(device):
        item_vectors = model(**tokens.batch(gradient_items, device))
        if frozen_items:
            if bank is not None:
                frozen_vectors = bank[torch.as_tensor(frozen_items, device=bank.device)].to(device)
            else:
                with torch.no_grad():
                    frozen_vectors = model(**tokens.batch(frozen_items, device))
            item_vectors = torch.cat([item_vectors, frozen_vectors.to(item_vectors.dtype)])
    if bank is not None:
        fresh = item_vectors[: len(gradient_items)].detach().to(bank.device, bank.dtype)
        bank[torch.as_tensor(gradient_items, device=bank.device)] = fresh
    users = shopper_vectors(histories, item_vectors, positions, recency_decay)
    target_positions = torch.tensor([positions[int(t)] for t in targets], device=device)
    target_vectors = item_vectors[target_positions].float()
    logits = users @ target_vectors.T / temperature
    target_ids = torch.as_tensor(np.asarray(targets), device=device)
    if log_q is not None:
        logits = logits - log_q.to(device)[target_ids].unsqueeze(0)  # column j: candidate j
    same_item = target_ids.unsqueeze(0) == target_ids.unsqueeze(1)
    same_item.fill_diagonal_(False)
    logits = logits.masked_fill(same_item, float("-inf"))
    return F.cross_entropy(logits, torch.arange(len(targets), device=device))
