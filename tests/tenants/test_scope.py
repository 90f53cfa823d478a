import pytest
from django.apps import apps
from django.db.models import UniqueConstraint

from catalog.models import Product
from tenants.scope import TenantOwned, TenantScopeMissing, current_tenant_or_none, tenant_scope
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


# Unique rules that stand without the tenant, each for a reason a Citus migration must handle
# by hand: a value that anyone outside the store presents to find it, so it is looked up in
# every tenant at once; or a one-to-one link, unique on its own column like a foreign key, which
# becomes a composite key with every other foreign key when the tables are distributed.
UNIQUE_WITHOUT_THE_TENANT = {
    ("tenants.ApiKey", "prefix"): "a presented API key names its tenant through its prefix",
    ("courses.Certificate", "code"): "anyone the learner shows a certificate to finds it by its code",
    ("courses.Certificate", "enrollment"): "one-to-one link",
    ("training.ModelVersion", "job"): "one-to-one link",
}


def _unique_rules(model):
    for field in model._meta.local_fields:
        if field.unique and not field.primary_key:
            yield field.name, (field.name,)
    for constraint in model._meta.constraints:
        if isinstance(constraint, UniqueConstraint):
            yield constraint.name, tuple(constraint.fields)
    for fields in model._meta.unique_together:
        yield "unique_together", tuple(fields)


def test_every_unique_rule_of_a_tenant_owned_table_includes_the_tenant():
    """DESIGN.md: so the tables can be distributed by tenant_id on Citus without a redesign."""
    offending = [
        f"{model._meta.label}: {name} {fields}"
        for model in apps.get_models()
        if issubclass(model, TenantOwned)
        for name, fields in _unique_rules(model)
        if "tenant" not in fields and (model._meta.label, name) not in UNIQUE_WITHOUT_THE_TENANT
    ]
    assert offending == []
