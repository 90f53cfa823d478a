"""Writes for serving: embeddings of products added after a version was trained."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from django.db import transaction

from catalog.models import Product
from recommendations.models import ItemEmbedding
from recommendations.serving import serving_state_forget
from tenants.models import Tenant
from training.ml.artifacts import load_version
from training.ml.data import item_text
from training.models import ModelVersion
from training.services.jobs import base_model_search_folders

EMBEDDING_BATCH = 256


def item_embeddings_refresh(*, tenant: Tenant, version: ModelVersion) -> int:
    """Embed, with the version's own encoder, every product that version has no embedding for.

    Returns how many products were embedded. Products already embedded are
    skipped, so running it twice is harmless.
    """
    # The version's own items, read without loading the version (most calls find nothing to embed).
    trained_ids = json.loads((Path(version.artifact_path) / "item_ids.json").read_text())
    known = set(trained_ids) | set(
        ItemEmbedding.objects.filter(tenant=tenant, model_version=version).values_list(
            "product__external_id", flat=True
        )
    )
    products = [
        product
        for product in Product.objects.filter(tenant=tenant).only(
            "id", "external_id", "title", "category", "brand", "description"
        )
        if product.external_id not in known
    ]
    if not products:
        return 0
    loaded = load_version(version.artifact_path, base_model_search=base_model_search_folders(tenant))
    for start in range(0, len(products), EMBEDDING_BATCH):
        batch = products[start : start + EMBEDDING_BATCH]
        texts = [
            item_text({field: getattr(p, field) for field in ("title", "category", "brand", "description")})
            for p in batch
        ]
        vectors = loaded.encode_texts(texts).astype(np.float32)
        with transaction.atomic():
            ItemEmbedding.objects.bulk_create(
                [
                    ItemEmbedding(
                        tenant=tenant, model_version=version, product=product, vector=vector.tobytes()
                    )
                    for product, vector in zip(batch, vectors)
                ],
                ignore_conflicts=True,  # a concurrent run embedded it first
            )
    serving_state_forget(tenant_id=tenant.pk)
    return len(products)
