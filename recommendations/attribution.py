"""The log of served lists, written in batches off the request path.

A request appends one entry to an in-process buffer (no database work); a
daemon thread writes the buffer with one bulk insert per tenant when it holds
RECOMMENDATIONS_LOG_BATCH entries or every RECOMMENDATIONS_LOG_FLUSH_SECONDS,
and once more when the process exits. A crash of the process loses at most
those few seconds of log, never a request.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections import defaultdict
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, close_old_connections
from django.utils import timezone

from recommendations.models import ServedRecommendation
from tenants.models import Tenant
from tenants.scope import tenant_scope

logger = logging.getLogger(__name__)

# While the database is down, keep at most this many unwritten entries.
REQUEUE_LIMIT = 100_000


class ServedLog:
    def __init__(self):
        self._entries: list[tuple[int, dict]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._writer: threading.Thread | None = None

    def record(
        self,
        *,
        tenant: Tenant,
        recommendation_id: str,
        endpoint: str,
        shopper_id: str,
        model_version: int | None,
        variant: str,
        fallback: bool,
        product_ids: list[str],
        experiment_id: int | None = None,
        served_at: datetime | None = None,
        api_key_kind: str = "",
    ) -> None:
        entry = {
            "experiment_id": experiment_id,
            "recommendation_id": recommendation_id,
            "endpoint": endpoint,
            "api_key_kind": api_key_kind,
            "shopper_key": tenant.pseudonymise_shopper(shopper_id) if shopper_id else "",
            "model_version": model_version,
            "variant": variant,
            "fallback": fallback,
            "product_ids": product_ids,
            "served_at": served_at or timezone.now(),
        }
        with self._lock:
            self._entries.append((tenant.pk, entry))
            full = len(self._entries) >= settings.RECOMMENDATIONS_LOG_BATCH
            if self._writer is None:
                self._start_writer()
        if full:
            self._wake.set()

    def pending(self) -> int:
        with self._lock:
            return len(self._entries)

    def flush(self) -> int:
        """Write what is buffered now; returns how many entries were written."""
        with self._lock:
            entries, self._entries = self._entries, []
        if not entries:
            return 0
        by_tenant: dict[int, list[dict]] = defaultdict(list)
        for tenant_id, entry in entries:
            by_tenant[tenant_id].append(entry)
        written = 0
        tenant_ids = list(by_tenant)
        tenants = Tenant.objects.in_bulk(tenant_ids)
        for position, tenant_id in enumerate(tenant_ids):
            rows = by_tenant[tenant_id]
            try:
                if tenant_id not in tenants:
                    raise IntegrityError(f"tenant {tenant_id} does not exist")
                with tenant_scope(tenants[tenant_id]):
                    ServedRecommendation.objects.bulk_create(
                        [ServedRecommendation(tenant_id=tenant_id, **row) for row in rows],
                        ignore_conflicts=True,  # a retried flush must not fail on what it wrote before
                    )
            except IntegrityError:
                # The tenant was deleted since: its log goes with it.
                logger.warning(
                    "dropped %d served lists of tenant %s, which no longer exists", len(rows), tenant_id
                )
                continue
            except Exception:
                self._requeue([(t, row) for t in tenant_ids[position:] for row in by_tenant[t]])
                raise
            written += len(rows)
        return written

    def _requeue(self, entries: list[tuple[int, dict]]) -> None:
        """Put back what could not be written (the database is down), keeping the newest if too many."""
        with self._lock:
            self._entries = (entries + self._entries)[-REQUEUE_LIMIT:]

    def discard(self) -> None:
        with self._lock:
            self._entries = []

    def forget_shopper(self, tenant_id: int, shopper_key: str) -> None:
        """Drop what this process still holds of a shopper being erased."""
        with self._lock:
            self._entries = [
                (tenant, entry) for tenant, entry in self._entries
                if not (tenant == tenant_id and entry["shopper_key"] == shopper_key)
            ]

    def _start_writer(self) -> None:
        self._writer = threading.Thread(target=self._write_forever, name="served-log-writer", daemon=True)
        self._writer.start()
        atexit.register(self.flush)

    def _write_forever(self) -> None:
        while True:
            self._wake.wait(settings.RECOMMENDATIONS_LOG_FLUSH_SECONDS)
            self._wake.clear()
            try:
                self.flush()
            except Exception:
                logger.exception("could not write the served-recommendations log; retrying")
            finally:
                close_old_connections()


served_log = ServedLog()


def served_lists_erase(*, tenant_id: int, shopper_key: str, **kwargs) -> None:
    """A shopper's erasure (catalog.signals.shopper_erased): the lists served to them go too. A
    list another web process served them in the last moment, still in its buffer, is written
    after; buffers are written every RECOMMENDATIONS_LOG_FLUSH_SECONDS."""
    served_log.forget_shopper(tenant_id, shopper_key)
    ServedRecommendation.objects.filter(tenant_id=tenant_id, shopper_key=shopper_key).delete()
