"""The catalog's background work: cleaning a tenant's shopper events."""
from celery import shared_task
from django.db import transaction

from catalog.services.cleaning import events_clean
from tenants.scope import current_tenant
from tenants.tasks import TenantTask


@shared_task(base=TenantTask, acks_late=True)
def catalog_clean_task(*, tenant_id: int) -> int:
    """Clean the tenant's events; returns the CleaningReport's id.

    Nothing to claim: a run is idempotent, so a redelivered task only writes
    one more report.
    """
    report = events_clean(tenant=current_tenant())
    return report.pk


def catalog_clean_queue(*, tenant_id: int) -> None:
    """Queue a cleaning run once the current transaction commits, so the worker sees what it wrote."""
    transaction.on_commit(lambda: catalog_clean_task.delay(tenant_id=tenant_id))
