"""The products a tenant can serve, in memory: the answer's fields and the arrays the filters read.

Loaded from the database by the caller and kept per tenant until the catalog
changes (`revision`), so a request reads no product row.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import Any

import numpy as np

CATEGORY_SEPARATOR = " > "


class ServingCatalog:
    def __init__(self, products: Sequence[Mapping[str, Any]], revision: str = ""):
        """`products`: dicts with at least external_id, category, brand and in_stock (the answer's fields)."""
        self.products = list(products)
        self.revision = revision
        self.external_ids = [product["external_id"] for product in self.products]
        self.index = {external_id: row for row, external_id in enumerate(self.external_ids)}
        self.in_stock = np.array(
            [bool(product.get("in_stock", True)) for product in self.products], dtype=bool
        )
        self._categories = [product.get("category") or "" for product in self.products]
        self._brands = [(product.get("brand") or "").casefold() for product in self.products]
        self._masks: dict[tuple[str, str], np.ndarray] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.products)

    def rows(self, external_ids: Iterable[str]) -> np.ndarray:
        """The rows of the ids this catalog has; the others are skipped."""
        return np.array([self.index[i] for i in external_ids if i in self.index], dtype=np.int64)

    def category_mask(self, category: str) -> np.ndarray:
        """Products in the category or under it: "Grocery > Produce" takes "Grocery > Produce > Apples"."""
        return self._mask("category", category)

    def brand_mask(self, brand: str) -> np.ndarray:
        return self._mask("brand", brand.casefold())

    def _mask(self, field: str, value: str) -> np.ndarray:
        with self._lock:
            if (field, value) in self._masks:
                return self._masks[field, value]
        if field == "category":
            below = value + CATEGORY_SEPARATOR
            mask = np.array([c == value or c.startswith(below) for c in self._categories], dtype=bool)
        else:
            mask = np.array([b == value for b in self._brands], dtype=bool)
        with self._lock:
            if len(self._masks) > 256:  # requests choose the values: keep the memo small
                self._masks.clear()
            self._masks[field, value] = mask
        return mask

    @cached_property
    def nbytes(self) -> int:
        # A rough count: the dicts dominate, a few hundred bytes per product.
        return 400 * len(self.products) + self.in_stock.nbytes
