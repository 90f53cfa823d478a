"""Serving's background work: embedding new products, so they can be recommended before anyone saw them."""
from celery import shared_task
from django.db import transaction

from recommendations.services import item_embeddings_refresh
from tenants.scope import current_tenant
from tenants.tasks import TenantTask


@shared_task(base=TenantTask, acks_late=True, queue="gpu")
def item_embeddings_refresh_task(*, tenant_id: int) -> int:
    """Runs the encoder, so it goes to the GPU queue. Idempotent: a redelivered task embeds nothing twice."""
    return item_embeddings_refresh(tenant=current_tenant())


def item_embeddings_refresh_queue(*, tenant_id: int, **_signal_kwargs) -> None:
    """Queue a refresh once the current transaction (if any) commits."""
    transaction.on_commit(lambda: item_embeddings_refresh_task.delay(tenant_id=tenant_id))
