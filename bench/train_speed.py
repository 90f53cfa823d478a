#!/usr/bin/env python
"""Training speed and accuracy in the same time budget: our fine-tuning against the design document's recipe.

    .venv/bin/python bench/train_speed.py                    # 150 s each on the demo data (~8 min, 2 cores)
    .venv/bin/python bench/train_speed.py --seconds 60 --households 30   # a quick check
    .venv/bin/python bench/train_speed.py --method full      # ours with full fine-tuning

Both train the same base model on the same (history, next item) examples of
the same training window, drawn in the same order, for the same wall-clock
budget of training steps, and are then measured the same way: validation
NDCG@10 ranking the full catalog through training/ml/evaluate.py.

- ours: what `training.ml.loop` does per step (TrainConfig's defaults,
  `--method` lora or full): every distinct item of a batch of 64 is encoded
  once with dynamic padding (at most max_tokens=32 tokens), a shopper is the
  recency-weighted mean of their last 20 items' vectors, and the loss is
  in-batch InfoNCE with the logQ correction (`model.in_batch_loss`). Gradients flow through the targets
  and each history's 4 newest items; older history items are read from the
  memory bank (the catalog encoded once per epoch, its encoding timed inside
  ours' budget), or encoded without gradients with `--no-memory-bank`.
- the recipe: full fine-tuning, every sequence padded to 128 tokens, batch of
  16 (shopper, item, label) pairs, one uniformly random negative item per
  positive (so 8 positives per batch), pointwise binary cross-entropy. The
  shopper is the text of their history (the titles of their last 20 items,
  newest first, truncated at 128 tokens), the item its text; both go through
  the encoder and mean pooling, and the score of a pair is one number per
  sequence pair: logit = scale * cosine(shopper, item) + bias, with a learned
  scale (starting at 1/temperature = 20) and bias. Of the two readings of
  "history text/embedding" this is the cheaper one (an embedding of the
  history would encode every history item of every pair, at 128 tokens).

Both use AdamW (weight decay 0.01, none on biases and LayerNorm), gradient
clipping at 1.0, and the same schedule over their time budget: linear warm-up
over the first 10% of it, then linear decay to 0. A step is not started when
it would end past the budget (judged by the mean step so far). The two runs
take turns in slices (`--slice`), so a neighbour process that loads the
machine slows both alike. Evaluation time is not part of the budget.

"examples" are (shopper history, next item) positives: 64 per step for ours,
8 per step for the recipe (16 pairs).

Not a test: it is never collected by pytest, and prints a table to read.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _data  # noqa: E402  (puts the repository on sys.path)
from _data import K, Stopwatch, format_table, log  # noqa: E402

DEFAULT_HOUSEHOLDS = 100
DEFAULT_SECONDS = 150
RECIPE_TOKENS = 128
RECIPE_BATCH = 16  # pairs: half positives, half their random negatives
RECIPE_LEARNING_RATE = 5e-5  # config.py's advice for full fine-tuning
SCALAR_LEARNING_RATE = 1e-2  # the recipe's score scale and bias
LEARNING_RATES = {"lora": 1e-3, "full": 5e-5}
WARMUP = 0.1
HISTORY_SEPARATOR = " ; "


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    _data.add_data_arguments(parser, default_households=DEFAULT_HOUSEHOLDS)
    parser.add_argument(
        "--seconds",
        type=float,
        default=DEFAULT_SECONDS,
        help=f"training budget of each (default {DEFAULT_SECONDS})",
    )
    parser.add_argument(
        "--method", default="lora", choices=("lora", "full"), help="ours: lora (default) or full"
    )
    parser.add_argument("--slice", type=float, default=30.0, help="seconds of one turn before the other runs")
    parser.add_argument("--recipe-batch", type=int, default=RECIPE_BATCH, help="pairs per recipe step")
    parser.add_argument("--recipe-lr", type=float, default=RECIPE_LEARNING_RATE)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", type=Path, help="write {method: {metric: value}} to this file")
    parser.add_argument(
        "--no-memory-bank", action="store_true",
        help="ours encodes the older history items at every step instead of reading them from the bank",
    )
    args = parser.parse_args()
    _data.check_data_arguments(parser, args)
    if args.recipe_batch < 2 or args.recipe_batch % 2:
        parser.error("--recipe-batch must be even: each positive comes with one negative")
    return args


class TimeSchedule:
    """Learning-rate factor from the share of the budget used: warm-up, then linear decay to 0."""

    def __init__(self, budget: float, warmup: float = WARMUP):
        self.budget = budget
        self.warmup = warmup

    def __call__(self, used: float) -> float:
        share = min(max(used / self.budget, 0.0), 1.0)
        if share < self.warmup:
            return max(share / self.warmup, 0.01)
        return max((1.0 - share) / (1.0 - self.warmup), 0.0)


class Trainer:
    """One contender: steps it takes, time it used, examples it saw."""

    name: str
    examples_per_step: int

    def __init__(self, budget: float, examples, order):
        self.budget = budget
        self.schedule = TimeSchedule(budget)
        self.examples = examples
        self.order = order
        self.cursor = 0
        self.used = 0.0
        self.steps = 0
        self.seen = 0
        self.losses: list[float] = []
        self.bank_seconds = 0.0

    def next_examples(self, count: int):
        """The next `count` examples of the shared order (wrapping around)."""
        picked = [self.order[(self.cursor + i) % len(self.order)] for i in range(count)]
        self.cursor += count
        return [self.examples.histories[i] for i in picked], self.examples.targets[picked]

    def can_step(self) -> bool:
        mean = self.used / self.steps if self.steps else 0.0
        return self.used + mean <= self.budget

    def step(self) -> None:
        import torch

        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * self.schedule(self.used)
        self.before_step()
        clock = Stopwatch()
        self.model.train()
        loss = self.loss()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.trainable(), 1.0)
        self.optimizer.step()
        self.used += clock()
        self.steps += 1
        self.seen += self.examples_per_step
        self.losses.append(float(loss.detach()))

    def trainable(self):
        return [p for p in self.optimizer_parameters() if p.requires_grad]

    def before_step(self) -> None:
        """Work outside the timed step (ours: the memory bank's encodings, timed on their own)."""


def _set_initial_lr(optimizer) -> None:
    for group in optimizer.param_groups:
        group["initial_lr"] = group["lr"]


class Ours(Trainer):
    def __init__(self, config, dataset, budget, examples, order):
        super().__init__(budget, examples, order)
        from training.ml.loop import _optimizer, seed_everything
        from training.ml.model import ItemTokens, build_model

        seed_everything(config.seed)
        self.config = config
        self.name = f"ours ({config.method})"
        self.examples_per_step = config.batch_size
        self.model = build_model(config, config.device)
        self.tokens = ItemTokens(dataset.catalog.texts, self.model.tokenizer, config.max_tokens)
        self.optimizer = _optimizer(self.model, config)
        _set_initial_lr(self.optimizer)
        # The memory bank (config.memory_bank), as the loop keeps it: the catalog encoded once per
        # epoch. In the loop that encoding is each epoch's validation, done with or without the
        # bank; here it is timed on its own (bank_s) and reported beside the budget, both ways.
        self.bank = None
        self.steps_per_epoch = config.epoch_size(len(examples))[1]
        self.log_q = None
        if config.logq_correction:
            from training.ml.loop import target_log_probabilities

            self.log_q = target_log_probabilities(examples.targets, len(dataset.catalog))

    def optimizer_parameters(self):
        return self.model.parameters()

    def before_step(self) -> None:
        import torch

        from training.ml.model import encode_items

        if self.config.memory_bank and (self.bank is None or self.steps % self.steps_per_epoch == 0):
            clock = Stopwatch()
            self.bank = torch.from_numpy(encode_items(self.model, self.tokens)).to(self.model.device)
            self.bank_seconds += clock()

    def loss(self):
        from training.ml.model import in_batch_loss

        histories, targets = self.next_examples(self.config.batch_size)
        return in_batch_loss(
            self.model,
            self.tokens,
            histories,
            targets,
            temperature=self.config.temperature,
            recency_decay=self.config.recency_decay,
            bank=self.bank,
            log_q=self.log_q,
        )

    def scorer(self):
        from training.ml.model import encode_items
        from training.ml.scorer import ContentScorer

        return ContentScorer(
            encode_items(self.model, self.tokens),
            history_length=self.config.history_length,
            recency_decay=self.config.recency_decay,
        )


class Recipe(Trainer):
    def __init__(self, config, dataset, budget, examples, order, *, batch: int, learning_rate: float):
        super().__init__(budget, examples, order)
        import numpy as np
        import torch

        from training.ml.loop import seed_everything
        from training.ml.model import ItemEncoder, load_encoder

        seed_everything(config.seed)
        self.config = config
        self.name = "recipe (full, 128, BCE)"
        self.pairs = batch
        self.examples_per_step = batch // 2
        encoder, tokenizer = load_encoder(config.base_model, config.device)
        self.model = ItemEncoder(encoder, tokenizer, "full")  # token ids -> mean-pooled unit vector
        self.tokenizer = tokenizer
        self.log_scale = torch.nn.Parameter(torch.tensor(math.log(1.0 / config.temperature)))
        self.bias = torch.nn.Parameter(torch.tensor(-0.5 / config.temperature))
        self.n_items = len(dataset.catalog)
        self.titles = [text.split(" | ")[0] for text in dataset.catalog.texts]
        self.item_texts = dataset.catalog.texts
        self.rng = np.random.default_rng([config.seed, 7])
        decayed, not_decayed = [], []
        for name, parameter in self.model.named_parameters():
            (not_decayed if parameter.ndim < 2 or "LayerNorm" in name else decayed).append(parameter)
        self.optimizer = torch.optim.AdamW(
            [
                {"params": decayed, "weight_decay": config.weight_decay, "lr": learning_rate},
                {"params": not_decayed, "weight_decay": 0.0, "lr": learning_rate},
                {"params": [self.log_scale, self.bias], "weight_decay": 0.0, "lr": SCALAR_LEARNING_RATE},
            ]
        )
        _set_initial_lr(self.optimizer)

    def optimizer_parameters(self):
        return [p for group in self.optimizer.param_groups for p in group["params"]]

    def history_text(self, history) -> str:
        # Newest first: truncation drops the oldest.
        recent = list(history[-self.config.history_length :])[::-1]
        return HISTORY_SEPARATOR.join(self.titles[item] for item in recent)

    def padded(self, texts):
        """Every sequence padded (and truncated) to exactly 128 tokens."""
        encoded = self.tokenizer(
            list(texts), padding="max_length", truncation=True, max_length=RECIPE_TOKENS, return_tensors="pt"
        )
        return {name: encoded[name].to(self.model.device) for name in ("input_ids", "attention_mask")}

    def loss(self):
        import torch
        import torch.nn.functional as F

        histories, targets = self.next_examples(self.examples_per_step)
        negatives = self.rng.integers(0, self.n_items, size=len(targets))
        clash = negatives == targets
        while clash.any():  # a negative is never the positive itself
            negatives[clash] = self.rng.integers(0, self.n_items, size=int(clash.sum()))
            clash = negatives == targets
        pair_histories = [self.history_text(h) for h in histories] * 2  # each pair carries its history
        pair_items = [self.item_texts[i] for i in [*targets.tolist(), *negatives.tolist()]]
        labels = torch.tensor([1.0] * len(targets) + [0.0] * len(targets), device=self.model.device)
        vectors = self.model(**self.padded(pair_histories + pair_items))  # 2 x pairs sequences of 128
        shoppers, items = vectors[: self.pairs], vectors[self.pairs :]
        logits = self.log_scale.exp() * (shoppers * items).sum(dim=-1) + self.bias  # one score per pair
        return F.binary_cross_entropy_with_logits(logits, labels)

    def scorer(self):
        import numpy as np
        import torch

        from training.ml.model import ItemTokens, encode_items

        # Padding to 128 changes nothing under the attention mask; the items are encoded padded per batch.
        item_vectors = encode_items(self.model, ItemTokens(self.item_texts, self.tokenizer, RECIPE_TOKENS))
        model = self.model

        def score(histories):
            vectors = np.zeros((len(histories), item_vectors.shape[1]), dtype=np.float32)
            rows = [row for row, history in enumerate(histories) if len(history)]
            model.eval()
            with torch.no_grad():
                for start in range(0, len(rows), 64):
                    chunk = rows[start : start + 64]
                    texts = [self.history_text(histories[row]) for row in chunk]
                    encoded = self.tokenizer(
                        texts, padding=True, truncation=True, max_length=RECIPE_TOKENS, return_tensors="pt"
                    )
                    vectors[chunk] = model(
                        encoded["input_ids"].to(model.device), encoded["attention_mask"].to(model.device)
                    ).cpu().numpy()
            return vectors @ item_vectors.T  # the logit is increasing in the cosine: the same ranking

        return score


def main() -> int:
    args = parse_args()
    _data.set_threads(args.threads)
    import numpy as np
    import torch

    from training.ml.config import TrainConfig, default_base_model
    from training.ml.data import prepare_dataset, training_examples
    from training.ml.evaluate import evaluate_modes

    total = Stopwatch()
    config = TrainConfig(
        base_model=args.base_model or default_base_model(),
        method=args.method,
        learning_rate=LEARNING_RATES[args.method],
        device=args.device,
        memory_bank=not args.no_memory_bank,
    ).validate()
    log("loading the data")
    frames = _data.load_frames(args)
    dataset = prepare_dataset(
        frames.interactions,
        frames.items,
        validation_fraction=config.validation_fraction,
        test_fraction=config.test_fraction,
    )
    examples = training_examples(dataset.split.train, config.history_length)
    order = np.random.default_rng(config.seed).permutation(len(examples))
    headline = "new_items" if config.exclude_seen else "all_items"

    print("# Training speed in the same time budget (bench/train_speed.py)")
    print(f"data: {frames.description}")
    print("\n".join(_data.describe_split(dataset, config)))
    print(f"training examples (history, next item) in the training window: {len(examples):,}")
    print(f"base model: {config.base_model}")
    print(
        f"budget: {args.seconds:.0f}s of training steps each, in turns of {args.slice:.0f}s; "
        f"ours: {config.method}, batch {config.batch_size}, max_tokens {config.max_tokens} "
        "(dynamic padding), "
        f"lr {config.learning_rate:g}, InfoNCE{' with the logQ correction' if config.logq_correction else ''}; recipe: full, {RECIPE_TOKENS} tokens padded, "
        f"batch {args.recipe_batch} pairs, lr {args.recipe_lr:g}, BCE with 1 random negative per positive"
    )
    print(
        f"machine: {os.cpu_count()} CPU cores, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"device {config.device}; load average at start {_loadavg()}",
        flush=True,
    )

    trainers = [
        Ours(config, dataset, args.seconds, examples, order),
        Recipe(
            config,
            dataset,
            args.seconds,
            examples,
            order,
            batch=args.recipe_batch,
            learning_rate=args.recipe_lr,
        ),
    ]
    active = list(trainers)
    while active:
        for trainer in list(active):
            turn = Stopwatch()
            while trainer.can_step() and turn() < args.slice:
                trainer.step()
                log(
                    f"{trainer.name}: step {trainer.steps}, {trainer.used:.0f}/{args.seconds:.0f}s, "
                    f"loss {trainer.losses[-1]:.3f}"
                )
            if not trainer.can_step():
                active.remove(trainer)

    results = {}
    for trainer in trainers:
        log(f"{trainer.name}: evaluating")
        clock = Stopwatch()
        metrics = evaluate_modes(
            trainer.scorer(),
            dataset.validation,
            n_items=len(dataset.catalog),
            k=config.eval_k,
            cold_items=dataset.cold_items,
        )
        results[trainer.name] = {
            "steps": trainer.steps,
            "examples": trainer.seen,
            "seconds": trainer.used,
            "bank_seconds": trainer.bank_seconds,
            "examples_per_second": trainer.seen / trainer.used if trainer.used else 0.0,
            "examples_per_second_with_bank": (
                trainer.seen / (trainer.used + trainer.bank_seconds) if trainer.used else 0.0
            ),
            "first_loss": trainer.losses[0] if trainer.losses else float("nan"),
            "last_loss": float(np.mean(trainer.losses[-3:])) if trainer.losses else float("nan"),
            "ndcg": metrics[headline][f"ndcg@{K}"],
            "new_items_ndcg": metrics["new_items"][f"ndcg@{K}"],
            "recall": metrics[headline][f"recall@{K}"],
            "eval_seconds": clock(),
        }

    ours, recipe = (results[t.name] for t in trainers)
    headers = [
        "method", "steps", "examples", "train_s", "bank_s", "examples/s", "loss first→last",
        f"val ndcg@{K}", f"val recall@{K}", f"new_items ndcg@{K}", "eval_s",
    ]
    rows = [
        [
            name,
            str(r["steps"]),
            str(r["examples"]),
            f"{r['seconds']:.0f}",
            f"{r['bank_seconds']:.0f}",
            f"{r['examples_per_second']:.2f}",
            f"{r['first_loss']:.3f}→{r['last_loss']:.3f}",
            f"{r['ndcg']:.4f}",
            f"{r['recall']:.4f}",
            f"{r['new_items_ndcg']:.4f}",
            f"{r['eval_seconds']:.0f}",
        ]
        for name, r in results.items()
    ]
    recipe_speed = recipe["examples_per_second"]
    speed = ours["examples_per_second"] / recipe_speed if recipe_speed else 0.0
    speed_with_bank = ours["examples_per_second_with_bank"] / recipe_speed if recipe_speed else 0.0
    accuracy = ours["ndcg"] / recipe["ndcg"] if recipe["ndcg"] else float("inf")
    print()
    print(
        f"## Validation window ({headline}, {len(dataset.validation)} shoppers, "
        f"full catalog of {len(dataset.catalog):,})"
    )
    print(format_table(headers, rows))
    print()
    print(
        f"ours / recipe: {speed:.2f}x the examples per second "
        f"(aim >= 3: {'met' if speed >= 3 else 'NOT met'}), "
        f"{accuracy:.2f}x the validation NDCG@{K} (aim >= 1: {'met' if accuracy >= 1 else 'NOT met'})"
    )
    if ours["bank_seconds"]:
        print(
            f"counting the memory bank's encodings (bank_s) as training time too: {speed_with_bank:.2f}x "
            "the examples per second (in the loop they are the per-epoch validation's encodings)"
        )
    print(f"load average at end {_loadavg()}; total {total():.0f}s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True))
        print(f"wrote {args.json}")
    return 0


def _loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


if __name__ == "__main__":
    sys.exit(main())
