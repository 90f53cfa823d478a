"""Saving a trained version to a folder, and loading it back to serve.

Layout of a version folder:

    metadata.json       format, method, base model folder, sizes, library versions
    config.json         the TrainConfig
    metrics.json        whatever the caller measured (epochs, validation, test, baselines)
    item_ids.json       the catalog order of every per-item array below
    scorer/             item_embeddings.npy (float16), item_counts.npy, collaborative.npz,
                        collaborative_items.npy, scorer.json (blend weights)
    adapter/            LoRA: peft's adapter_config.json + adapter_model.safetensors (a few hundred KB)
    encoder/            full fine-tuning: the whole encoder and its tokenizer

Serving a LoRA version, and why the base model stays shared. The item
embeddings are computed at save time, so scoring shoppers needs no encoder at
all. The encoder is only needed for the text of items added later. peft's
`get_peft_model` / `PeftModel.from_pretrained` would inject the adapter's
layers into the base model itself, so two tenants could not share one base
(and deep-copying the base per tenant would cost its full size per tenant).
Instead each version keeps the adapter's small A and B matrices and runs the
shared, untouched base with `torch.func.functional_call`, passing
W + scale * B @ A for the adapted weights: one base model in memory per
process however many tenants use it. functional_call swaps the weights in for
the duration of the call, so calls on one base are serialised by its lock.

Finding the base model again. A LoRA version records its base's folder and a
fingerprint of the base's files (`base_model_fingerprint`). The machine that
serves may keep the base elsewhere: a web host's virtual environment is not the
worker's, so even the packaged MiniLM has another path there. Loading tries the
recorded folder, then the `base_model_search` folders the caller names (each
itself, and the recorded folder's name, or organisation/name, within it), then
the packaged default model, and takes the first whose fingerprint matches
(`find_base_model`): a different model that happens to have the same name, or
a base replaced since, is never used to encode (its vectors would not match the
stored item embeddings).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import TrainConfig, default_base_model
from .model import ItemEncoder, ItemTokens, encode_items, load_encoder, mean_pool
from .scorer import HybridScorer

FORMAT = 1
# The files that make a base model encode as it does: its architecture, weights and tokenizer
# (a README, a sentence-transformers pooling config or a training run's leftovers such as
# training_args.bin change nothing the encoder computes, and are left out).
MODEL_FILE_PATTERNS = (
    "config.json", "model*.safetensors", "pytorch_model*.bin", "*.index.json",
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "vocab.*", "merges.txt", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model",
)
# How many of the recorded folder's last path parts a search folder may hold it under:
# base_models/<name>, base_models/<organisation>/<name>, ...
SEARCH_DEPTH = 4


class BaseModelNotFound(FileNotFoundError):
    """No folder holds the base model a LoRA version was trained on."""


def model_files(folder: str | Path) -> dict[str, int]:
    """{file name: size} of the folder's MODEL_FILE_PATTERNS files."""
    folder = Path(folder)
    names = sorted({path.name for pattern in MODEL_FILE_PATTERNS for path in folder.glob(pattern)})
    return {name: (folder / name).stat().st_size for name in names if os.path.isfile(folder / name)}


class _Fingerprints:
    """Fingerprints kept per process, by folder, while its files' identities (inode, size, times)
    stay the same: hashing a MiniLM takes a tenth of a second, a large encoder seconds. A folder
    is hashed by one thread at a time; others wait for its result instead of hashing it too."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[tuple, str]] = {}
        self._folder_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def __call__(self, folder: str | Path) -> str:
        folder = os.path.realpath(folder)
        names = model_files(folder)
        if not names:
            raise BaseModelNotFound(f"{folder} holds no model files")
        with self._lock:
            folder_lock = self._folder_locks.setdefault(folder, threading.Lock())
        with folder_lock:
            state = tuple(_file_state(Path(folder) / name) for name in names)
            known = self._known.get(folder)
            if known is not None and known[0] == state:
                return known[1]
            # Each file hashed alone, then the list of (name, size, digest): no two folders can
            # run together into the same stream of bytes.
            listing = "".join(
                f"{name}\t{size}\t{_file_sha256(Path(folder) / name)}\n" for name, size in names.items()
            )
            fingerprint = hashlib.sha256(listing.encode()).hexdigest()
            self._known[folder] = (state, fingerprint)  # the folder's older state is forgotten
            return fingerprint


def _file_state(path: Path) -> tuple:
    # ctime as well as mtime: `cp -p` or `rsync -a` can keep a replaced file's mtime, not its ctime.
    stat = path.stat()
    return path.name, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


base_model_fingerprint = _Fingerprints()


def base_model_identity(folder: str | Path) -> dict[str, Any]:
    """What a LoRA version records of its base: the fingerprint, and the files' sizes (a folder
    whose sizes differ is another model, known without reading it)."""
    return {"base_model_fingerprint": base_model_fingerprint(folder), "base_model_files": model_files(folder)}


def find_base_model(
    recorded: str, fingerprint: str, search: Iterable[str | Path] = (), files: dict[str, int] | None = None
) -> str:
    """The folder holding the base model `recorded` had, recognised by its fingerprint.

    Tried in order: `recorded`; each folder of `search`, and inside it the recorded folder's
    last 1 to SEARCH_DEPTH path parts (<name>, <organisation>/<name>...); the packaged default
    model. A folder whose file sizes differ from `files` is passed over without being read.
    Raises BaseModelNotFound saying where it looked and what it found there.
    """
    tail = Path(recorded).parts[1:]
    search = [Path(folder) for folder in search]
    default = default_base_model()
    candidates = [Path(recorded)]
    for folder in search:
        candidates += [folder] + [Path(folder, *tail[-depth:]) for depth in range(1, SEARCH_DEPTH + 1)]
    if default:
        candidates.append(Path(default))
    other_models, unreadable = [], []
    for candidate in dict.fromkeys(candidates):
        try:
            if not os.path.isfile(candidate / "config.json"):
                continue
            if files is not None and model_files(candidate) != files:
                other_models.append(str(candidate))
                continue
            if base_model_fingerprint(candidate) == fingerprint:
                return os.path.realpath(candidate)
            other_models.append(str(candidate))
        except OSError as error:  # not readable by this process, or changing under us: look on
            unreadable.append(f"{candidate} ({error.strerror or error})")
    looked_in = [recorded, *(f"{folder} (and the folder's name within it)" for folder in search)]
    looked_in += [f"{default} (the packaged model)"] if default else []
    found = "".join(
        f"; {label}: {', '.join(folders)}"
        for label, folders in (("other models in", other_models), ("could not read", unreadable))
        if folders
    )
    raise BaseModelNotFound(
        f"the base model {recorded} (fingerprint {fingerprint[:12]}) was not found. Looked in "
        f"{'; '.join(looked_in)}{found}. Copy it, byte for byte, into one of the base model "
        "folders (TRAINING_BASE_MODEL_DIRS)"
    )


@dataclass
class SharedBase:
    path: str
    model: nn.Module
    tokenizer: Any
    lock: threading.Lock = field(default_factory=threading.Lock)


class BaseModelCache:
    """Base encoders by folder, loaded once per process and never modified (eval mode, no gradients)."""

    def __init__(self, device: str = "cpu"):
        self.device = device
        self._bases: dict[str, SharedBase] = {}
        self._lock = threading.Lock()

    def get(self, path: str | Path) -> SharedBase:
        key = os.path.realpath(path)
        with self._lock:
            if key not in self._bases:
                model, tokenizer = load_encoder(key, self.device)
                model.eval().requires_grad_(False)
                self._bases[key] = SharedBase(path=key, model=model, tokenizer=tokenizer)
            return self._bases[key]

    def __len__(self) -> int:
        return len(self._bases)

    def clear(self) -> None:
        with self._lock:
            self._bases.clear()


shared_base_models = BaseModelCache()


def save_version(
    folder: str | Path,
    *,
    model: ItemEncoder,
    config: TrainConfig,
    item_ids: Sequence[Any],
    scorer: HybridScorer,
    metrics: dict[str, Any],
    base_identity: dict[str, Any] | None = None,
) -> Path:
    """Write a version; the folder must not exist yet. It appears complete or not at all.

    A LoRA version records its base's identity (`base_identity`: see `base_model_identity`),
    which the caller takes when training loads the base; without it, it is taken now. Full
    fine-tuning stores its own encoder and needs no base.
    """
    folder = Path(folder)
    if folder.exists():
        raise FileExistsError(f"{folder} already exists: a saved version is never overwritten")
    if len(item_ids) != scorer.n_items:
        raise ValueError(f"{len(item_ids)} item ids for {scorer.n_items} item embeddings")
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    if config.method != "lora":
        base_identity = None
    elif base_identity is None:
        base_identity = base_model_identity(config.base_model)
    try:
        _write_version(
            partial, model=model, config=config, item_ids=item_ids, scorer=scorer, metrics=metrics,
            base_identity=base_identity,
        )
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)  # a full disk keeps no half-written copy
        raise
    os.replace(partial, folder)
    return folder


def _write_version(
    partial: Path,
    *,
    model: ItemEncoder,
    config: TrainConfig,
    item_ids: Sequence[Any],
    scorer: HybridScorer,
    metrics: dict[str, Any],
    base_identity: dict[str, Any] | None,
) -> None:
    model.save_pretrained(partial / ("adapter" if config.method == "lora" else "encoder"))
    scorer.save(partial / "scorer")
    import peft
    import transformers

    metadata = {
        "format": FORMAT,
        "method": config.method,
        "base_model": os.path.realpath(config.base_model),
        # Full fine-tuning stores its own encoder: the base is only needed again for LoRA.
        **(base_identity or {}),
        "items": scorer.n_items,
        "embedding_dim": int(scorer.item_embeddings.shape[1]),
        "max_tokens": config.max_tokens,
        "libraries": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
        },
    }
    _write_json(partial / "metadata.json", metadata)
    _write_json(partial / "config.json", config.to_dict())
    _write_json(partial / "metrics.json", metrics)
    _write_json(partial / "item_ids.json", [_plain(item_id) for item_id in item_ids])


@dataclass
class LoadedVersion:
    folder: Path
    config: TrainConfig
    metadata: dict[str, Any]
    metrics: dict[str, Any]
    item_ids: list[Any]
    scorer: HybridScorer
    base_model_cache: BaseModelCache
    base_model_override: str | None = None  # the caller's folder for the base model, used unchecked
    base_model_search: tuple[str, ...] = ()  # where else to look for it (see the module docstring)
    # The encoder, loaded at the first text to encode under this version's own lock: on Python
    # 3.11 a cached_property takes one lock for every instance, so one tenant's first search
    # (seconds of loading) would hold up every other tenant's.
    _encoder_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)
    _loaded_encoder: tuple[nn.Module, Any] | None = field(default=None, init=False, repr=False, compare=False)
    _base_model_found: str | None = field(default=None, init=False, repr=False, compare=False)

    @cached_property
    def item_index(self) -> dict[Any, int]:
        return {item_id: index for index, item_id in enumerate(self.item_ids)}

    def score(self, histories: Sequence[Sequence[Any]]) -> np.ndarray:
        """(shoppers, items) scores in `item_ids` order, from histories of item ids (oldest first).

        Ids this version does not know (items added after it was trained) are skipped.
        """
        index = self.item_index
        return self.scorer([[index[item] for item in history if item in index] for history in histories])

    @property
    def base_model_path(self) -> str:
        """The folder of the base model: the caller's, or the one holding the recorded base
        (raises BaseModelNotFound). Versions saved before fingerprints use the recorded folder.

        Found once; not a cached_property, whose lock on Python 3.11 is one for all instances."""
        if self._base_model_found is None:
            recorded, fingerprint = self.metadata["base_model"], self.metadata.get("base_model_fingerprint")
            if self.base_model_override or not fingerprint:
                self._base_model_found = self.base_model_override or recorded
            else:
                self._base_model_found = find_base_model(
                    recorded, fingerprint, self.base_model_search, self.metadata.get("base_model_files")
                )
        return self._base_model_found

    @property
    def base_model(self) -> nn.Module | None:
        """The shared base encoder (LoRA versions), loaded on first use; None for full fine-tuning."""
        if self.config.method != "lora":
            return None
        return self.base_model_cache.get(self.base_model_path).model

    @property
    def _encoder(self) -> tuple[nn.Module, Any]:
        with self._encoder_lock:
            if self._loaded_encoder is None:
                self._loaded_encoder = self._load_encoder()
            return self._loaded_encoder

    def _load_encoder(self) -> tuple[nn.Module, Any]:
        if self.config.method == "lora":
            base = self.base_model_cache.get(self.base_model_path)
            return _LoraView(base, self.folder / "adapter"), base.tokenizer
        model, tokenizer = load_encoder(str(self.folder / "encoder"), self.base_model_cache.device)
        model.eval().requires_grad_(False)
        return ItemEncoder(model, tokenizer, "full"), tokenizer

    def encode_texts(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Unit vectors for new item texts, comparable with the stored item embeddings."""
        encoder, tokenizer = self._encoder
        return encode_items(
            encoder, ItemTokens(texts, tokenizer, self.config.max_tokens), batch_size=batch_size
        )


def load_version(
    folder: str | Path,
    base_model_cache: BaseModelCache | None = None,
    *,
    base_model_path: str | None = None,
    base_model_search: Sequence[str | Path] = (),
) -> LoadedVersion:
    """Load a saved version. Nothing heavy happens until the encoder is needed (`encode_texts`).

    A LoRA version's base model is looked for where it was at save time, then in
    `base_model_search` (see the module docstring); `base_model_path` names its
    folder outright, unchecked.
    """
    folder = Path(folder)
    metadata = json.loads((folder / "metadata.json").read_text())
    if metadata["format"] != FORMAT:
        raise ValueError(f"{folder} has format {metadata['format']}; this code reads format {FORMAT}")
    return LoadedVersion(
        folder=folder,
        config=TrainConfig.from_stored(json.loads((folder / "config.json").read_text())),
        metadata=metadata,
        metrics=json.loads((folder / "metrics.json").read_text()),
        item_ids=json.loads((folder / "item_ids.json").read_text()),
        scorer=HybridScorer.load(folder / "scorer"),
        base_model_cache=base_model_cache if base_model_cache is not None else shared_base_models,
        base_model_override=base_model_path,
        base_model_search=tuple(str(folder) for folder in base_model_search),
    )


class _LoraView(nn.Module):
    """The shared base plus one adapter, without modifying the base (see the module docstring)."""

    def __init__(self, base: SharedBase, adapter_folder: Path):
        super().__init__()
        self.base = base.model  # a shared submodule: registering it copies nothing
        self.lock = base.lock
        self.low_rank = _read_adapter(adapter_folder, dict(base.model.named_parameters()))
        self.eval()

    @property
    def device(self) -> torch.device:
        return next(self.base.parameters()).device

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        parameters = dict(self.base.named_parameters())
        adapted = {
            name: parameters[name] + scale * (b.to(parameters[name]) @ a.to(parameters[name]))
            for name, (a, b, scale) in self.low_rank.items()
        }
        with self.lock:
            output = torch.func.functional_call(
                self.base, adapted, args=(), kwargs={"input_ids": input_ids, "attention_mask": attention_mask}
            )
        return mean_pool(output.last_hidden_state, attention_mask)


def _read_adapter(folder: Path, base_parameters: dict[str, torch.Tensor]) -> dict[str, tuple]:
    """{base weight name: (A, B, scale)} from peft's adapter files, for plain LoRA on Linear layers."""
    from safetensors.torch import load_file

    adapter_config = json.loads((folder / "adapter_config.json").read_text())
    unsupported = [
        name
        for name in (
            "use_dora",
            "fan_in_fan_out",
            "rank_pattern",
            "alpha_pattern",
            "modules_to_save",
            "lora_bias",
        )
        if adapter_config.get(name)
    ]
    if (
        adapter_config.get("peft_type") != "LORA"
        or adapter_config.get("bias", "none") != "none"
        or unsupported
    ):
        raise ValueError(f"{folder}: only plain LoRA adapters are served this way ({', '.join(unsupported)})")
    rank, alpha = adapter_config["r"], adapter_config["lora_alpha"]
    scale = alpha / rank**0.5 if adapter_config.get("use_rslora") else alpha / rank
    weights = load_file(str(folder / "adapter_model.safetensors"))
    low_rank = {}
    for key, a in weights.items():
        if not key.endswith(".lora_A.weight"):
            continue
        module = key.removeprefix("base_model.model.").removesuffix(".lora_A.weight")
        name = f"{module}.weight"
        if name not in base_parameters:
            raise ValueError(f"{folder}: the adapter adapts {module}, which the base model does not have")
        low_rank[name] = (a, weights[key.replace(".lora_A.", ".lora_B.")], scale)
    if not low_rank:
        raise ValueError(f"{folder}: the adapter holds no LoRA weights")
    return low_rank


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=_plain))
