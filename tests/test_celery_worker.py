"""A real Celery worker runs tenant tasks sent through a real broker, inside
the right tenant's scope: the configured broker (files by default; Redis in
the CI's PostgreSQL pass), and Redis explicitly where it is reachable."""
import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker

from platform_site.celery import app as configured_app
from tests.conftest import REDIS_URL
from tests.factories import ProductFactory
from tests.tenants.test_tasks import count_products_task


def _redis_app() -> Celery:
    # Tasks made with @shared_task are registered on every app, this one too.
    redis_app = Celery("redis-broker-check", broker=REDIS_URL)
    redis_app.conf.update(result_backend="django-db", task_default_queue="redis-broker-check")
    return redis_app


def _product_counts_seen_by_a_worker(app, tenant_ids) -> tuple[int, ...]:
    task = app.tasks[count_products_task.name]
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        results = [task.apply_async(kwargs={"tenant_id": tenant_id}) for tenant_id in tenant_ids]
        return tuple(result.get(timeout=30) for result in results)


@pytest.fixture
def two_tenants_with_products(tenant, other_tenant):
    ProductFactory(tenant=tenant)
    ProductFactory(tenant=other_tenant)
    ProductFactory(tenant=other_tenant)
    return tenant.id, other_tenant.id


@pytest.mark.django_db(transaction=True)
def test_a_worker_on_the_configured_broker_runs_each_task_in_its_tenants_scope(two_tenants_with_products):
    assert _product_counts_seen_by_a_worker(configured_app, two_tenants_with_products) == (1, 2)


@pytest.mark.needs_redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_on_redis_runs_each_task_in_its_tenants_scope(two_tenants_with_products):
    assert _product_counts_seen_by_a_worker(_redis_app(), two_tenants_with_products) == (1, 2)
