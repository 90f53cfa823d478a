"""The catalog's background work: cleaning a tenant's shopper events."""
from datetime import timedelta

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from catalog.models import CleaningReport, CleaningStatus
from catalog.services.cleaning import events_clean
from tenants.scope import current_tenant
from tenants.tasks import TenantTask

# A run queued or running for longer than this is taken as lost (its worker died, or none was
# there): the page says so, and a new run may be queued.
CLEANING_RUN_STALE_AFTER = timedelta(hours=1)


@shared_task(base=TenantTask, acks_late=True)
def catalog_clean_task(*, tenant_id: int, run_id: int | None = None) -> int:
    """Clean the tenant's events; returns the CleaningReport's id.

    A queued run (`run_id`) is taken with a conditional update, so a redelivered task does not run
    it twice; the page shows it running, then its report. A run is idempotent all the same.
    """
    run = None
    if run_id is not None:
        taken = CleaningReport.objects.filter(pk=run_id, status=CleaningStatus.QUEUED).update(
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


def catalog_clean_queue(*, tenant_id: int) -> CleaningReport:
    """Queue a cleaning run (in the tenant's scope), or return the one already queued or running.
    The task is sent once the current transaction commits, so the worker sees what it wrote."""
    pending = cleaning_run_pending()
    if pending is not None:
        return pending
    run = CleaningReport.objects.create(status=CleaningStatus.QUEUED)
    transaction.on_commit(lambda: catalog_clean_task.delay(tenant_id=tenant_id, run_id=run.pk))
    return run


def cleaning_run_pending() -> CleaningReport | None:
    """The tenant's run that is queued or running, unless it has been so long it is lost."""
    return (
        CleaningReport.objects.filter(
            status__in=(CleaningStatus.QUEUED, CleaningStatus.RUNNING),
            created_at__gte=timezone.now() - CLEANING_RUN_STALE_AFTER,
        )
        .order_by("-created_at", "-id")
        .first()
    )
