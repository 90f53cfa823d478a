"""A model version ready to serve: scores for a shopper, an item or a query, over every item it knows.

The items it knows are the version's own (trained) and those embedded since
with its encoder (products imported after training), appended after them.
Scores come in the model's item order; `aligned_rows` maps them onto a
catalog's rows.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.ml.artifacts import BaseModelCache, LoadedVersion, load_version
from training.ml.scorer import HybridScorer

from .catalog import ServingCatalog

logger = logging.getLogger(__name__)
# After the encoder failed to load, searches skip it this long before trying again.
ENCODER_RETRY_SECONDS = 300.0


class EncoderUnavailable(RuntimeError):
    """The version's encoder (its adapter or weights, or its base model) cannot be loaded: the
    scores work, text queries do not."""

QUERY_CACHE_SIZE = 4096


class ServingModel:
    def __init__(
        self,
        loaded: LoadedVersion,
        *,
        number: int,
        extra_item_ids: Sequence[Any] = (),
        extra_embeddings: np.ndarray | None = None,
    ):
        self.loaded = loaded
        self.number = number
        extra_item_ids = list(extra_item_ids)
        known = loaded.item_index
        keep = [i for i, item_id in enumerate(extra_item_ids) if item_id not in known]
        if extra_item_ids and keep:
            extra = np.asarray(extra_embeddings, dtype=np.float32)[keep]
            self.scorer: HybridScorer = loaded.scorer.with_items(extra)
            self.item_ids = list(loaded.item_ids) + [extra_item_ids[i] for i in keep]
            # The version as extended: keeping the loaded one as well would hold every matrix twice.
            self.loaded = dataclasses.replace(loaded, scorer=self.scorer, item_ids=self.item_ids)
        else:
            self.scorer = loaded.scorer
            self.item_ids = list(loaded.item_ids)
        self.item_index = {item_id: row for row, item_id in enumerate(self.item_ids)}
        self._alignment: tuple[str, np.ndarray] | None = None
        self._lock = threading.Lock()
        self._query_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._encoder_failed_at: float | None = None

    @property
    def embeddings(self) -> np.ndarray:
        """(items, dim) unit vectors, in the model's item order."""
        return self.scorer.item_embeddings

    @property
    def nbytes(self) -> int:
        collaborative = self.scorer.collaborative
        neighbours = self.scorer.cold_neighbours
        return int(
            self.embeddings.nbytes
            + collaborative.data.nbytes
            + collaborative.indices.nbytes
            + collaborative.indptr.nbytes
            + neighbours.data.nbytes
            + neighbours.indices.nbytes
            + neighbours.indptr.nbytes
            + 100 * len(self.item_ids)
            # The query cache, at its fullest (it fills after the entry is sized).
            + QUERY_CACHE_SIZE * self.embeddings.shape[1] * 4
        )

    def shopper_scores(self, history: Sequence[Any]) -> np.ndarray:
        """The blend of content, collaborative and popularity scores for a history of item ids."""
        rows = [self.item_index[item] for item in history if item in self.item_index]
        return self.scorer([rows])[0]

    def knows(self, item_id: Any) -> bool:
        return item_id in self.item_index

    def item_similarities(self, item_id: Any) -> np.ndarray:
        """Cosine of every item with this one (content alone)."""
        return self.embeddings @ self.embeddings[self.item_index[item_id]]

    def text_similarities(self, text: str) -> np.ndarray:
        """Cosine of every item with a text (a search query), encoded by this version's encoder."""
        return self.embeddings @ self.query_vector(text)

    def query_vector(self, text: str) -> np.ndarray:
        """The query's unit vector. Shoppers type the same queries again and again, and running the
        encoder is most of a search's cost (about 20 ms for MiniLM on a CPU), so the latest
        QUERY_CACHE_SIZE queries are kept."""
        with self._lock:
            if text in self._query_vectors:
                self._query_vectors.move_to_end(text)
                return self._query_vectors[text]
        vector = self._encode_query(text)
        with self._lock:
            self._query_vectors[text] = vector
            if len(self._query_vectors) > QUERY_CACHE_SIZE:
                self._query_vectors.popitem(last=False)
        return vector

    def _encode_query(self, text: str) -> np.ndarray:
        """Raises EncoderUnavailable; the encoder is loaded at the first query, not with the version
        (recommendations never need it), so this is where a missing adapter or base model shows."""
        failed_at = self._encoder_failed_at
        if failed_at is not None and time.monotonic() - failed_at < ENCODER_RETRY_SECONDS:
            raise EncoderUnavailable(f"v{self.number}: the encoder failed to load; retried after a pause")
        try:
            vector = self.loaded.encode_texts([text], batch_size=1)[0].astype(np.float32)
        except Exception as error:
            if failed_at is None:  # said once, not at every search
                logger.exception("model v%s: its encoder cannot be loaded; search answers by words", self.number)
            self._encoder_failed_at = time.monotonic()
            raise EncoderUnavailable(f"v{self.number}: the encoder cannot be loaded") from error
        self._encoder_failed_at = None
        return vector

    def aligned_rows(self, catalog: ServingCatalog) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(model rows, catalog rows, model row of each catalog row or -1) for the items both know.

        Kept for the last catalog revision seen, so a request does no dict lookups per item.
        """
        with self._lock:
            if self._alignment is not None and self._alignment[0] == catalog.revision:
                return self._alignment[1]
        model_rows, catalog_rows = [], []
        for model_row, item_id in enumerate(self.item_ids):
            catalog_row = catalog.index.get(item_id)
            if catalog_row is not None:
                model_rows.append(model_row)
                catalog_rows.append(catalog_row)
        model_rows_array = np.array(model_rows, dtype=np.int64)
        catalog_rows_array = np.array(catalog_rows, dtype=np.int64)
        model_row_of = np.full(len(catalog), -1, dtype=np.int64)
        model_row_of[catalog_rows_array] = model_rows_array
        alignment = (model_rows_array, catalog_rows_array, model_row_of)
        with self._lock:
            self._alignment = (catalog.revision, alignment)
        return alignment

    def to_catalog(self, scores: np.ndarray, catalog: ServingCatalog) -> np.ndarray:
        """Model-order scores as catalog-order scores; catalog items the model does not know get -inf."""
        model_rows, catalog_rows, _ = self.aligned_rows(catalog)
        out = np.full(len(catalog), -np.inf, dtype=np.float32)
        out[catalog_rows] = scores[model_rows]
        return out

    def embeddings_for(self, catalog_rows: np.ndarray, catalog: ServingCatalog) -> np.ndarray:
        """The embeddings of some catalog rows; zero for items the model does not know."""
        model_row_of = self.aligned_rows(catalog)[2][catalog_rows]
        out = np.zeros((len(catalog_rows), self.embeddings.shape[1]), dtype=np.float32)
        known = model_row_of >= 0
        out[known] = self.embeddings[model_row_of[known]]
        return out


def load_serving_model(
    folder: str | Path,
    *,
    number: int,
    base_model_cache: BaseModelCache | None = None,
    base_model_search: Sequence[str | Path] = (),
    extra_item_ids: Sequence[Any] = (),
    extra_embeddings: np.ndarray | None = None,
) -> ServingModel:
    """Read a version's artifacts (raises on a missing or corrupt folder: the caller falls back)."""
    loaded = load_version(folder, base_model_cache, base_model_search=base_model_search)
    return ServingModel(
        loaded, number=number, extra_item_ids=extra_item_ids, extra_embeddings=extra_embeddings
    )
