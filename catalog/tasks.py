"""The catalog's background work: importing a catalog file, cleaning a tenant's shopper events."""
import logging
from datetime import timedelta

from celery import shared_task
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import override
from kombu.exceptions import OperationalError as BrokerUnreachable

from catalog.models import CleaningReport, CleaningStatus, ImportStatus, ProductImport
from catalog.services.cleaning import events_clean
from catalog.services.imports import catalog_import_stored, catalog_imports_lost_fail
from tenants.heartbeat import RowHeartbeat
from tenants.models import Tenant
from tenants.scope import TenantScopeMissing, current_tenant
from tenants.tasks import TenantTask

logger = logging.getLogger(__name__)

# A run queued, or running, for longer than this is taken as lost (no worker took it, or its
# worker died): the page says so, a new run may be queued, and a redelivered task may take it.
CLEANING_RUN_STALE_AFTER = timedelta(hours=1)


def _stale_before():
    return timezone.now() - CLEANING_RUN_STALE_AFTER


@shared_task(base=TenantTask, acks_late=True)
def catalog_clean_task(*, tenant_id: int, run_id: int | None = None) -> int:
    """Clean the tenant's events; returns the CleaningReport's id.

    A queued run (`run_id`) is taken with a conditional update, so a redelivered task does not run
    it while it runs; one whose worker died (running past CLEANING_RUN_STALE_AFTER) is taken again.
    A run is idempotent all the same. The page shows the run running, then its report.
    """
    run = None
    if run_id is not None:
        takeable = Q(status=CleaningStatus.QUEUED) | Q(status=CleaningStatus.RUNNING, started_at__lt=_stale_before())
        taken = CleaningReport.objects.filter(takeable, pk=run_id).update(
            status=CleaningStatus.RUNNING, started_at=timezone.now()
        )
        if not taken:
            return run_id
        run = CleaningReport.objects.get(pk=run_id)
    try:
        return events_clean(tenant=current_tenant(), run=run).pk
    except Exception:
        if run_id is not None:
            CleaningReport.objects.filter(pk=run_id).update(status=CleaningStatus.FAILED, finished_at=timezone.now())
        raise


@transaction.atomic
def catalog_clean_queue(*, tenant_id: int) -> CleaningReport:
    """Queue a cleaning run in the tenant's scope, or return the one already queued (a running one
    has read the events as they were: a new run is queued behind it). The task is sent once the
    transaction commits, so the worker sees what it wrote; a broker that cannot be reached fails
    the run, which the page shows."""
    tenant = current_tenant()
    if tenant.pk != tenant_id:
        raise TenantScopeMissing(f"Queueing a cleaning run of tenant {tenant_id} in the scope of another.")
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()  # two clicks at once queue one run
    queued = _pending().filter(status=CleaningStatus.QUEUED).first()
    if queued is not None:
        return queued
    run = CleaningReport.objects.create(status=CleaningStatus.QUEUED)
    transaction.on_commit(lambda: _send(tenant_id=tenant.pk, run_id=run.pk))
    return run


def _send(*, tenant_id: int, run_id: int) -> None:
    try:
        catalog_clean_task.delay(tenant_id=tenant_id, run_id=run_id)
    except BrokerUnreachable:
        logger.exception("cleaning run %s: the broker could not be reached", run_id)
        CleaningReport.all_tenants.filter(pk=run_id, status=CleaningStatus.QUEUED).update(
            status=CleaningStatus.FAILED, finished_at=timezone.now()
        )


def _pending():
    since = _stale_before()
    return CleaningReport.objects.filter(
        Q(status=CleaningStatus.QUEUED, created_at__gte=since)
        | Q(status=CleaningStatus.RUNNING, started_at__gte=since)
    ).order_by("-created_at", "-id")


def cleaning_run_pending() -> CleaningReport | None:
    """The tenant's run that is queued or running, unless it has been so long it is lost."""
    return _pending().first()


def cleaning_run_unfinished_since_report() -> CleaningReport | None:
    """The newest run that failed or was lost, if it is newer than the newest report: the page
    says so, instead of showing the older report as if it were the latest."""
    latest_done = CleaningReport.objects.filter(status=CleaningStatus.SUCCEEDED).order_by("-created_at", "-id").first()
    unfinished = CleaningReport.objects.exclude(status=CleaningStatus.SUCCEEDED).exclude(
        pk__in=_pending().values("pk")
    )
    if latest_done is not None:
        unfinished = unfinished.filter(created_at__gt=latest_done.created_at)
    return unfinished.order_by("-created_at", "-id").first()


# A progress report writes a row: not more often than this, however fast the rows go.
IMPORT_PROGRESS_EVERY = timedelta(seconds=1)
# The heartbeat of a running import: well inside ProductImport.RUNNING_LOST_AFTER.
IMPORT_HEARTBEAT_EVERY = timedelta(seconds=30)


class _ImportHeartbeat(RowHeartbeat):
    """Writes the running import's `progress_at` every `every` seconds, for the whole run.

    The progress reports come only from the row checks; saving the products (one transaction,
    minutes on a large file) and checking a failed file again in the other languages report
    nothing, and without this the import would be failed as lost while its worker still works.
    A failed import is left as it is: the beat does not bring it back.
    """

    def __init__(self, import_id: int, every: float) -> None:
        super().__init__(
            ProductImport.all_tenants.filter(pk=import_id, status=ImportStatus.RUNNING),
            every,
            name=f"catalog import {import_id}",
            fields=lambda: {"progress_at": timezone.now()},
        )


@shared_task(base=TenantTask, acks_late=True)
def catalog_import_task(*, tenant_id: int, import_id: int, language: str) -> int:
    """Run a queued catalog import (catalog.services.imports.catalog_import_queue); returns its id.

    Only a queued import is taken, with a conditional update, and only once. A redelivered task
    (its worker died: the broker sends it again once its visibility timeout has passed) does not
    take a running import again: that import's file may be older than imports that succeeded
    since, and running it would overwrite their products. It is failed as lost instead, as is an
    import queued longer than ProductImport.QUEUED_LOST_AFTER (catalog_imports_lost_fail, first).
    The errors are written in the uploader's `language` (and in every other, for whoever reads them).
    """
    catalog_imports_lost_fail(tenant=current_tenant())
    now = timezone.now()
    taken = ProductImport.objects.filter(
        pk=import_id, status=ImportStatus.QUEUED, created_at__gte=now - ProductImport.QUEUED_LOST_AFTER
    ).update(status=ImportStatus.RUNNING, started_at=now, progress_at=now, rows_checked=0)
    if not taken:
        return import_id
    last_report = now

    def report(rows_checked: int, row_count: int) -> None:
        nonlocal last_report
        done = rows_checked == row_count  # the last report, whenever it comes
        if rows_checked and not done and timezone.now() - last_report < IMPORT_PROGRESS_EVERY:
            return
        last_report = timezone.now()
        ProductImport.objects.filter(pk=import_id, status=ImportStatus.RUNNING).update(
            rows_checked=rows_checked, row_count=row_count, progress_at=last_report
        )

    with _ImportHeartbeat(import_id, every=IMPORT_HEARTBEAT_EVERY.total_seconds()), override(language):
        return catalog_import_stored(import_id=import_id, on_progress=report).pk
