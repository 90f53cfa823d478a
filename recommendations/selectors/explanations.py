"""Why an answer is what it is, for the merchant's "try it" page: which of their rules moved each
listed product, what was left out and for which reason, and what diversity changed.

The selectors build it only when asked (`explain=True`), from the very arrays they ranked with,
so the page shows what happened rather than a second guess; the storefront's requests never
pay for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from recommendations.engine.catalog import ServingCatalog
from recommendations.models import RuleAction, RuleField
from recommendations.serving import ServingState


@dataclass(frozen=True)
class RuleRef:
    """One of the merchant's ranking rules, as serving applied it."""

    field: str  # RuleField
    value: str
    action: str  # RuleAction
    strength: float

    @property
    def strength_text(self) -> str:
        return f"{self.strength:g}"  # as the rules page's messages write it: 0.5, 5

    @property
    def boosts(self) -> bool:
        return self.action == RuleAction.BOOST

    @property
    def on_brand(self) -> bool:
        return self.field == RuleField.BRAND


def rule_refs(state: ServingState) -> list[RuleRef]:
    """The rules in the order of `serving.rule_shifts`, whose masks they name."""
    return [RuleRef(*rule) for rule in state.rules]


@dataclass(frozen=True)
class LeftOut:
    """How many of the catalog's products a list left out, by reason.

    Each product counts once, under the first reason that applies in the order of the fields:
    a product the shopper bought that is out of stock counts as out of stock, since
    recommending re-buys would not bring it back.
    """

    outside_category: int = 0  # not in the category the request asked for
    context_product: str = ""  # the SKU of the product page, when it was left out
    excluded: int = 0  # named in the request's `exclude`
    out_of_stock: int = 0
    purchased: int = 0  # bought by the shopper while the store does not recommend re-buys

    @property
    def anything(self) -> bool:
        return bool(
            self.outside_category
            or self.context_product
            or self.excluded
            or self.out_of_stock
            or self.purchased
        )


def left_out_count(
    catalog: ServingCatalog,
    *,
    category_mask: np.ndarray | None = None,
    context_product: str = "",
    exclude: Sequence[str] = (),
    purchased: Sequence[str] = (),
) -> LeftOut:
    """What the filters of one request left out. `purchased`: only when the store leaves re-buys
    out. The same filters as the selector's `eligible`, taken apart."""
    remaining = np.ones(len(catalog), dtype=bool)

    def taken(mask: np.ndarray) -> int:
        count = int((mask & remaining).sum())
        remaining[mask] = False
        return count

    def of_rows(external_ids: Sequence[str]) -> np.ndarray:
        mask = np.zeros(len(catalog), dtype=bool)
        mask[catalog.rows(external_ids)] = True
        return mask

    outside_category = taken(~category_mask) if category_mask is not None else 0
    context_taken = taken(of_rows([context_product])) if context_product else 0
    return LeftOut(
        outside_category=outside_category,
        context_product=context_product if context_taken else "",
        excluded=taken(of_rows(exclude)),
        out_of_stock=taken(~catalog.in_stock),
        purchased=taken(of_rows(purchased)),
    )


@dataclass(frozen=True)
class Diversity:
    """What maximal marginal relevance did to a list."""

    amount: float  # the request's diversity, above 0 and at most 1
    by_model: bool  # likeness by the model's item embeddings; False: by category alone
    pool: int  # how many of the best-scored products it chose among
    brought_in: tuple[str, ...]  # SKUs listed for variety, which scores alone would not list
    pushed_out: tuple[str, ...]  # SKUs scores alone would list, left out for variety
    # SKUs both lists hold, listed higher among those than scores alone would list them
    moved_up: tuple[str, ...] = ()

    @property
    def amount_text(self) -> str:
        return f"{self.amount:g}"  # as the request wrote it: 0.9, not 0.90


def diversity_explained(
    catalog: ServingCatalog,
    *,
    rows: np.ndarray,
    by_score: np.ndarray,
    amount: float,
    by_model: bool,
    pool: int,
) -> Diversity:
    """`rows`: the list served; `by_score`: the list the same scores give without diversity."""
    served, plain = set(rows.tolist()), set(by_score.tolist())
    # Places among the products both lists hold, not in the whole list: a product that only
    # takes the place of one left out above it has not moved up.
    kept = [row for row in rows.tolist() if row in plain]
    kept_by_score = [row for row in by_score.tolist() if row in served]
    place_by_score = {row: place for place, row in enumerate(kept_by_score)}
    return Diversity(
        amount=amount,
        by_model=by_model,
        pool=pool,
        brought_in=tuple(catalog.external_ids[row] for row in rows.tolist() if row not in plain),
        pushed_out=tuple(catalog.external_ids[row] for row in by_score.tolist() if row not in served),
        moved_up=tuple(
            catalog.external_ids[row] for place, row in enumerate(kept) if place < place_by_score[row]
        ),
    )


@dataclass(frozen=True)
class ProductNote:
    """What moved one listed product."""

    rules: tuple[RuleRef, ...] = ()  # the rules that shifted its score
    place_without_rules: int | None = None  # 1-based; None: the list would not hold it
    for_variety: bool = False  # diversity brought it in
    moved_up_for_variety: bool = False  # diversity listed it higher than its score would


@dataclass(frozen=True)
class Explanation:
    rules_apply: bool  # False for search: the words rank, the merchant's rules do not
    left_out: LeftOut
    notes: dict[str, ProductNote] = field(default_factory=dict)  # by the listed products' SKUs
    pushed_out_by_rules: tuple[str, ...] = ()  # SKUs the list would hold without the rules
    diversity: Diversity | None = None  # None: ranked by score alone

    def note_for(self, external_id: str) -> ProductNote:
        return self.notes.get(external_id, ProductNote())


def explanation_build(
    catalog: ServingCatalog,
    *,
    rows: np.ndarray,
    rules: Sequence[RuleRef],
    shifts: Sequence[tuple[np.ndarray, float]],
    rows_without_rules: np.ndarray,
    left_out: LeftOut,
    diversity: Diversity | None = None,
) -> Explanation:
    """`shifts`: `serving.rule_shifts` of `rules`, in the same order; `rows_without_rules`: the list
    the same request gives when no rule shifts a score."""
    place_without = {row: place for place, row in enumerate(rows_without_rules.tolist(), start=1)}
    brought_in = set(diversity.brought_in) if diversity else set()
    moved_up = set(diversity.moved_up) if diversity else set()
    notes = {}
    for row in rows.tolist():
        external_id = catalog.external_ids[row]
        notes[external_id] = ProductNote(
            rules=tuple(rule for rule, (mask, _shift) in zip(rules, shifts) if mask[row]),
            place_without_rules=place_without.get(row),
            for_variety=external_id in brought_in,
            moved_up_for_variety=external_id in moved_up,
        )
    served = set(rows.tolist())
    return Explanation(
        rules_apply=True,
        left_out=left_out,
        notes=notes,
        pushed_out_by_rules=tuple(
            catalog.external_ids[row] for row in rows_without_rules.tolist() if row not in served
        ),
        diversity=diversity,
    )
