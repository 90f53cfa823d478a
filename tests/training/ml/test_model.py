import numpy as np
import pytest
import torch

from training.ml.model import ItemTokens, build_model, encode_items, in_batch_loss, shopper_vectors
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


def _long_histories_batch():
    # Histories longer than GRADIENT_HISTORY_ITEMS, so each has items that get no gradient.
    histories = [[0, 1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12, 13]]
    targets = np.array([14, 15])
    return histories, targets


def test_with_a_memory_bank_older_history_items_are_read_from_it_not_encoded(tiny_config, shop):
    model = build_model(tiny_config)
    model.eval()  # no dropout: the two losses differ only by where the older items come from
    tokens = ItemTokens(shop.catalog.texts, model.tokenizer, tiny_config.max_tokens)
    histories, targets = _long_histories_batch()
    encoded = torch.from_numpy(encode_items(model, tokens))
    settings = {"temperature": 0.05, "recency_decay": 0.8}
    encoded_items = []
    real_forward = model.forward
    model.forward = lambda **batch: encoded_items.append(batch["input_ids"].shape[0]) or real_forward(**batch)

    same_as_encoding = in_batch_loss(model, tokens, histories, targets, bank=encoded.clone(), **settings)
    older_items_zeroed = encoded.clone()
    older_items_zeroed[[0, 1, 2, 7, 8, 9]] = 0.0
    without_them = in_batch_loss(model, tokens, histories, targets, bank=older_items_zeroed, **settings)

    # Only the gradient items (2 targets + 4 newest of each history) went through the model.
    assert encoded_items == [10, 10]
    reference = in_batch_loss(model, tokens, histories, targets, **settings)
    assert float(same_as_encoding.detach()) == pytest.approx(float(reference.detach()), abs=1e-4)
    assert float(without_them.detach()) != pytest.approx(float(reference.detach()), abs=1e-4)


def test_a_step_writes_its_fresh_vectors_back_into_the_bank(tiny_config, shop):
    model = build_model(tiny_config)
    tokens = ItemTokens(shop.catalog.texts, model.tokenizer, tiny_config.max_tokens)
    histories, targets = _long_histories_batch()
    bank = torch.zeros((len(tokens), 32))

    in_batch_loss(model, tokens, histories, targets, temperature=0.05, recency_decay=0.8, bank=bank)

    refreshed = {int(i) for i in torch.nonzero(bank.abs().sum(dim=1)).flatten()}
    assert refreshed == {3, 4, 5, 6, 10, 11, 12, 13, 14, 15}


def test_the_logq_correction_lowers_each_candidates_logit_by_its_log_sampling_probability(
    tiny_config, shop, monkeypatch
):
    import training.ml.model as model_module

    model = build_model(tiny_config)
    model.eval()
    tokens = ItemTokens(shop.catalog.texts, model.tokenizer, tiny_config.max_tokens)
    histories, targets = _long_histories_batch()
    logits_seen = []
    real_cross_entropy = model_module.F.cross_entropy
    monkeypatch.setattr(
        model_module.F,
        "cross_entropy",
        lambda logits, labels: logits_seen.append(logits.detach()) or real_cross_entropy(logits, labels),
    )
    log_q = torch.zeros(len(tokens))
    log_q[14], log_q[15] = 1.5, -0.5  # target 14 is the popular one

    plain = in_batch_loss(model, tokens, histories, targets, temperature=0.05, recency_decay=0.8)
    corrected = in_batch_loss(
        model, tokens, histories, targets, temperature=0.05, recency_decay=0.8, log_q=log_q
    )

    # Column j is candidate j (the batch's j-th target), in every row.
    expected = logits_seen[0] - torch.tensor([[1.5, -0.5]])
    torch.testing.assert_close(logits_seen[1], expected)
    # Shopper 0's own target is the popular one, so its loss grows; a uniform log q changes nothing.
    assert float(corrected.detach()) != pytest.approx(float(plain.detach()))
    uniform = in_batch_loss(
        model,
        tokens,
        histories,
        targets,
        temperature=0.05,
        recency_decay=0.8,
        log_q=torch.full((len(tokens),), -3.0),
    )
    assert float(uniform.detach()) == pytest.approx(float(plain.detach()), abs=1e-5)


def test_sampling_probabilities_are_each_items_share_of_the_targets_with_no_minus_infinity():
    from training.ml.loop import target_log_probabilities

    log_q = target_log_probabilities(np.array([0, 0, 1]), 3)

    torch.testing.assert_close(log_q, torch.log(torch.tensor([2.0, 1.0, 0.5]) / 3.5))
