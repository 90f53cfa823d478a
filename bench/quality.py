#!/usr/bin/env python
"""Recommendation quality on a time split: our fine-tuned content model and hybrid against every baseline.

    .venv/bin/python bench/quality.py                        # the demo data, LoRA and full (~15 min, 2 cores)
    .venv/bin/python bench/quality.py --households 30 --max-samples 128 --methods lora   # a quick check
    .venv/bin/python bench/quality.py --interactions events.csv --items items.csv --json out.json

The data is a documented subset of The Complete Journey (see bench/_data.py)
or any two CSV files. Time is cut as the training config says
(training/ml/data.py: split_by_time): the last `test_fraction` of the
interactions is the test window, the `validation_fraction` before it the
validation window; the cutoffs are global instants, and are printed. Every method is fitted on the
training window only and ranks the FULL catalog for every shopper of the test
window, through training/ml/evaluate.py:

- baselines: popularity, repeat_purchase, item_knn, ease, als (random as the floor);
- ours: `training.ml.pipeline.fine_tune` with LoRA and with full fine-tuning,
  each measured as the content model alone and as the hybrid (blend weights
  chosen on the validation window, never on test);
- an ablation: the hybrid refitted with content weight 0 (ids only), so the
  table shows what the fine-tuned content score adds to the blend.

Two tables: "all_items" (a shopper's earlier items stay in the ranking and the
targets: re-buys count) and "new_items" (items the shopper had not bought
before). cold_recall@10 is recall over the targets that are cold items (no
training interaction), over the same full ranking.

Not a test: it is never collected by pytest, and prints tables to read.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _data  # noqa: E402  (puts the repository on sys.path)
from _data import K, Stopwatch, format_table, log  # noqa: E402

# Sized so that LoRA and full together take about 15 minutes on 2 CPU cores
# (MiniLM-L6; ~18k products): each run encodes the catalog three times
# (epoch 0, epoch 1, the final embeddings) and takes max_samples / 64 steps.
DEFAULT_HOUSEHOLDS = 100
DEFAULT_EPOCHS = 1
DEFAULT_MAX_SAMPLES = 512
DEFAULT_MAX_TOKENS = 24
# The learning rates config.py recommends: 1e-3 for LoRA, about 5e-5 for full fine-tuning.
LEARNING_RATES = {"lora": 1e-3, "full": 5e-5}
BASELINE_ROWS = ("random", "popularity", "repeat_purchase", "item_knn", "ease", "als")
ID_ONLY = ("popularity", "repeat_purchase", "item_knn", "ease", "als")
ABLATION = "ablation: hybrid without content"
COLUMNS = ("recall", "ndcg", "hr", "mrr", "coverage", "cold_recall")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    _data.add_data_arguments(parser, default_households=DEFAULT_HOUSEHOLDS)
    group = parser.add_argument_group("training (the rest is TrainConfig's defaults)")
    group.add_argument("--methods", default="lora,full", help="ours to run: lora, full or lora,full")
    group.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help=f"default {DEFAULT_EPOCHS}")
    group.add_argument(
        "--max-samples",
        type=int,
        default=DEFAULT_MAX_SAMPLES,
        help=f"max_samples_per_epoch (0: all; default {DEFAULT_MAX_SAMPLES})",
    )
    group.add_argument(
        "--max-tokens",
        type=int,
        default=DEFAULT_MAX_TOKENS,
        help=f"tokens per item (default {DEFAULT_MAX_TOKENS})",
    )
    group.add_argument("--batch-size", type=int, help="default: TrainConfig's")
    group.add_argument("--temperature", type=float, help="the InfoNCE temperature (default: TrainConfig's)")
    group.add_argument("--lr-lora", type=float, default=LEARNING_RATES["lora"])
    group.add_argument("--lr-full", type=float, default=LEARNING_RATES["full"])
    group.add_argument(
        "--collaborative",
        choices=("auto", "ease", "item_knn"),
        default="auto",
        help="the hybrid's collaborative signal: ease (its 100 strongest positive weights per item), "
        "item_knn (its 100 nearest neighbours per item) or auto (the default: ease, unless item_knn's "
        "hybrid ranks new items better on validation beyond chance)",
    )
    group.add_argument("--device", default="auto", help="auto, cpu or cuda")
    group.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", type=Path, help="write {method: {metric: value}} to this file")
    args = parser.parse_args()
    _data.check_data_arguments(parser, args)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not args.methods or set(args.methods) - {"lora", "full"}:
        parser.error("--methods takes lora, full or lora,full")
    return args


def main() -> int:
    args = parse_args()
    _data.set_threads(args.threads)
    import torch

    from training.ml.baselines import fit_baselines
    from training.ml.config import TrainConfig, default_base_model
    from training.ml.data import prepare_dataset, training_examples
    from training.ml.evaluate import evaluate_modes, ndcg_by_shopper
    from training.ml.pipeline import fine_tune
    from training.ml.scorer import ContentScorer

    total = Stopwatch()
    base = TrainConfig(
        base_model=args.base_model or default_base_model(),
        epochs=args.epochs,
        max_samples_per_epoch=args.max_samples,
        max_tokens=args.max_tokens,
        device=args.device,
        **({"batch_size": args.batch_size} if args.batch_size else {}),
        **({"temperature": args.temperature} if args.temperature is not None else {}),
    ).validate()
    headline = "new_items" if base.exclude_seen else "all_items"

    log("loading the data")
    frames = _data.load_frames(args)
    dataset = prepare_dataset(
        frames.interactions,
        frames.items,
        validation_fraction=base.validation_fraction,
        test_fraction=base.test_fraction,
    )
    n_items, cold = len(dataset.catalog), dataset.cold_items
    learning_rates = {"lora": args.lr_lora, "full": args.lr_full}

    examples = len(training_examples(dataset.split.train, base.history_length))
    samples, steps = base.epoch_size(examples)
    header = [
        "# Recommendation quality on a time split (bench/quality.py)",
        f"data: {frames.description}",
        *_data.describe_split(dataset, base),
        f"base model: {base.base_model}",
        f"ours: methods {', '.join(args.methods)}; epochs {base.epochs}, max_samples_per_epoch "
        f"{base.max_samples_per_epoch or 'all'} ({samples:,} of {examples:,} examples: {steps} steps "
        f"of batch {base.batch_size} per epoch), max_tokens {base.max_tokens}, learning rate "
        + ", ".join(f"{m} {learning_rates[m]:g}" for m in args.methods)
        + f"; temperature {base.temperature:g}, history_length {base.history_length}, "
        f"early_stopping_patience {base.early_stopping_patience}",
        f"machine: {os.cpu_count()} CPU cores, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"device {base.device}; load average at start {_loadavg()}; {platform.platform()}",
    ]
    print("\n".join(header), flush=True)

    rows: dict[str, dict] = {}  # method -> {"test": {mode: metrics}, "validation": metrics, "seconds": s}
    for name in BASELINE_ROWS:
        log(f"baseline {name}")
        clock = Stopwatch()
        scorer = fit_baselines(dataset, names=[name], seed=base.seed)[name]
        seconds = clock()
        measure = {"n_items": n_items, "k": base.eval_k, "cold_items": cold}
        rows[name] = {
            "test": evaluate_modes(scorer, dataset.test, **measure),
            "validation": evaluate_modes(scorer, dataset.validation, modes=(headline,), **measure)[headline],
            "seconds": seconds,
            "by_shopper": ndcg_by_shopper(scorer, dataset.test, n_items=n_items, k=base.eval_k),
        }

    training_notes = []
    for method in args.methods:
        config = base.replace(method=method, learning_rate=learning_rates[method])
        log(f"ours ({method}): fine-tuning")
        clock = Stopwatch()
        outcome = fine_tune(
            config,
            frames.interactions,
            frames.items,
            baselines=(),
            progress=_progress(method),
            collaborative=args.collaborative,
        )
        seconds = clock()
        if str(outcome.dataset.split.test_cutoff) != str(dataset.split.test_cutoff):
            raise RuntimeError("fine_tune cut the time range elsewhere than the baselines were measured")
        metrics = outcome.metrics
        scorers = {
            "content": ContentScorer(
                outcome.scorer.item_embeddings,
                history_length=config.history_length,
                recency_decay=config.recency_decay,
            ),
            "hybrid": outcome.scorer,
        }
        for part, scorer in scorers.items():
            rows[f"ours-{method} {part}"] = {
                "test": metrics["test"][part],
                "validation": metrics["validation"][part],
                "seconds": seconds,
                "by_shopper": _checked_by_shopper(
                    ndcg_by_shopper(scorer, dataset.test, n_items=n_items, k=base.eval_k),
                    metrics["test"][part],
                    f"ours-{method} {part}",
                ),
            }
        epochs = "; ".join(
            f"epoch {e['epoch']}: val ndcg@{K} {e['validation'][f'ndcg@{K}']:.4f}"
            + (f", loss {e['train_loss']:.3f}" if e["train_loss"] is not None else "")
            + (f", search ndcg@{K} {e['search']:.4f}" if e.get("search") is not None else "")
            + f", {e['seconds']:.0f}s"
            for e in metrics["epochs"]
        )
        weights = metrics["hybrid_weights"]
        signal = metrics["hybrid_collaborative"]
        blend = ", ".join(
            f"{name}{f' ({signal})' if name == 'collaborative' else ''} {value:g}"
            for name, value in weights.items()
        )
        candidates = ", ".join(
            f"{name} {'—' if value is None else f'{value:.4f}'}" for name, value in metrics["hybrid_candidates"].items()
        )
        default = next(iter(metrics["hybrid_candidates"]))
        candidates += "".join(
            f"; {name} / {default} {_interval_text(*interval)}"
            for name, interval in metrics.get("hybrid_signal_intervals", {}).items()
        )
        search = metrics.get("search")
        searched = (
            f"; search NDCG@{K} of {search['queries']} category names: kept {search[f'ndcg@{K}']:.4f}, "
            f"pretrained {search['pretrained']:.4f}"
            if search and search.get("pretrained") is not None
            else ""
        )
        training_notes.append(
            f"ours-{method}: {epochs}; kept epoch {metrics['best_epoch']}; hybrid weights {blend} "
            f"(validation NDCG@{K} on new items by behaviour signal: {candidates}){searched}; {seconds:.0f}s in all"
        )

    if args.methods:
        log("ablation: the hybrid without its content score")
        rows[ABLATION] = _without_content(outcome, base)
        weights = rows[ABLATION]["weights"]
        training_notes.append(
            f"{ABLATION} (ids and ours-{args.methods[-1]}'s cold-item neighbours only): hybrid weights "
            + ", ".join(f"{name} {value:g}" for name, value in weights.items())
        )

    print()
    print("\n".join(training_notes))
    for mode, title in (
        ("all_items", "all_items: earlier purchases stay in the ranking and the targets"),
        ("new_items", "new_items: only items the shopper had not bought before"),
    ):
        cold_users = next(iter(rows.values()))["test"][mode].get("cold_users", 0)
        users = next(iter(rows.values()))["test"][mode]["users"]
        print()
        print(f"## Test window, {title} ({users} shoppers with targets, {cold_users} with cold targets)")
        print(_table(rows, mode))
    print()
    print("\n".join(_verdict(rows, headline)))
    print(f"\nload average at end {_loadavg()}; total {total():.0f}s")

    if args.json:
        args.json.write_text(json.dumps(_json_rows(rows, headline), indent=2, sort_keys=True))
        print(f"wrote {args.json}")
    return 0


def _without_content(outcome, config) -> dict:
    """The hybrid refitted with content weight 0, on the same validation window: what the
    fine-tuned content score adds to the blend is the gap between this row and ours."""
    from dataclasses import asdict

    import numpy as np

    from training.ml.evaluate import evaluate_modes, ndcg_by_shopper
    from training.ml.scorer import DEFAULT_GRID, HybridScorer

    fitted, dataset = outcome.scorer, outcome.dataset
    clock = Stopwatch()
    scorer, _grid = HybridScorer.fit(
        item_embeddings=fitted.item_embeddings,
        item_counts=fitted.item_counts,
        collaborative=fitted.collaborative,
        collaborative_items=np.isin(np.arange(fitted.n_items), fitted.collaborative_items),
        validation=dataset.validation,
        history_length=config.history_length,
        recency_decay=config.recency_decay,
        k=config.eval_k,
        exclude_seen=config.exclude_seen,
        grid=[weights for weights in DEFAULT_GRID if weights.content == 0],
        seed=config.seed,
    )
    measure = {"n_items": len(dataset.catalog), "k": config.eval_k, "cold_items": dataset.cold_items}
    headline = "new_items" if config.exclude_seen else "all_items"
    return {
        "test": evaluate_modes(scorer, dataset.test, **measure),
        "validation": evaluate_modes(scorer, dataset.validation, modes=(headline,), **measure)[headline],
        "seconds": clock(),
        "weights": asdict(scorer.weights),
        "by_shopper": ndcg_by_shopper(scorer, dataset.test, n_items=measure["n_items"], k=config.eval_k),
    }


def _checked_by_shopper(by_shopper: dict, test: dict, name: str) -> dict:
    """Per-shopper NDCG of a scorer measured again here: their means must be the table's figures."""
    import numpy as np

    for mode, values in by_shopper.items():
        if not np.isclose(values.mean(), test[mode][f"ndcg@{K}"], atol=1e-6):
            raise RuntimeError(f"{name}: per-shopper NDCG does not average to the table's ({mode})")
    return by_shopper


def _interval_text(ratio: float | None, low: float | None, high: float | None) -> str:
    def number(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    return f"{number(ratio)} (95% CI {number(low)}-{number(high)})"


def _progress(method: str):
    def report(step: int, total_steps: int, epoch: int, loss: float, eta: float) -> None:
        log(f"ours ({method}) epoch {epoch} step {step}/{total_steps} loss {loss:.3f} eta {eta:.0f}s")

    return report


def _table(rows: dict[str, dict], mode: str) -> str:
    headers = ["method", *[f"{c}@{K}" for c in COLUMNS], "train_s"]
    body = []
    for name, row in rows.items():
        metrics = row["test"][mode]
        values = [f"{metrics.get(f'{c}@{K}', float('nan')):.4f}" for c in COLUMNS]
        body.append([name, *values, f"{row['seconds']:.0f}"])
    return format_table(headers, body)


def _verdict(rows: dict[str, dict], headline: str) -> list[str]:
    ours = [name for name in rows if name.startswith("ours-")]
    baselines = [name for name in rows if name in ID_ONLY]
    if not ours or not baselines:
        return []
    from training.ml.evaluate import ratio_interval

    def ratio_text(numerator: str, denominator: str, mode: str) -> tuple[float, str]:
        ratio, low, high = ratio_interval(
            rows[numerator]["by_shopper"][mode], rows[denominator]["by_shopper"][mode]
        )
        shoppers = len(rows[numerator]["by_shopper"][mode])
        return ratio, f"{ratio:.2f} (95% CI {low:.2f}-{high:.2f}, paired bootstrap over {shoppers} shoppers)"

    lines = [
        (
            f"Ratios of NDCG@{K}, each with its 95% confidence interval: the same test shoppers resampled "
            "for both sides (10,000 times, BCa). An interval that holds 1.00 is no difference the "
            "window can show."
        )
    ]
    metric = f"ndcg@{K}"
    for mode in ("all_items", "new_items"):
        best_ours = max(ours, key=lambda n: rows[n]["test"][mode][metric])
        best_base = max(baselines, key=lambda n: rows[n]["test"][mode][metric])
        a, b = rows[best_ours]["test"][mode][metric], rows[best_base]["test"][mode][metric]
        ratio, text = ratio_text(best_ours, best_base, mode)
        lines.append(
            f"{mode}: ours-best NDCG@{K} / best baseline NDCG@{K} = {best_ours} {a:.4f} / "
            f"{best_base} {b:.4f} = {text}; aim >= 1.10: {'met' if ratio >= 1.10 else 'NOT met'}"
        )
    # The same ratio with both sides picked on the validation window (no choice made on test).
    picked_ours = max(ours, key=lambda n: rows[n]["validation"][metric])
    picked_base = max(baselines, key=lambda n: rows[n]["validation"][metric])
    a, b = rows[picked_ours]["test"][headline][metric], rows[picked_base]["test"][headline][metric]
    lines.append(
        f"{headline}, both picked on validation: {picked_ours} {a:.4f} / {picked_base} {b:.4f} = "
        + ratio_text(picked_ours, picked_base, headline)[1]
    )
    hybrids = [name for name in ours if name.endswith(" hybrid")]
    if ABLATION in rows and hybrids:
        # The ablation refits the last method's hybrid without its content score.
        for mode in ("all_items", "new_items"):
            lines.append(
                f"{mode}: what the content score adds, {hybrids[-1]} / {ABLATION} = "
                + ratio_text(hybrids[-1], ABLATION, mode)[1]
            )
    for mode in ("all_items", "new_items"):
        cold_metric = f"cold_recall@{K}"
        found = {n: rows[n]["test"][mode].get(cold_metric, 0.0) for n in ours}
        baseline_cold = {n: rows[n]["test"][mode].get(cold_metric, 0.0) for n in baselines}
        ours_found = [n for n, v in found.items() if v > 0]
        none_from_ids = all(v == 0 for v in baseline_cold.values())
        baseline_text = ", ".join(f"{n} {v:.4f}" for n, v in baseline_cold.items())
        lines.append(
            f"{mode}: cold items found by ours: "
            + (", ".join(f"{n} {found[n]:.4f}" for n in ours_found) if ours_found else "none")
            + "; ID-only baselines: "
            + ("none find any" if none_from_ids else baseline_text)
            + (" -> yes, ours finds cold items where they find none" if ours_found and none_from_ids else "")
        )
    return lines


def _json_rows(rows: dict[str, dict], headline: str) -> dict[str, dict[str, float]]:
    out = {}
    for name, row in rows.items():
        values = {key: float(value) for key, value in row["test"]["all_items"].items()}
        values.update({f"new_items:{key}": float(value) for key, value in row["test"]["new_items"].items()})
        values.update({f"validation:{key}": float(value) for key, value in row["validation"].items()})
        values["train_seconds"] = float(row["seconds"])
        out[name] = values
    return out


def _loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


if __name__ == "__main__":
    sys.exit(main())
