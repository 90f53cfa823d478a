import pytest
from celery import shared_task

from catalog.models import Product
from tenants.scope import TenantScopeMissing, current_tenant_or_none
from tenants.tasks import TenantTask
from tests.factories import ProductFactory


@shared_task(base=TenantTask)
def count_products_task(*, tenant_id: int) -> int:
    return Product.objects.count()


def test_a_tenant_task_runs_inside_its_tenants_scope(tenant, other_tenant):
    ProductFactory(tenant=tenant)
    ProductFactory(tenant=other_tenant)
    ProductFactory(tenant=other_tenant)
    assert count_products_task.apply(kwargs={"tenant_id": tenant.id}).get() == 1
    assert count_products_task.apply(kwargs={"tenant_id": other_tenant.id}).get() == 2


def test_the_scope_does_not_leak_into_whatever_runs_next(tenant):
    count_products_task.apply(kwargs={"tenant_id": tenant.id}).get()
    assert current_tenant_or_none() is None
    with pytest.raises(TenantScopeMissing):
        Product.objects.count()


def test_a_tenant_task_without_tenant_id_is_refused(db):
    with pytest.raises(TypeError, match="tenant_id"):
        count_products_task.apply(kwargs={}, throw=True).get()
