import numpy as np
import torch

from training.ml.model import ItemTokens, build_model, encode_items, shopper_vectors
from training.ml.scorer import user_vectors


def test_batches_are_padded_to_their_longest_item_not_to_a_fixed_length(tiny_config):
    model = build_model(tiny_config)
    texts = ["brie", "dark roast coffee | coffee | Bean Co | ground coffee beans with a rich aroma"]
    tokens = ItemTokens(texts, model.tokenizer, max_tokens=16)
    assert tokens.lengths.tolist() == [3, 16]  # [CLS] brie [SEP]; the long one truncated to max_tokens
    short = tokens.batch([0])
    assert short["input_ids"].shape == (1, 3)
    both = tokens.batch([0, 1])
    assert both["input_ids"].shape == (2, 16)
    assert both["attention_mask"][0].tolist() == [1, 1, 1] + [0] * 13


def test_encoding_in_length_order_keeps_the_catalog_order(tiny_config, shop):
    model = build_model(tiny_config)
    tokens = ItemTokens(shop.catalog.texts, model.tokenizer, tiny_config.max_tokens)
    batched = encode_items(model, tokens, batch_size=7)
    one_by_one = np.stack([encode_items(model, tokens, [i], batch_size=1)[0] for i in range(len(tokens))])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)


def test_lora_trains_only_the_adapters(tiny_config):
    model = build_model(tiny_config)
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)
    assert {name.split(".")[-4] for name in trainable} == {"query", "value"}


def test_full_fine_tuning_freezes_the_lowest_layers(tiny_config):
    model = build_model(tiny_config.replace(method="full", freeze_layers=1))
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert any(".embeddings." in name for name in frozen)
    assert any(".layer.0." in name for name in frozen)
    assert trainable and all(".layer.0." not in name and ".embeddings." not in name for name in trainable)
    assert any(".layer.1." in name for name in trainable)


def test_training_and_serving_build_the_same_shopper_vector():
    rng = np.random.default_rng(0)
    items = rng.normal(size=(6, 4)).astype(np.float32)
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    histories = [[0, 3, 5], [2], [1, 1, 4, 0]]
    served = user_vectors(histories, items, history_length=10, recency_decay=0.8)
    trained = shopper_vectors(histories, torch.from_numpy(items), {i: i for i in range(6)}, recency_decay=0.8)
    np.testing.assert_allclose(served, trained.numpy(), atol=1e-6)
    # The newest item weighs most.
    assert served[0] @ items[5] > served[0] @ items[0]
