"""A real Celery worker, on the configured broker (files by default, Redis in
the CI's PostgreSQL pass), runs a tenant task inside the right scope."""
import pytest
from celery.contrib.testing.worker import start_worker

from platform_site.celery import app
from tests.factories import ProductFactory
from tests.tenants.test_tasks import count_products_task


@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_a_tenant_task_sent_through_the_broker(tenant, other_tenant):
    ProductFactory(tenant=tenant)
    ProductFactory(tenant=other_tenant)
    ProductFactory(tenant=other_tenant)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        first = count_products_task.apply_async(kwargs={"tenant_id": tenant.id})
        second = count_products_task.apply_async(kwargs={"tenant_id": other_tenant.id})
        assert first.get(timeout=30) == 1
        assert second.get(timeout=30) == 2
