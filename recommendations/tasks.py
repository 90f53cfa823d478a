"""Serving's background work: embedding new products, so they can be recommended before anyone saw them."""

from celery import shared_task
from django.db import transaction

from recommendations.services import item_embeddings_refresh
from recommendations.serving import served_versions
from tenants.scope import current_tenant
from tenants.tasks import TenantTask
from training.models import ModelVersion


@shared_task(base=TenantTask, acks_late=True, queue="gpu")
def item_embeddings_refresh_task(*, tenant_id: int, version_id: int | None = None) -> int:
    """Runs the encoder, so it goes to the GPU queue. Idempotent: a redelivered task embeds nothing twice.

    Without `version_id`: every version being served (the live one, and those of a running experiment).
    """
    tenant = current_tenant()
    if version_id is not None:
        return item_embeddings_refresh(
            tenant=tenant, version=ModelVersion.objects.get(tenant=tenant, pk=version_id)
        )
    return sum(
        item_embeddings_refresh(tenant=tenant, version=version) for version in served_versions(tenant=tenant)
    )


def item_embeddings_refresh_queue(*, tenant_id: int, version_id: int | None = None, **_signal_kwargs) -> None:
    """Queue a refresh once the current transaction (if any) commits."""
    kwargs = (
        {"tenant_id": tenant_id} if version_id is None else {"tenant_id": tenant_id, "version_id": version_id}
    )
    transaction.on_commit(lambda: item_embeddings_refresh_task.delay(**kwargs))
