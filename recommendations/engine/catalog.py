"""The products a tenant can serve, in memory: the answer's fields and the arrays the filters read.

Loaded from the database by the caller and kept per tenant until the catalog
changes (`revision`), so a request reads no product row.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import Any

import numpy as np

CATEGORY_SEPARATOR = " > "
# Requests choose the filter values, so the memo of their masks is bounded.
MASK_MEMO_SIZE = 256
# How many products nbytes measures; it scales their size to the whole catalog.
SIZE_SAMPLE = 256


def category_key(path: str) -> str:
    """One spelling per category path: "grocery>Produce " -> "grocery > produce". The catalog's
    spelling (catalog.services.products.category_path_normalize), case folded; written again here
    because the engine imports no Django."""
    return CATEGORY_SEPARATOR.join(part.strip() for part in path.split(">") if part.strip()).casefold()


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
        self._categories = [category_key(product.get("category") or "") for product in self.products]
        self._brands = [(product.get("brand") or "").casefold() for product in self.products]
        self._masks: dict[tuple[str, str], np.ndarray] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.products)

    def rows(self, external_ids: Iterable[str]) -> np.ndarray:
        """The rows of the ids this catalog has; the others are skipped."""
        return np.array([self.index[i] for i in external_ids if i in self.index], dtype=np.int64)

    def category_mask(self, category: str) -> np.ndarray:
        """Products in the category or under it: "Grocery > Produce" takes "Grocery > Produce > Apples".
        Matched as the catalog API's filter matches: any case, any spacing around ">"."""
        return self._mask("category", category_key(category))

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
            if len(self._masks) >= MASK_MEMO_SIZE:
                self._masks.clear()
            self._masks[field, value] = mask
        return mask

    @cached_property
    def nbytes(self) -> int:
        """What the cache counts for this catalog: the product dicts (measured, with their titles
        and attributes, on an even sample of SIZE_SAMPLE of them and scaled to all), the lookup
        structures, and the mask memo when full (a byte per product per mask), since it fills
        after the catalog is cached."""
        count = len(self.products)
        if not count:
            return 0
        step = max(1, count // SIZE_SAMPLE)
        sample = self.products[::step]
        products = sum(_deep_size(product) for product in sample) * count // len(sample)
        lookups = sum(
            sys.getsizeof(structure)
            for structure in (self.products, self.external_ids, self.index, self._categories, self._brands)
        )
        return products + lookups + self.in_stock.nbytes + MASK_MEMO_SIZE * count


def _deep_size(value: Any, *, keys: bool = False) -> int:
    """Bytes of a value made of dicts, lists, strings and numbers. A product's own field names are
    the same string objects in every product, so they are left out; the keys of nested dicts
    (a product's attributes, parsed from JSON row by row) are counted. Shared small objects
    (True, small ints) are counted each time: an upper bound."""
    size = sys.getsizeof(value)
    if isinstance(value, Mapping):
        size += sum(
            (_deep_size(key) if keys else 0) + _deep_size(item, keys=True) for key, item in value.items()
        )
    elif isinstance(value, (list, tuple)):
        size += sum(_deep_size(item, keys=True) for item in value)
    return size
