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
from experiments.assignment import assign
from experiments.models import Experiment, ExperimentStatus, Variant
from recommendations.engine.cache import MemoryBoundedLRU
from recommendations.engine.catalog import ServingCatalog
from recommendations.engine.model import ServingModel, load_serving_model
from recommendations.models import ItemEmbedding, RankingRule, RuleAction
from recommendations.selectors.popularity import trending_counts
from tenants.models import Tenant
from training.models import ModelVersion, VersionStatus
from training.services.jobs import base_model_search_folders

logger = logging.getLogger(__name__)

PRODUCT_ANSWER_FIELDS = (
    "external_id",
    "title",
    "category",
    "brand",
    "price",
    "currency",
    "in_stock",
    "attributes",
)
CATALOG_CACHE_BYTES = 256 * 1024**2


@dataclass(frozen=True)
class VersionRef:
    """A model version as serving needs it: where its artifacts are, and how many items were added since."""

    version_id: int
    number: int
    artifact_path: str
    embeddings_revision: str


@dataclass(frozen=True)
class VariantRef:
    name: str
    kind: str  # experiments.models.VariantKind
    weight: float
    version: VersionRef | None  # for the model_version kind


@dataclass(frozen=True)
class ExperimentRef:
    experiment_id: int
    key: str
    salt: str
    traffic_share: float
    variants: tuple[VariantRef, ...]

    def variant_for(self, shopper_id: str) -> VariantRef | None:
        """The shopper's variant, or None outside the experiment's share of traffic."""
        name = assign(
            self.salt,
            shopper_id,
            traffic_share=self.traffic_share,
            variants=[(variant.name, variant.weight) for variant in self.variants],
        )
        return next((variant for variant in self.variants if variant.name == name), None)


@dataclass(frozen=True)
class ServingState:
    tenant_id: int
    live: VersionRef | None
    catalog_revision: str
    # (field, value, action, strength) of each ranking rule
    rules: tuple[tuple[str, str, str, float], ...] = ()
    experiment: ExperimentRef | None = None


def _state_key(tenant_id: int) -> str:
    return f"recommendations:state:{tenant_id}"


def serving_state(*, tenant: Tenant) -> ServingState:
    state = cache.get(_state_key(tenant.pk))
    if state is None:
        state = _read_state(tenant)
        cache.set(_state_key(tenant.pk), state, settings.RECOMMENDATIONS_STATE_SECONDS)
    return state


def serving_state_forget(*, tenant_id: int) -> None:
    """Serve from the database's truth on the next request (after a promotion, a rollback, a new rule...)."""
    cache.delete(_state_key(tenant_id))


def _version_ref(tenant: Tenant, version: ModelVersion) -> VersionRef:
    extras = ItemEmbedding.objects.filter(tenant=tenant, model_version=version).aggregate(
        count=Count("id"), newest=Max("id")
    )
    return VersionRef(
        version_id=version.pk,
        number=version.number,
        artifact_path=version.artifact_path,
        embeddings_revision=f"{extras['count']}:{extras['newest']}",
    )


def _experiment_ref(tenant: Tenant) -> ExperimentRef | None:
    experiment = Experiment.objects.filter(tenant=tenant, status=ExperimentStatus.RUNNING).first()
    if experiment is None:
        return None
    variants = experiment.variants.select_related("model_version").order_by("position")
    return ExperimentRef(
        experiment_id=experiment.pk,
        key=experiment.key,
        salt=experiment.salt,
        traffic_share=experiment.traffic_share,
        variants=tuple(
            VariantRef(
                name=variant.name,
                kind=variant.kind,
                weight=variant.weight,
                version=_version_ref(tenant, variant.model_version) if variant.model_version else None,
            )
            for variant in variants
        ),
    )


def _read_state(tenant: Tenant) -> ServingState:
    live = ModelVersion.objects.filter(tenant=tenant, status=VersionStatus.LIVE).first()
    products = Product.objects.filter(tenant=tenant).aggregate(count=Count("id"), updated=Max("updated_at"))
    rules = tuple(
        RankingRule.objects.filter(tenant=tenant).values_list("field", "value", "action", "strength")
    )
    return ServingState(
        tenant_id=tenant.pk,
        live=_version_ref(tenant, live) if live else None,
        catalog_revision=f"{products['count']}:{products['updated']}",
        rules=rules,
        experiment=_experiment_ref(tenant),
    )


def served_versions(*, tenant: Tenant) -> list[ModelVersion]:
    """The versions that may answer a request now: the live one and a running experiment's."""
    versions = list(ModelVersion.objects.filter(tenant=tenant, status=VersionStatus.LIVE))
    versions += [
        variant.model_version
        for variant in Variant.objects.filter(
            tenant=tenant, experiment__status=ExperimentStatus.RUNNING, model_version__isnull=False
        ).select_related("model_version")
    ]
    return list({version.pk: version for version in versions}.values())


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


def serving_model(*, tenant: Tenant, version: VersionRef | None) -> ServingModel | None:
    """The loaded model of a version (the live one, or an experiment's), or None when there is
    none or it cannot be loaded."""
    if version is None:
        return None
    version_key = (tenant.pk, version.version_id)
    with _broken_lock:
        failed_at = _broken_since.get(version_key)
    if failed_at is not None and time.monotonic() - failed_at < settings.RECOMMENDATIONS_RETRY_BROKEN_SECONDS:
        return None

    def load() -> ServingModel:
        # The same version without its newest items; other versions (experiments) stay.
        _models.discard_where(lambda key: key[:2] == version_key)
        extra_ids, extra_vectors = [], []
        rows = ItemEmbedding.objects.filter(tenant=tenant, model_version_id=version.version_id).values_list(
            "product__external_id", "vector"
        )
        for external_id, vector in rows:
            extra_ids.append(external_id)
            extra_vectors.append(np.frombuffer(bytes(vector), dtype=np.float32))
        return load_serving_model(
            version.artifact_path,
            number=version.number,
            base_model_search=base_model_search_folders(tenant),
            extra_item_ids=extra_ids,
            extra_embeddings=np.stack(extra_vectors) if extra_vectors else None,
        )

    try:
        model = _models.get_or_load((tenant.pk, version.version_id, version.embeddings_revision), load)
    except Exception:
        with _broken_lock:
            first_failure = version_key not in _broken_since
            _broken_since[version_key] = time.monotonic()
        if first_failure:
            logger.exception(
                "tenant %s: model v%s at %s cannot be loaded; popularity answers until it can",
                tenant.pk,
                version.number,
                version.artifact_path,
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
        # Only tenants served within the cache's lifetime are kept: one array a tenant adds up.
        for stale in [key for key, (expires, _revision, _scores) in _popularity.items() if expires <= now]:
            del _popularity[stale]
        _popularity[tenant.pk] = (
            now + settings.RECOMMENDATIONS_TRENDING_CACHE_SECONDS,
            catalog.revision,
            scores,
        )
    return scores


def rule_shifts(state: ServingState, catalog: ServingCatalog) -> list[tuple[np.ndarray, float]]:
    """The merchant's rules as (mask over the catalog, signed shift) for `ranking.shift_by_rules`."""
    shifts = []
    for field, value, action, strength in state.rules:
        mask = catalog.category_mask(value) if field == "category" else catalog.brand_mask(value)
        shifts.append((mask, strength if action == RuleAction.BOOST else -strength))
    return shifts


def engine_caches() -> dict[str, MemoryBoundedLRU]:
    """The process's serving caches by name, for metrics: read them, never change them."""
    return {"models": _models, "catalogs": _catalogs}


def forget_everything() -> None:
    """Drop every process-level cache (tests, and a shell after moving artifacts)."""
    _catalogs.clear()
    _models.clear()
    with _broken_lock:
        _broken_since.clear()
    with _popularity_lock:
        _popularity.clear()
