import pytest

from catalog.models import Product
from tenants.scope import TenantScopeMissing, current_tenant_or_none, tenant_scope
from tests.factories import ProductFactory


def test_querying_a_tenant_owned_model_outside_a_scope_raises(db):
    with pytest.raises(TenantScopeMissing):
        list(Product.objects.all())


def test_the_scope_shows_only_the_current_tenants_rows(tenant, other_tenant):
    ProductFactory(tenant=tenant, external_id="A-1")
    ProductFactory(tenant=other_tenant, external_id="B-1")
    with tenant_scope(tenant):
        assert list(Product.objects.values_list("external_id", flat=True)) == ["A-1"]
    with tenant_scope(other_tenant):
        assert list(Product.objects.values_list("external_id", flat=True)) == ["B-1"]


def test_the_scope_is_reset_when_the_block_ends_even_on_error(tenant):
    with pytest.raises(ValueError):
        with tenant_scope(tenant):
            raise ValueError("boom")
    assert current_tenant_or_none() is None


def test_a_row_created_in_a_scope_belongs_to_that_tenant(tenant):
    with tenant_scope(tenant):
        product = Product.objects.create(external_id="NEW", title="New")
    assert product.tenant_id == tenant.id


def test_saving_another_tenants_row_inside_a_scope_raises(tenant, other_tenant):
    foreign = ProductFactory(tenant=other_tenant)
    with tenant_scope(tenant):
        foreign.title = "hijacked"
        with pytest.raises(TenantScopeMissing):
            foreign.save()


def test_all_tenants_is_the_named_way_to_read_across_tenants(tenant, other_tenant):
    ProductFactory(tenant=tenant)
    ProductFactory(tenant=other_tenant)
    assert Product.all_tenants.count() == 2
