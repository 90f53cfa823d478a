"""The three answers a storefront asks for: products for a shopper, products like one, search results.

Each is a read: the scores come from the tenant's live model when it can
answer, from popularity otherwise (`fallback`), then pass through the same
filters and the merchant's rules. Recording what was served is the caller's
job (`recommendations.attribution`), so the "try it" page can show answers
without logging them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from django.db import models
from django.utils.translation import gettext_lazy as _

from experiments.models import VariantKind
from recommendations.engine.catalog import ServingCatalog
from recommendations.engine.model import EncoderUnavailable, ServingModel
from recommendations.engine.ranking import (
    lead_with,
    maximal_marginal_relevance,
    reciprocal_rank_fusion,
    shift_by_rules,
    top_k,
)
from recommendations.selectors.explanations import (
    Diversity,
    Explanation,
    LeftOut,
    diversity_explained,
    explanation_build,
    left_out_count,
    rule_refs,
)
from recommendations.selectors.search import lexical_search
from recommendations.selectors.shoppers import ShopperHistory, shopper_history
from recommendations.serving import (
    ServingState,
    VersionRef,
    popularity_scores,
    rule_shifts,
    serving_catalog,
    serving_model,
    serving_state,
)
from tenants.models import Tenant

MAX_LIMIT = 100
# The most SKUs a request may leave out (`exclude`): a cart's, a page's already shown.
MAX_EXCLUDE = 500
# Diversity re-ranks this many times `limit` of the best candidates.
DIVERSITY_POOL = 5
# Search fuses this many of the best lexical and semantic matches.
SEARCH_POOL = 100
# The shopper's own scores count half as much as the query's in a personalised search.
SEARCH_PERSONAL_WEIGHT = 0.5


class FallbackReason(models.TextChoices):
    NO_LIVE_MODEL = "no_live_model", _("No model is live yet")
    MODEL_UNAVAILABLE = "model_unavailable", _("The live model could not be loaded")
    NEW_SHOPPER = "new_shopper", _("A shopper without history: trending products")
    UNKNOWN_TO_MODEL = "unknown_to_model", _("The model does not know this product yet")
    POPULARITY_VARIANT = "popularity_variant", _("The shopper's experiment variant is popularity")


class UnknownProduct(LookupError):
    """No product with this SKU in the tenant's catalog."""

    def __init__(self, external_id: str):
        super().__init__(external_id)
        self.external_id = external_id


@dataclass
class Answer:
    products: list[dict]  # the product's answer fields and its "score", best first
    model_version: int | None
    fallback: bool
    fallback_reason: str = ""
    variant: str = ""
    experiment_id: int | None = None  # the running experiment the shopper is in
    # Search only: how many in-stock products hold the query's words (up to SEARCH_POOL). 0 with a
    # model: the items are the model's closest by meaning alone, which a shopper should be told.
    word_matches: int | None = None
    recommendation_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # Only when the caller asked (`explain=True`): never part of what a storefront is sent.
    explanation: Explanation | None = None

    @property
    def product_ids(self) -> list[str]:
        return [product["external_id"] for product in self.products]


def _answer(catalog: ServingCatalog, rows: Sequence[int], scores: Sequence[float], **kwargs) -> Answer:
    products = [
        {**catalog.products[row], "score": round(float(score), 6)} for row, score in zip(rows, scores)
    ]
    return Answer(products=products, **kwargs)


def _model_or_reason(tenant: Tenant, version: VersionRef | None) -> tuple[ServingModel | None, str]:
    if version is None:
        return None, FallbackReason.NO_LIVE_MODEL
    model = serving_model(tenant=tenant, version=version)
    return model, "" if model is not None else FallbackReason.MODEL_UNAVAILABLE


def _with_unknown_after_known(scores: np.ndarray, *, tenant: Tenant, catalog: ServingCatalog) -> np.ndarray:
    """Products the model has no vector for yet (added since it was trained, before their
    embeddings are computed) score below every product it knows, in order of popularity,
    instead of not at all: a list that the model cannot fill is filled, not cut short."""
    unknown = ~np.isfinite(scores)
    if not unknown.any():
        return scores
    known = scores[~unknown]
    floor = float(known.min()) if known.size else 0.0
    popularity = popularity_scores(tenant=tenant, catalog=catalog)
    scale = float(popularity.max()) or 1.0
    filled = scores.copy()
    filled[unknown] = floor - 1.0 + popularity[unknown] / (scale * 2)  # within (floor - 1, floor - 0.5]
    return filled


def _category_vectors(catalog: ServingCatalog, rows: np.ndarray) -> np.ndarray:
    """One-hot category rows: without a model's embeddings, diversity means other categories."""
    categories = [catalog.products[row].get("category") or "" for row in rows]
    columns = {category: i for i, category in enumerate(dict.fromkeys(categories))}
    vectors = np.zeros((len(rows), max(1, len(columns))), dtype=np.float32)
    vectors[np.arange(len(rows)), [columns[c] for c in categories]] = 1.0
    return vectors


def _rank(
    scores: np.ndarray,
    eligible: np.ndarray,
    *,
    limit: int,
    diversity: float,
    catalog: ServingCatalog,
    model: ServingModel | None,
) -> np.ndarray:
    if diversity <= 0:
        return top_k(scores, eligible, limit)
    pool = top_k(scores, eligible, limit * DIVERSITY_POOL)
    vectors = model.embeddings_for(pool, catalog) if model is not None else _category_vectors(catalog, pool)
    return maximal_marginal_relevance(pool, scores, vectors, limit, diversity)


def _explained(
    catalog: ServingCatalog,
    state: ServingState,
    *,
    rows: np.ndarray,
    unshifted: np.ndarray,
    ranked: Callable[[np.ndarray], np.ndarray],
    left_out: LeftOut,
    diversity: Diversity | None = None,
) -> Explanation:
    """`unshifted`: the scores before the rules shifted them; `ranked`: the request's own ranking,
    applied to them to find the list the rules changed."""
    shifts = rule_shifts(state, catalog)
    return explanation_build(
        catalog,
        rows=rows,
        rules=rule_refs(state),
        shifts=shifts,
        rows_without_rules=ranked(unshifted) if shifts else rows,
        left_out=left_out,
        diversity=diversity,
    )


def _recommendation_explained(
    catalog: ServingCatalog,
    state: ServingState,
    *,
    rows: np.ndarray,
    scores: np.ndarray,
    unshifted: np.ndarray,
    eligible: np.ndarray,
    model: ServingModel | None,
    limit: int,
    diversity: float,
    left_out: LeftOut,
) -> Explanation:
    """Why `recommendation_list` served `rows`: `scores` as ranked, `unshifted` before the rules."""

    def ranked(some: np.ndarray) -> np.ndarray:
        return _rank(some, eligible, limit=limit, diversity=diversity, catalog=catalog, model=model)

    diversified = None
    if diversity > 0:
        diversified = diversity_explained(
            catalog,
            rows=rows,
            by_score=top_k(scores, eligible, limit),  # what _rank gives without diversity
            amount=diversity,
            by_model=model is not None,
            pool=min(limit * DIVERSITY_POOL, int((eligible & np.isfinite(scores)).sum())),
        )
    return _explained(
        catalog,
        state,
        rows=rows,
        unshifted=unshifted,
        ranked=ranked,
        left_out=left_out,
        diversity=diversified,
    )


def recommendation_list(
    *,
    tenant: Tenant,
    shopper_id: str = "",
    limit: int = 10,
    context_product: str = "",
    category: str = "",
    exclude: Sequence[str] = (),
    diversity: float = 0.0,
    explain: bool = False,
) -> Answer:
    """Products for a shopper, best first.

    A shopper the model knows is scored from their history, and the context
    product (the page they are on) counts as what they looked at last. A new
    shopper gets what the model makes of the context product, or, without
    one, trending products. Left out: products out of stock, in `exclude`,
    outside `category`, the context product itself, and what the shopper
    bought unless the tenant recommends re-buys. While an experiment runs, the
    shopper's variant decides what ranks: a model version, the live model, or
    popularity; shoppers outside its share of traffic get the live model.
    `explain`: the answer also says why (`Answer.explanation`), for the merchant's eyes.
    """
    state = serving_state(tenant=tenant)
    catalog = serving_catalog(tenant=tenant, state=state)
    if context_product and context_product not in catalog.index:
        raise UnknownProduct(context_product)
    history = shopper_history(tenant=tenant, shopper_id=shopper_id) if shopper_id else ShopperHistory()

    eligible = catalog.in_stock.copy()
    if category:
        eligible &= catalog.category_mask(category)
    left_out = list(exclude) + ([context_product] if context_product else [])
    if not tenant.recommend_purchased:
        left_out += history.purchased
    eligible[catalog.rows(left_out)] = False

    variant = state.experiment.variant_for(shopper_id) if state.experiment and shopper_id else None
    if variant is not None and variant.kind == VariantKind.POPULARITY:
        model, reason = None, FallbackReason.POPULARITY_VARIANT
    else:
        version = (
            variant.version
            if variant is not None and variant.kind == VariantKind.MODEL_VERSION
            else state.live
        )
        model, reason = _model_or_reason(tenant, version)
    signals = history.items + ([context_product] if context_product else [])
    if model is not None and any(model.knows(item) for item in signals):
        scores = _with_unknown_after_known(
            model.to_catalog(model.shopper_scores(signals), catalog), tenant=tenant, catalog=catalog
        )
        version = model.number
    else:
        if model is not None:
            reason = FallbackReason.NEW_SHOPPER if history.is_new else FallbackReason.UNKNOWN_TO_MODEL
        scores, version = popularity_scores(tenant=tenant, catalog=catalog), None
        if context_product:
            context_category = catalog.products[catalog.index[context_product]].get("category") or ""
            if context_category:
                scores = lead_with(scores, eligible, catalog.category_mask(context_category))
    unshifted, scores = scores, shift_by_rules(scores, eligible, rule_shifts(state, catalog))
    rows = _rank(scores, eligible, limit=limit, diversity=diversity, catalog=catalog, model=model)
    explanation = None
    if explain:
        explanation = _recommendation_explained(
            catalog,
            state,
            rows=rows,
            scores=scores,
            unshifted=unshifted,
            eligible=eligible,
            model=model,
            limit=limit,
            diversity=diversity,
            left_out=left_out_count(
                catalog,
                category_mask=catalog.category_mask(category) if category else None,
                context_product=context_product,
                exclude=exclude,
                purchased=[] if tenant.recommend_purchased else sorted(history.purchased),
            ),
        )
    return _answer(
        catalog,
        rows,
        scores[rows],
        model_version=version,
        fallback=version is None,
        fallback_reason=reason if version is None else "",
        variant=variant.name if variant is not None else "",
        experiment_id=state.experiment.experiment_id if variant is not None else None,
        explanation=explanation,
    )


def similar_product_list(*, tenant: Tenant, external_id: str, limit: int = 10) -> Answer:
    """Products to show beside one: what the model scores after it (its content, and what
    shoppers took with it); without the model, best sellers of its category. Raises UnknownProduct."""
    state = serving_state(tenant=tenant)
    catalog = serving_catalog(tenant=tenant, state=state)
    if external_id not in catalog.index:
        raise UnknownProduct(external_id)
    eligible = catalog.in_stock.copy()
    eligible[catalog.index[external_id]] = False
    model, reason = _model_or_reason(tenant, state.live)
    if model is not None and model.knows(external_id):
        scores = _with_unknown_after_known(
            model.to_catalog(model.shopper_scores([external_id]), catalog), tenant=tenant, catalog=catalog
        )
        version = model.number
    else:
        reason = reason or FallbackReason.UNKNOWN_TO_MODEL
        product_category = catalog.products[catalog.index[external_id]].get("category") or ""
        scores, version = popularity_scores(tenant=tenant, catalog=catalog), None
        if product_category:
            scores = lead_with(scores, eligible, catalog.category_mask(product_category))
    scores = shift_by_rules(scores, eligible, rule_shifts(state, catalog))
    rows = top_k(scores, eligible, limit)
    return _answer(
        catalog,
        rows,
        scores[rows],
        model_version=version,
        fallback=version is None,
        fallback_reason=reason if version is None else "",
    )


def search_result_list(
    *, tenant: Tenant, query: str, limit: int = 10, shopper_id: str = "", explain: bool = False
) -> Answer:
    """Products for a query: lexical matches fused with the model's semantic matches by reciprocal
    rank fusion, and with the shopper's own scores when a shopper is given. Out-of-stock products
    are left out. Without a model, lexical matching alone answers (`fallback`). The merchant's
    rules do not apply: `explain` says only how many products holding the words are out of stock."""
    state = serving_state(tenant=tenant)
    catalog = serving_catalog(tenant=tenant, state=state)
    eligible = catalog.in_stock
    lexical = [
        row
        for row in catalog.rows(lexical_search(tenant=tenant, query=query, limit=SEARCH_POOL, in_stock_only=True))
        if eligible[row]
    ]
    rankings, weights = [lexical], [1.0]
    model, reason = _model_or_reason(tenant, state.live)
    if model is not None:
        try:
            similarities = model.text_similarities(query)
        except EncoderUnavailable:
            model, reason = None, FallbackReason.MODEL_UNAVAILABLE  # the words still answer
    if model is not None:
        semantic = top_k(model.to_catalog(similarities, catalog), eligible, SEARCH_POOL)
        rankings.append(list(semantic))
        weights.append(1.0)
        history = shopper_history(tenant=tenant, shopper_id=shopper_id) if shopper_id else ShopperHistory()
        if any(model.knows(item) for item in history.items):
            candidates = np.array(sorted(set(lexical) | set(semantic.tolist())), dtype=np.int64)
            personal = model.to_catalog(model.shopper_scores(history.items), catalog)
            mask = np.zeros(len(catalog), dtype=bool)
            mask[candidates] = True
            rankings.append(list(top_k(personal, mask, len(candidates))))
            weights.append(SEARCH_PERSONAL_WEIGHT)
    fused = reciprocal_rank_fusion(rankings, weights)[:limit]
    version = model.number if model is not None else None
    return _answer(
        catalog,
        [row for row, _score in fused],
        [score for _row, score in fused],
        model_version=version,
        fallback=version is None,
        fallback_reason=reason if version is None else "",
        word_matches=len(lexical),
        explanation=_search_explained(catalog, tenant=tenant, query=query) if explain else None,
    )


def _search_explained(catalog: ServingCatalog, *, tenant: Tenant, query: str) -> Explanation:
    """What a search left out: the products out of stock that hold the query's words, those a
    shopper could have found by them. Not every product out of stock in the catalog: a search
    for "apple" was never going to list most of them."""
    # The whole catalog as the limit: every match out of stock counts, not only those among the
    # best SEARCH_POOL matches.
    matching = catalog.rows(
        lexical_search(tenant=tenant, query=query, limit=len(catalog), in_stock_only=False)
    )
    out_of_stock = int((~catalog.in_stock[matching]).sum())
    return Explanation(rules_apply=False, left_out=LeftOut(out_of_stock=out_of_stock))


def popularity_list(
    *,
    tenant: Tenant,
    limit: int = 10,
    category: str = "",
    context_product: str = "",
    exclude: Sequence[str] = (),
    explain: bool = False,
) -> Answer:
    """Trending products alone, the same for every shopper: the baseline the "try it" page sets
    beside the model. Out-of-stock products, the context product, those in `exclude` and those
    outside `category` are left out, and the merchant's rules apply, as in `recommendation_list`;
    the shopper's purchases are not left out, since popularity does not read the shopper."""
    state = serving_state(tenant=tenant)
    catalog = serving_catalog(tenant=tenant, state=state)
    eligible = catalog.in_stock.copy()
    if category:
        eligible &= catalog.category_mask(category)
    eligible[catalog.rows([*exclude, *([context_product] if context_product else [])])] = False
    unshifted = popularity_scores(tenant=tenant, catalog=catalog)
    scores = shift_by_rules(unshifted, eligible, rule_shifts(state, catalog))
    rows = top_k(scores, eligible, limit)
    explanation = None
    if explain:
        explanation = _explained(
            catalog,
            state,
            rows=rows,
            unshifted=unshifted,
            ranked=lambda some: top_k(some, eligible, limit),
            left_out=left_out_count(
                catalog,
                category_mask=catalog.category_mask(category) if category else None,
                context_product=context_product,
                exclude=exclude,
            ),
        )
    return _answer(catalog, rows, scores[rows], model_version=None, fallback=True, explanation=explanation)
