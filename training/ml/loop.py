"""The training loop: AdamW with linear warm-up and decay, validation each epoch, early stopping, resume.

`train(config, dataset)` evaluates the untouched model first (epoch 0), then
trains epoch by epoch; after each epoch it measures validation NDCG@k on the
full catalog, keeps the best weights, and writes a checkpoint from which a new
run with the same config continues. The returned model carries the weights of
the best epoch (epoch 0 when fine-tuning never helped).
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .config import SETTINGS_BEFORE_THEY_EXISTED, TrainConfig, resolve_device
from .data import Dataset, TrainingExamples, training_examples
from .evaluate import category_search_queries, evaluate, search_ndcg
from .model import ItemEncoder, ItemTokens, build_model, encode_items, in_batch_loss
from .scorer import ContentScorer

# progress(step, total_steps, epoch, loss, eta_seconds); steps count from 1 over the whole run.
ProgressCallback = Callable[[int, int, int, float, float], None]
CHECKPOINT = "last.pt"
BEST = "best.pt"  # the best weights' file before it was named by epoch; still read
IMPROVEMENT = 1e-6  # a validation NDCG must beat the best by more than this to count


@dataclass
class EpochRecord:
    epoch: int  # 0: before any training
    train_loss: float | None
    validation: dict[str, float]
    seconds: float
    # NDCG@k of the catalog's category names as search queries (evaluate.category_search_queries),
    # with this epoch's encoder; None when the catalog has too few categories to ask.
    search: float | None = None


@dataclass
class TrainResult:
    model: ItemEncoder
    tokens: ItemTokens
    history: list[EpochRecord]
    best_epoch: int
    best_metric: float
    stopped_early: bool
    resumed_from_epoch: int | None = None
    metric_name: str = "ndcg@10"
    steps_done: int = 0

    def history_dicts(self) -> list[dict[str, Any]]:
        return [asdict(record) for record in self.history]


class TrainingCancelled(Exception):
    """The cancel check said stop; raised before the next step. The last checkpoint is intact."""

    def __init__(self, step: int, history: list[EpochRecord]):
        super().__init__(f"training cancelled after step {step}")
        self.step = step
        self.history = history


class CheckpointMismatch(ValueError):
    """The checkpoint folder belongs to a run with another config or other data.

    `changed`: the settings that differ, or () when the data does.
    """

    def __init__(self, reason: str, changed: tuple[str, ...] = ()):
        super().__init__(reason)
        self.changed = changed


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class _State:
    history: list[EpochRecord] = field(default_factory=list)
    best_metric: float = -math.inf
    best_epoch: int = 0
    best_weights: dict[str, torch.Tensor] | None = None
    epochs_without_improvement: int = 0
    last_epoch: int = -1  # the last finished epoch; -1: not even epoch 0's evaluation

    def record(self, record: EpochRecord, metric: float, model: ItemEncoder) -> bool:
        """Add an epoch; True when it is the new best."""
        self.history.append(record)
        self.last_epoch = record.epoch
        if metric > self.best_metric + IMPROVEMENT:
            self.best_metric, self.best_epoch = metric, record.epoch
            self.best_weights = model.trainable_state()
            self.epochs_without_improvement = 0
            return True
        self.epochs_without_improvement += 1
        return False


def train(
    config: TrainConfig,
    dataset: Dataset,
    *,
    checkpoint_dir: str | Path | None = None,
    progress: ProgressCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    on_resumed: Callable[[int], None] | None = None,
) -> TrainResult:
    """Fine-tune on `dataset`'s training window; see the module docstring.

    `on_epoch(record)` is called after each evaluated epoch (epoch 0 included;
    not again for epochs a resumed run restored from its checkpoint).
    `on_resumed(epoch)` is called, before any step, when the run goes on from the
    checkpoint of that epoch.

    Raises `TrainingCancelled` when `should_cancel()` turns true (it is asked
    before every step), `CheckpointMismatch` when `checkpoint_dir` holds
    another run's checkpoint.
    """
    config.validate()
    seed_everything(config.seed)
    run = _Run.start(config, dataset)
    checkpoints = _Checkpoints(checkpoint_dir, config, run.fingerprint) if checkpoint_dir else None
    state = checkpoints.restore(run.model, run.optimizer, run.scheduler) if checkpoints else None
    resumed_from = state.last_epoch if state else None
    if resumed_from is not None and on_resumed is not None:
        on_resumed(resumed_from)
    done = state.last_epoch * run.steps_per_epoch if state else 0
    clock = _Clock(run.total_steps, already_done=done, epochs=config.epochs)
    if state is None:
        state = _State()
        validation_started = time.monotonic()
        run.evaluate_and_record(state, epoch=0, train_loss=None, started=validation_started)
        clock.validated(time.monotonic() - validation_started)
        if on_epoch is not None:
            on_epoch(state.history[-1])
        if checkpoints:
            checkpoints.save(state, run.model, run.optimizer, run.scheduler, new_best=True)

    for epoch in range(state.last_epoch + 1, config.epochs + 1):
        patience = config.early_stopping_patience
        if patience and state.epochs_without_improvement >= patience:
            break
        started = time.monotonic()
        loss = run.train_epoch(epoch, clock, progress, should_cancel, state)
        validation_started = time.monotonic()
        is_best = run.evaluate_and_record(state, epoch=epoch, train_loss=loss, started=started)
        clock.validated(time.monotonic() - validation_started)
        if on_epoch is not None:
            on_epoch(state.history[-1])
        if checkpoints:
            checkpoints.save(state, run.model, run.optimizer, run.scheduler, new_best=is_best)

    run.model.load_trainable_state(state.best_weights)
    run.model.eval()
    return TrainResult(
        model=run.model,
        tokens=run.tokens,
        history=state.history,
        best_epoch=state.best_epoch,
        best_metric=state.best_metric,
        stopped_early=state.last_epoch < config.epochs,
        resumed_from_epoch=resumed_from,
        metric_name=run.metric_name,
        steps_done=clock.step,
    )


@dataclass
class _Run:
    """What one training run works with: the model, its data, its optimiser and schedule."""

    config: TrainConfig
    dataset: Dataset
    model: ItemEncoder
    tokens: ItemTokens
    examples: TrainingExamples
    samples_per_epoch: int
    steps_per_epoch: int
    optimizer: torch.optim.Optimizer
    scheduler: Any
    # The catalog's vectors that older history items are read from (config.memory_bank).
    bank: torch.Tensor | None = None
    # Log of each item's share of the training targets (config.logq_correction).
    log_q: torch.Tensor | None = None
    # The catalog's category names, tokenised as a shopper's query is, and the items each should
    # find: how each epoch's encoder does for search (EpochRecord.search).
    search_queries: ItemTokens | None = None
    search_relevant: list[np.ndarray] = field(default_factory=list)

    @classmethod
    def start(cls, config: TrainConfig, dataset: Dataset) -> _Run:
        from transformers import get_linear_schedule_with_warmup

        model = build_model(config, resolve_device(config.device))
        tokens = ItemTokens(dataset.catalog.texts, model.tokenizer, config.max_tokens)  # once per run
        examples = training_examples(dataset.split.train, config.history_length)
        samples_per_epoch, steps_per_epoch = config.epoch_size(len(examples))
        total_steps = steps_per_epoch * config.epochs
        optimizer = _optimizer(model, config)
        scheduler = get_linear_schedule_with_warmup(
            optimizer, int(config.warmup_ratio * total_steps), total_steps
        )
        run = cls(
            config, dataset, model, tokens, examples, samples_per_epoch, steps_per_epoch, optimizer, scheduler
        )
        if config.logq_correction:
            run.log_q = target_log_probabilities(examples.targets, len(dataset.catalog))
        queries = category_search_queries(dataset.catalog.categories)
        if queries:
            run.search_queries = ItemTokens([name for name, _rows in queries], model.tokenizer, config.max_tokens)
            run.search_relevant = [rows for _name, rows in queries]
        return run

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.config.epochs

    @property
    def metric_name(self) -> str:
        return f"ndcg@{self.config.eval_k}"

    @property
    def fingerprint(self) -> dict[str, int | str]:
        """Enough of the data to notice that a checkpoint was made from other data: the counts,
        and a digest of the catalog's ids and texts and of the training window, so that edited
        texts or as many events swapped for others are noticed too."""
        digest = hashlib.sha256()
        for item_id, text in zip(self.dataset.catalog.item_ids, self.dataset.catalog.texts, strict=True):
            digest.update(f"{item_id}\x1f{text}\x1e".encode())
        digest.update(pd.util.hash_pandas_object(self.dataset.split.train, index=False).to_numpy().tobytes())
        return {
            "items": len(self.dataset.catalog),
            "examples": len(self.examples),
            "validation_users": len(self.dataset.validation),
            "content": digest.hexdigest(),
        }

    def evaluate_and_record(
        self, state: _State, *, epoch: int, train_loss: float | None, started: float
    ) -> bool:
        vectors = encode_items(self.model, self.tokens)
        validation = _validate(vectors, self.dataset, self.config)
        if self.config.memory_bank:
            # The validation just encoded the whole catalog with the current weights: the next
            # epoch's bank, for free.
            self.bank = torch.from_numpy(vectors).to(self.model.device)
        if train_loss is not None and not math.isfinite(train_loss):
            train_loss = None  # a diverged run: JSON, and PostgreSQL's jsonb, have no NaN
        search = None
        if self.search_queries is not None:
            served = vectors.astype(np.float16).astype(np.float32)  # as _validate measures
            search = search_ndcg(
                encode_items(self.model, self.search_queries), served, self.search_relevant, self.config.eval_k
            )
        record = EpochRecord(epoch, train_loss, validation, time.monotonic() - started, search)
        return state.record(record, validation[self.metric_name], self.model)

    def train_epoch(self, epoch: int, clock: _Clock, progress, should_cancel, state: _State) -> float:
        config, examples = self.config, self.examples
        # The order depends on (seed, epoch) only, so a resumed run sees the same batches.
        order = np.random.default_rng([config.seed, epoch]).permutation(len(examples))[
            : self.samples_per_epoch
        ]
        if config.memory_bank and self.bank is None:  # resumed from a checkpoint: no validation ran yet
            self.bank = torch.from_numpy(encode_items(self.model, self.tokens)).to(self.model.device)
        self.model.train()
        losses = []
        for start in range(0, len(order), config.batch_size):
            if should_cancel is not None and should_cancel():
                raise TrainingCancelled(clock.step, state.history)
            batch = order[start : start + config.batch_size]
            losses.append(self._step([examples.histories[i] for i in batch], examples.targets[batch]))
            eta = clock.tick(epoch)
            if progress is not None:
                progress(clock.step, clock.total_steps, epoch, losses[-1], eta)
        return float(np.mean(losses))

    def _step(self, histories: list[list[int]], targets: np.ndarray) -> float:
        config = self.config
        loss = in_batch_loss(
            self.model,
            self.tokens,
            histories,
            targets,
            temperature=config.temperature,
            recency_decay=config.recency_decay,
            bank=self.bank if config.memory_bank else None,
            log_q=self.log_q,
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        return float(loss.detach())


def _optimizer(model: ItemEncoder, config: TrainConfig) -> torch.optim.Optimizer:
    # Biases and LayerNorm weights are not decayed (the usual BERT recipe).
    decayed, not_decayed = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (not_decayed if parameter.ndim < 2 or "LayerNorm" in name else decayed).append(parameter)
    groups = [
        {"params": decayed, "weight_decay": config.weight_decay},
        {"params": not_decayed, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=config.learning_rate)


class _Clock:
    def __init__(self, total_steps: int, already_done: int, epochs: int):
        self.total_steps = total_steps
        self.step = already_done
        self.done_here = 0
        self.epochs = epochs
        # How long the last validation took (encoding the whole catalog): every epoch ends with one,
        # and on a CPU with a large catalog it outlasts the epoch's steps.
        self.validation_seconds = 0.0
        self._training_seconds = 0.0
        self._since = time.monotonic()

    def tick(self, epoch: int) -> float:
        """Count a step of `epoch`; return the estimated seconds left: the steps, and the validation
        that ends this epoch and each one after."""
        self.step += 1
        self.done_here += 1
        now = time.monotonic()
        self._training_seconds += now - self._since
        self._since = now
        per_step = self._training_seconds / self.done_here
        return per_step * (self.total_steps - self.step) + self.validation_seconds * (self.epochs - epoch + 1)

    def validated(self, seconds: float) -> None:
        self.validation_seconds = seconds
        self._since = time.monotonic()  # the validation is not a step's time


def target_log_probabilities(targets: np.ndarray, n_items: int) -> torch.Tensor:
    """(n_items,) log of each item's share of the training targets: how likely it is to be one of
    a batch's candidates. An item never a target is never a candidate; it gets the log of half
    a count, so the tensor has no -inf."""
    counts = np.bincount(np.asarray(targets, dtype=np.int64), minlength=n_items).astype(np.float64)
    counts[counts == 0] = 0.5
    return torch.from_numpy(np.log(counts / counts.sum())).float()


def _validate(item_vectors: np.ndarray, dataset: Dataset, config: TrainConfig) -> dict[str, float]:
    # At the precision a version stores and serves (float16, training.ml.pipeline): the curve, early
    # stopping and the version's validation table then measure the same vectors. On 17,821 products of
    # The Complete Journey, float32 read 5% higher (validation NDCG@10 0.0333 against 0.0317).
    served = item_vectors.astype(np.float16).astype(np.float32)
    scorer = ContentScorer(served, history_length=config.history_length, recency_decay=config.recency_decay)
    return evaluate(
        scorer,
        dataset.validation,
        n_items=len(dataset.catalog),
        k=config.eval_k,
        exclude_seen=config.exclude_seen,
        cold_items=dataset.cold_items,
    )


class _Checkpoints:
    """last.pt: the state after the last finished epoch; best-epoch{N}.pt: the best epoch's
    trainable weights.

    Each is written to a temporary name and renamed, so a crash mid-write leaves the
    previous checkpoint usable. A new best is written under its own name before last.pt,
    which names it, and the older best file is removed only after: a crash between the two
    writes leaves last.pt pointing at the best file it was written with.
    """

    def __init__(self, folder: str | Path, config: TrainConfig, fingerprint: dict[str, int | str]):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config = _comparable(config)
        self.fingerprint = fingerprint

    def save(self, state: _State, model: ItemEncoder, optimizer, scheduler, *, new_best: bool) -> None:
        best_file = f"best-epoch{state.best_epoch}.pt"
        if new_best:
            self._write(best_file, {"epoch": state.best_epoch, "weights": state.best_weights})
        rng = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        self._write(
            CHECKPOINT,
            {
                "config": self.config,
                "fingerprint": self.fingerprint,
                "epoch": state.last_epoch,
                "weights": model.trainable_state(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "history": [asdict(record) for record in state.history],
                "best_epoch": state.best_epoch,
                "best_file": best_file,
                "best_metric": state.best_metric,
                "epochs_without_improvement": state.epochs_without_improvement,
                "rng": rng,
            },
        )
        for stale in [*self.folder.glob("best-epoch*.pt"), self.folder / BEST]:
            if stale.name != best_file:
                stale.unlink(missing_ok=True)

    def restore(self, model: ItemEncoder, optimizer, scheduler) -> _State | None:
        path = self.folder / CHECKPOINT
        if not path.exists():
            return None
        # Our own file, written by save() above; it holds RNG states that are not plain tensors.
        saved = torch.load(path, map_location="cpu", weights_only=False)
        # A checkpoint written before a setting existed was made with what it now reads as.
        saved_config = {**SETTINGS_BEFORE_THEY_EXISTED, **saved["config"]}
        if saved_config != self.config:
            changed = sorted(k for k in self.config if self.config[k] != saved_config.get(k))
            raise CheckpointMismatch(
                f"the checkpoint in {self.folder} was made with other settings: {', '.join(changed)}",
                changed=tuple(changed),
            )
        if saved["fingerprint"] != self.fingerprint:
            raise CheckpointMismatch(f"the checkpoint in {self.folder} was made from other data")
        best = torch.load(self.folder / saved.get("best_file", BEST), map_location="cpu", weights_only=False)
        model.load_trainable_state(saved["weights"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        random.setstate(saved["rng"]["python"])
        np.random.set_state(saved["rng"]["numpy"])
        torch.set_rng_state(saved["rng"]["torch"])
        if "cuda" in saved["rng"] and torch.cuda.is_available():
            # The run may resume on a machine with fewer GPUs than the one that saved it.
            for device_index, rng_state in enumerate(saved["rng"]["cuda"][: torch.cuda.device_count()]):
                torch.cuda.set_rng_state(rng_state, device_index)
        return _State(
            history=[EpochRecord(**record) for record in saved["history"]],
            best_metric=saved["best_metric"],
            best_epoch=saved["best_epoch"],
            best_weights={name: value.to(model.device) for name, value in best["weights"].items()},
            epochs_without_improvement=saved["epochs_without_improvement"],
            last_epoch=saved["epoch"],
        )

    def _write(self, name: str, payload: dict[str, Any]) -> None:
        # A name of this writer's own: a worker thought dead that wakes up writes into the same
        # folder as the run that took its job over, and two writers of one temporary file could
        # leave a torn checkpoint behind the rename.
        temporary = self.folder / f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            torch.save(payload, temporary)
            os.replace(temporary, self.folder / name)
        finally:
            temporary.unlink(missing_ok=True)


def _comparable(config: TrainConfig) -> dict[str, Any]:
    # A run may resume on another machine: the device is not part of what must match.
    data = config.to_dict()
    data.pop("device")
    return data
