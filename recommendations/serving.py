"""What serves a tenant right now: its live model and its catalog, loaded once per process.

Each request reads a small `ServingState` (the live version, the catalog's and
the new items' revisions, the merchant's rules) from the cache; it is rebuilt
from the database every RECOMMENDATIONS_STATE_SECONDS, and dropped at once when
a version is promoted or rolled back. The heavy parts (the model's arrays, the
catalog) are keyed by those revisions in process memory, so a promotion, a
rollback or a stock change is served within seconds and no restart is needed.

A model that cannot be loaded (no folder, corrupt files) is logged once and
left alone for RECOMMENDATIONS_RETRY_BROKEN_SECONDS; meanwhile popularity
answers. A model problem never becomes a 500.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max

from catalog.models import Product
from recommendations.engine.cache import MemoryBoundedLRU
from recommendations.engine.catalog import ServingCatalog
from recommendations.engine.model import ServingModel, load_serving_model
from recommendations.models import ItemEmbedding, RankingRule, RuleAction
from recommendations.selectors.popularity import trending_counts
from tenants.models import Tenant
from training.models import ModelVersion, VersionStatus

logger = logging.getLogger(__name__)

PRODUCT_ANSWER_FIELDS = (
    "external_id", "title", "category", "brand", "price", "currency", "in_stock", "attributes",
)
CATALOG_CACHE_BYTES = 256 * 1024**2


@dataclass(frozen=True)
class ServingState:
    tenant_id: int
    version_id: int | None
    version_number: int | None
    artifact_path: str
    embeddings_revision: str
    catalog_revision: str
    # (field, value, action, strength) of each ranking rule
    rules: tuple[tuple[str, str, str, float], ...] = ()


def _state_key(tenant_id: int) -> str:
    return f"recommendations:state:{tenant_id}"


def serving_state(*, tenant: Tenant) -> ServingState:
    state = cache.get(_state_key(tenant.pk))
    if state is None:
        state = _read_state(tenant)
        cache.set(_state_key(tenant.pk), state, settings.RECOMMENDATIONS_STATE_SECONDS)
    return state


def serving_state_forget(*, tenant_id: int) -> None:
    """Serve from the database's truth on the next request (after a promotion or a rollback)."""
    cache.delete(_state_key(tenant_id))


def _read_state(tenant: Tenant) -> ServingState:
    live = ModelVersion.objects.filter(tenant=tenant, status=VersionStatus.LIVE).first()
    products = Product.objects.filter(tenant=tenant).aggregate(count=Count("id"), updated=Max("updated_at"))
    embeddings_revision = ""
    if live is not None:
        extras = ItemEmbedding.objects.filter(tenant=tenant, model_version=live).aggregate(
            count=Count("id"), newest=Max("id")
        )
        embeddings_revision = f"{extras['count']}:{extras['newest']}"
    rules = tuple(
        RankingRule.objects.filter(tenant=tenant).values_list("field", "value", "action", "strength")
    )
    return ServingState(
        tenant_id=tenant.pk,
        version_id=live.pk if live else None,
        version_number=live.number if live else None,
        artifact_path=live.artifact_path if live else "",
        embeddings_revision=embeddings_revision,
        catalog_revision=f"{products['count']}:{products['updated']}",
        rules=rules,
    )


_catalogs: MemoryBoundedLRU[ServingCatalog] = MemoryBoundedLRU(CATALOG_CACHE_BYTES, lambda c: c.nbytes)


def serving_catalog(*, tenant: Tenant, state: ServingState) -> ServingCatalog:
    def load() -> ServingCatalog:
        _catalogs.discard_where(lambda key: key[0] == tenant.pk)  # an older revision of this catalog
        products = Product.objects.filter(tenant=tenant).order_by("id").values(*PRODUCT_ANSWER_FIELDS)
        return ServingCatalog(
            [{**p, "price": None if p["price"] is None else str(p["price"])} for p in products],
            revision=state.catalog_revision,
        )

    return _catalogs.get_or_load((tenant.pk, state.catalog_revision), load)


_models: MemoryBoundedLRU[ServingModel] = MemoryBoundedLRU(
    settings.RECOMMENDATIONS_MODEL_CACHE_BYTES, lambda model: model.nbytes
)
_broken_since: dict[tuple[int, int], float] = {}
_broken_lock = threading.Lock()


def serving_model(*, tenant: Tenant, state: ServingState) -> ServingModel | None:
    """The tenant's live model, or None when there is none or it cannot be loaded."""
    if state.version_id is None:
        return None
    version_key = (tenant.pk, state.version_id)
    with _broken_lock:
        failed_at = _broken_since.get(version_key)
    if failed_at is not None and time.monotonic() - failed_at < settings.RECOMMENDATIONS_RETRY_BROKEN_SECONDS:
        return None

    def load() -> ServingModel:
        # The same version without its newest items; other versions (experiments) stay.
        _models.discard_where(lambda key: key[:2] == version_key)
        extra_ids, extra_vectors = [], []
        rows = ItemEmbedding.objects.filter(tenant=tenant, model_version_id=state.version_id).values_list(
            "product__external_id", "vector"
        )
        for external_id, vector in rows:
            extra_ids.append(external_id)
            extra_vectors.append(np.frombuffer(bytes(vector), dtype=np.float32))
        return load_serving_model(
            state.artifact_path,
            number=state.version_number,
            extra_item_ids=extra_ids,
            extra_embeddings=np.stack(extra_vectors) if extra_vectors else None,
        )

    try:
        model = _models.get_or_load((tenant.pk, state.version_id, state.embeddings_revision), load)
    except Exception:
        with _broken_lock:
            first_failure = version_key not in _broken_since
            _broken_since[version_key] = time.monotonic()
        if first_failure:
            logger.exception(
                "tenant %s: model v%s at %s cannot be loaded; popularity answers until it can",
                tenant.pk, state.version_number, state.artifact_path,
            )
        return None
    with _broken_lock:
        _broken_since.pop(version_key, None)
    return model


_popularity: dict[int, tuple[float, str, np.ndarray]] = {}
_popularity_lock = threading.Lock()


def popularity_scores(*, tenant: Tenant, catalog: ServingCatalog) -> np.ndarray:
    """log(1 + trending count) per catalog row; kept in process for RECOMMENDATIONS_TRENDING_CACHE_SECONDS."""
    now = time.monotonic()
    with _popularity_lock:
        memo = _popularity.get(tenant.pk)
    if memo is not None and memo[0] > now and memo[1] == catalog.revision:
        return memo[2]
    counts = trending_counts(tenant=tenant)
    scores = np.zeros(len(catalog), dtype=np.float32)
    for sku, count in counts.items():
        row = catalog.index.get(sku)
        if row is not None:
            scores[row] = np.log1p(count)
    with _popularity_lock:
        _popularity[tenant.pk] = (now + settings.RECOMMENDATIONS_TRENDING_CACHE_SECONDS, catalog.revision, scores)
    return scores


def rule_shifts(state: ServingState, catalog: ServingCatalog) -> list[tuple[np.ndarray, float]]:
    """The merchant's rules as (mask over the catalog, signed shift) for `ranking.shift_by_rules`."""
    shifts = []
    for field, value, action, strength in state.rules:
        mask = catalog.category_mask(value) if field == "category" else catalog.brand_mask(value)
        shifts.append((mask, strength if action == RuleAction.BOOST else -strength))
    return shifts


def forget_everything() -> None:
    """Drop every process-level cache (tests, and a shell after moving artifacts)."""
    _catalogs.clear()
    _models.clear()
    with _broken_lock:
        _broken_since.clear()
    with _popularity_lock:
        _popularity.clear()
