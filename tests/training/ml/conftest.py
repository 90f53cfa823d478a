"""A tiny shop and a tiny encoder, so the ML core is tested end to end in seconds on a CPU.

The shop: 60 items in 6 categories with words that say what they are, 40
shoppers who mostly stay in one category, popular and less popular items, and
re-buys. Two items per category are launched only in the test window: they
are cold (no training interaction), and only their text can recommend them.

The encoder: a 2-layer BERT (hidden size 32) built from a config with random
weights, and a WordPiece tokenizer whose vocabulary is the shop's words, saved
to a folder that loads like a real local model folder.
"""

import os
import re

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch

from training.ml.config import TrainConfig

# The tiny encoder gains nothing from a second thread, and on a busy 2-core machine it loses a lot.
torch.set_num_threads(1)

CATEGORIES = {
    "coffee": (
        [
            "dark roast",
            "espresso",
            "decaf",
            "arabica",
            "mocha",
            "instant",
            "cold brew",
            "french roast",
            "single origin",
            "breakfast blend",
        ],
        ["Bean Co", "Roastery"],
        "ground coffee beans with a rich aroma",
    ),
    "tea": (
        [
            "green",
            "black",
            "earl grey",
            "chamomile",
            "mint",
            "jasmine",
            "oolong",
            "rooibos",
            "chai",
            "matcha",
        ],
        ["Leaf House", "Tea Garden"],
        "loose leaf tea for a calm cup",
    ),
    "pasta": (
        [
            "spaghetti",
            "penne",
            "fusilli",
            "lasagne",
            "linguine",
            "rigatoni",
            "farfalle",
            "macaroni",
            "tagliatelle",
            "orzo",
        ],
        ["Nonna", "Pasta Mill"],
        "durum wheat pasta cooked al dente",
    ),
    "cheese": (
        [
            "cheddar",
            "brie",
            "gouda",
            "parmesan",
            "feta",
            "mozzarella",
            "camembert",
            "gruyere",
            "stilton",
            "halloumi",
        ],
        ["Dairy Farm", "Creamery"],
        "aged cheese from cow milk",
    ),
    "shampoo": (
        [
            "volume",
            "repair",
            "anti dandruff",
            "herbal",
            "coconut",
            "argan oil",
            "baby",
            "clarifying",
            "colour care",
            "tea tree",
        ],
        ["Silk Hair", "Pure Care"],
        "hair shampoo that cleans the scalp",
    ),
    "dog food": (
        [
            "puppy",
            "senior",
            "grain free",
            "salmon",
            "chicken",
            "lamb",
            "small breed",
            "large breed",
            "dental chews",
            "wet",
        ],
        ["Happy Paws", "Canine Chef"],
        "dog food for a healthy pet",
    ),
}
START = pd.Timestamp("2025-01-01")
LAUNCH_DAY = (
    91.0  # items 8 and 9 of each category exist from here on: the test window (last 10 % of 100 days)
)


def make_items() -> pd.DataFrame:
    rows = []
    for category, (names, brands, description) in CATEGORIES.items():
        for position, name in enumerate(names):
            rows.append(
                {
                    "item_id": f"{category.replace(' ', '-')}-{position}",
                    "title": f"{name} {category}",
                    "category": category,
                    "brand": brands[position % 2],
                    "description": description,
                }
            )
    return pd.DataFrame(rows)


def make_interactions(
    items: pd.DataFrame, n_shoppers: int = 40, events: int = 16, seed: int = 0
) -> pd.DataFrame:
    """Shoppers who shop one "mission" (two categories) 90 % of the time, prefer best sellers, and re-buy.

    The two categories of a mission share no words (coffee with cheese, tea with
    shampoo, pasta with dog food), so an untrained encoder only knows half of
    what a shopper wants; fine-tuning has to learn the other half.
    """
    rng = np.random.default_rng(seed)
    categories = list(CATEGORIES)
    missions = [("coffee", "cheese"), ("tea", "shampoo"), ("pasta", "dog food")]
    by_category = {c: items.index[items["category"] == c].to_numpy() for c in categories}
    popularity = 1.0 / np.arange(1, 11)  # item 0 of a category is the best seller
    rows = []
    for shopper in range(n_shoppers):
        mission = missions[shopper % len(missions)]
        days = np.sort(rng.uniform(0, 100, size=events))
        bought: list[int] = []
        for day in days:
            launched = 10 if day >= LAUNCH_DAY else 8
            if bought and rng.random() < 0.25:
                item = bought[rng.integers(len(bought))]
            else:
                if rng.random() < 0.9:
                    category = mission[rng.integers(2)]
                else:
                    category = categories[rng.integers(len(categories))]
                weights = popularity[:launched] / popularity[:launched].sum()
                if day >= LAUNCH_DAY and rng.random() < 0.5:  # new items get attention when they launch
                    weights = np.array([0.0] * 8 + [0.5, 0.5])
                item = by_category[category][rng.choice(launched, p=weights)]
            bought.append(item)
            rows.append(
                {
                    "user_id": f"shopper-{shopper}",
                    "item_id": items.at[item, "item_id"],
                    "timestamp": START + pd.Timedelta(days=float(day)),
                    "event_type": "purchase",
                }
            )
    # Pin the time range to exactly 100 days, so the windows are where the docstrings say.
    rows[0]["timestamp"], rows[-1]["timestamp"] = START, START + pd.Timedelta(days=100)
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def shop_items() -> pd.DataFrame:
    return make_items()


@pytest.fixture(scope="session")
def shop_interactions(shop_items) -> pd.DataFrame:
    return make_interactions(shop_items)


@pytest.fixture(scope="session")
def shop(shop_items, shop_interactions):
    from training.ml.data import prepare_dataset

    return prepare_dataset(shop_interactions, shop_items, validation_fraction=0.1, test_fraction=0.1)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, shop_items) -> str:
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    words = set()
    for text in shop_items[["title", "category", "brand", "description"]].astype(str).agg(" ".join, axis=1):
        words.update(re.findall(r"[a-z0-9]+", text.lower()))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "|"] + sorted(words)
    folder = tmp_path_factory.mktemp("tiny-bert")
    BertTokenizer(vocab={word: index for index, word in enumerate(vocab)}).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(folder)
    return str(folder)


def tiny_training_settings(base_model: str, **changes) -> dict:
    """Settings that train the tiny encoder in about a second: the ML tests' and the jobs' alike."""
    return {
        "base_model": base_model, "method": "lora", "lora_rank": 4, "lora_alpha": 8, "lora_dropout": 0.0,
        "learning_rate": 1e-2, "batch_size": 32, "epochs": 3, "max_tokens": 16, "history_length": 10,
        "temperature": 0.1, "early_stopping_patience": 0, "seed": 0, "device": "cpu", **changes,
    }


@pytest.fixture
def tiny_config(tiny_model_dir) -> TrainConfig:
    return TrainConfig(**tiny_training_settings(tiny_model_dir))


@pytest.fixture(scope="session")
def lora_outcome(tiny_model_dir, shop_items, shop_interactions):
    """A LoRA fine-tuning job run end to end on the tiny shop (trained once for the whole session)."""
    from training.ml.pipeline import fine_tune

    config = TrainConfig(**tiny_training_settings(tiny_model_dir, epochs=2))
    return fine_tune(config, shop_interactions, shop_items)


@pytest.fixture(scope="session")
def lora_version_dir(lora_outcome, tmp_path_factory):
    from training.ml.artifacts import save_version

    return save_version(tmp_path_factory.mktemp("versions") / "lora-v1", **lora_outcome.version_parts())
