from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from catalog.models import Event, Product
from courses.labs import sandbox as sandbox_module
from courses.labs.sandbox import SandboxError, sandbox_for, sandbox_get, sandbox_reset
from experiments.models import Experiment, Variant, VariantKind
from tenants.models import ApiKeyKind, Invitation, Membership, Role, Tenant
from tenants.selectors import ACTIVE_TENANT_SESSION_KEY
from tenants.services import api_key_issue, invitation_accept, member_invite, member_role_set
from tests.factories import MembershipFactory, ProductFactory, UserFactory
from tests.training.factories import ModelVersionFactory, TrainingJobFactory
from training.models import TrainingJob

START = datetime(2025, 3, 1, tzinfo=UTC)


def events_create(tenant, product, shopper_key: str, count: int, *, prefix: str = "e") -> None:
    Event.all_tenants.bulk_create([
        Event(
            tenant=tenant, event_id=f"{prefix}-{product.external_id}-{shopper_key}-{index}",
            shopper_key=shopper_key, type="purchase" if index == 0 else "view", product=product,
            product_external_id=product.external_id, occurred_at=START + timedelta(hours=index),
            value="4.50" if index == 0 else "0", recommendation_id="rec-1",
        )
        for index in range(count)
    ])


@pytest.fixture
def store(tenant, merchant_user):
    """Five products: SKU-B is the busiest, then A, C; D and E have no events.
    Shopper s1 did the most, then s2, then s3."""
    products = {sku: ProductFactory(tenant=tenant, external_id=f"SKU-{sku}") for sku in "ABCDE"}
    events_create(tenant, products["B"], "s1", 5)
    events_create(tenant, products["B"], "s2", 2)
    events_create(tenant, products["A"], "s2", 2)
    events_create(tenant, products["C"], "s3", 1)
    return tenant


def counts(tenant) -> tuple[int, int]:
    return (
        Product.all_tenants.filter(tenant=tenant).count(),
        Event.all_tenants.filter(tenant=tenant).count(),
    )


@pytest.fixture
def small_sample(monkeypatch):
    monkeypatch.setattr(sandbox_module, "SANDBOX_PRODUCTS", 2)
    monkeypatch.setattr(sandbox_module, "SANDBOX_SHOPPERS", 2)


def test_a_sandbox_is_a_tenant_of_the_store_owned_by_the_learner(store, merchant_user):
    sandbox = sandbox_for(tenant=store, user=merchant_user)

    assert sandbox.sandbox_of == store and sandbox.sandbox_owner == merchant_user
    assert sandbox.slug == f"acme-sandbox-{merchant_user.pk}"
    assert sandbox.name == "Acme Grocer (sandbox)"
    membership = Membership.all_tenants.get(tenant=sandbox, user=merchant_user)
    assert membership.role == Role.OWNER


def test_a_sandbox_opened_in_english_is_named_in_chinese_to_a_chinese_reader(store, merchant_user, client):
    from django.utils import translation

    with translation.override("en"):
        sandbox = sandbox_for(tenant=store, user=merchant_user)
    with translation.override("zh-hans"):
        assert sandbox.display_name == translation.gettext("%(store)s (sandbox)") % {"store": "Acme Grocer"}
        assert sandbox.display_name != "Acme Grocer (sandbox)"
    assert store.display_name == "Acme Grocer"


def test_a_sandbox_copies_the_whole_catalog_and_events_of_a_small_store(store, merchant_user):
    sandbox = sandbox_for(tenant=store, user=merchant_user)

    assert counts(sandbox) == counts(store) == (5, 10)


def test_the_sample_takes_the_busiest_products_and_shoppers_up_to_its_sizes(store, merchant_user, small_sample):
    sandbox = sandbox_for(tenant=store, user=merchant_user)

    skus = set(Product.all_tenants.filter(tenant=sandbox).values_list("external_id", flat=True))
    assert skus == {"SKU-B", "SKU-A"}
    shoppers = set(Event.all_tenants.filter(tenant=sandbox).values_list("shopper_key", flat=True))
    assert shoppers == {"s1", "s2"}
    assert Event.all_tenants.filter(tenant=sandbox).count() == 5 + 2 + 2


def test_copied_events_point_at_the_sandbox_copies_and_keep_what_happened(store, merchant_user):
    sandbox = sandbox_for(tenant=store, user=merchant_user)

    original = Event.all_tenants.get(tenant=store, event_id="e-SKU-B-s1-0")
    copy = Event.all_tenants.select_related("product").get(tenant=sandbox, event_id="e-SKU-B-s1-0")
    assert copy.product.tenant_id == sandbox.pk and copy.product.external_id == "SKU-B"
    assert copy.product_external_id == "SKU-B"
    assert (copy.shopper_key, copy.type, copy.occurred_at, copy.value) == (
        original.shopper_key, original.type, original.occurred_at, original.value
    )
    # The store's served lists are not copied, so nothing may point at them.
    assert copy.recommendation_id == ""


def test_a_sandbox_copies_nothing_from_another_store(store, merchant_user, other_tenant):
    foreign = ProductFactory(tenant=other_tenant, external_id="GLOBEX-1")
    events_create(other_tenant, foreign, "s9", 50, prefix="g")

    sandbox = sandbox_for(tenant=store, user=merchant_user)

    assert not Product.all_tenants.filter(tenant=sandbox, external_id="GLOBEX-1").exists()
    assert not Event.all_tenants.filter(tenant=sandbox, shopper_key="s9").exists()


def test_making_and_resetting_a_sandbox_leave_the_store_as_it_was(store, merchant_user):
    before = list(Event.all_tenants.filter(tenant=store).values().order_by("pk"))
    products_before = list(Product.all_tenants.filter(tenant=store).values().order_by("pk"))

    sandbox = sandbox_for(tenant=store, user=merchant_user)
    sandbox_reset(sandbox=sandbox)

    assert list(Event.all_tenants.filter(tenant=store).values().order_by("pk")) == before
    assert list(Product.all_tenants.filter(tenant=store).values().order_by("pk")) == products_before


def test_a_second_call_returns_the_same_sandbox_without_copying_again(store, merchant_user):
    first = sandbox_for(tenant=store, user=merchant_user)
    second = sandbox_for(tenant=store, user=merchant_user)

    assert first.pk == second.pk
    assert counts(first) == (5, 10)


def test_two_learners_get_sandboxes_of_their_own(store, merchant_user, member_with_role):
    learner = member_with_role(Role.LEARNER)

    mine = sandbox_for(tenant=store, user=merchant_user)
    theirs = sandbox_for(tenant=store, user=learner)

    assert mine.pk != theirs.pk
    assert not Membership.all_tenants.filter(tenant=mine, user=learner).exists()


def test_the_selector_finds_the_learners_sandbox_and_none_before_it_exists(store, merchant_user):
    assert sandbox_get(tenant=store, user=merchant_user) is None

    sandbox = sandbox_for(tenant=store, user=merchant_user)

    assert sandbox_get(tenant=store, user=merchant_user) == sandbox


def test_another_tenants_sandbox_is_never_returned(store, merchant_user, other_tenant):
    # The same person learns in two stores: asking through one never yields the other's sandbox.
    MembershipFactory(tenant=other_tenant, user=merchant_user, role=Role.LEARNER)
    sandbox_for(tenant=other_tenant, user=merchant_user)

    assert sandbox_get(tenant=store, user=merchant_user) is None
    stranger = UserFactory(username="stranger@globex.test")
    MembershipFactory(tenant=other_tenant, user=stranger, role=Role.LEARNER)
    sandbox_for(tenant=other_tenant, user=stranger)
    assert sandbox_get(tenant=store, user=stranger) is None


def test_someone_outside_the_store_gets_no_sandbox_of_it(store, other_merchant_user):
    with pytest.raises(PermissionDenied):
        sandbox_for(tenant=store, user=other_merchant_user)

    assert sandbox_get(tenant=store, user=other_merchant_user) is None


def test_a_sandbox_cannot_have_a_sandbox(store, merchant_user):
    sandbox = sandbox_for(tenant=store, user=merchant_user)

    with pytest.raises(SandboxError):
        sandbox_for(tenant=sandbox, user=merchant_user)


def test_a_live_store_cannot_be_reset(store):
    with pytest.raises(SandboxError):
        sandbox_reset(sandbox=store)

    assert counts(store) == (5, 10)


def test_reset_deletes_what_labs_made_and_copies_the_store_again(store, merchant_user):
    sandbox = sandbox_for(tenant=store, user=merchant_user)
    ProductFactory(tenant=sandbox, external_id="MADE-IN-LAB")
    Product.all_tenants.filter(tenant=sandbox, external_id="SKU-A").delete()
    TrainingJobFactory(tenant=sandbox)
    version = ModelVersionFactory(tenant=sandbox, number=1)
    experiment = Experiment.all_tenants.create(tenant=sandbox, key="ab", name="A/B", primary_metric="conversion_rate")
    # A variant protects its model version: the reset must delete it first.
    Variant.all_tenants.create(
        tenant=sandbox, experiment=experiment, name="v1", kind=VariantKind.MODEL_VERSION,
        model_version=version, weight=1,
    )
    api_key_issue(tenant=sandbox, kind=ApiKeyKind.PUBLISHABLE, name="lab")

    sandbox_reset(sandbox=sandbox)

    skus = set(Product.all_tenants.filter(tenant=sandbox).values_list("external_id", flat=True))
    assert skus == {"SKU-A", "SKU-B", "SKU-C", "SKU-D", "SKU-E"}
    assert counts(sandbox) == (5, 10)
    assert not TrainingJob.all_tenants.filter(tenant=sandbox).exists()
    assert not Experiment.all_tenants.filter(tenant=sandbox).exists()
    assert Membership.all_tenants.filter(tenant=sandbox, user=merchant_user, role=Role.OWNER).exists()
    assert sandbox_get(tenant=store, user=merchant_user).pk == sandbox.pk


def test_a_long_store_slug_still_gives_a_valid_sandbox_slug(merchant_user, tenant):
    tenant.slug = "a" * 60
    tenant.save(update_fields=["slug"])

    sandbox = sandbox_for(tenant=tenant, user=merchant_user)

    assert len(sandbox.slug) <= 60 and sandbox.slug.endswith(f"-sandbox-{merchant_user.pk}")


def test_a_sandbox_copies_at_most_the_newest_events_of_its_sample(store, merchant_user, monkeypatch):
    monkeypatch.setattr(sandbox_module, "SANDBOX_EVENTS", 3)

    sandbox = sandbox_for(tenant=store, user=merchant_user)

    copied = list(Event.all_tenants.filter(tenant=sandbox).order_by("-occurred_at").values_list("occurred_at", flat=True))
    newest = list(Event.all_tenants.filter(tenant=store).order_by("-occurred_at").values_list("occurred_at", flat=True)[:3])
    assert copied == newest


def test_someone_who_leaves_the_store_loses_their_sandbox_of_it(store, merchant_user, member_with_role):
    colleague = member_with_role(Role.ANALYST)
    leaving = sandbox_for(tenant=store, user=colleague)
    staying = sandbox_for(tenant=store, user=merchant_user)
    # Lab work in it, with a variant that protects its model version.
    experiment = Experiment.all_tenants.create(tenant=leaving, key="ab", name="A/B", primary_metric="conversion_rate")
    Variant.all_tenants.create(
        tenant=leaving, experiment=experiment, name="v1", kind=VariantKind.MODEL_VERSION,
        model_version=ModelVersionFactory(tenant=leaving, number=1), weight=1,
    )

    Membership.all_tenants.get(tenant=store, user=colleague).delete()

    assert not Tenant.objects.filter(pk=leaving.pk).exists()
    assert not Event.all_tenants.filter(tenant_id=leaving.pk).exists()
    assert Tenant.objects.filter(pk=staying.pk).exists()


def test_a_member_removed_by_a_manager_loses_their_sandbox_with_the_stores_scope_set(
    store, merchant_user, member_with_role
):
    """The members page removes inside the store's scope; on PostgreSQL its row-level security
    would hide the sandbox's rows from the delete unless the sandbox is deleted in its own."""
    from tenants.services import member_remove

    colleague = member_with_role(Role.ANALYST)
    leaving = sandbox_for(tenant=store, user=colleague)
    manager = Membership.all_tenants.get(tenant=store, user=merchant_user)
    departing = Membership.all_tenants.get(tenant=store, user=colleague)

    member_remove(tenant=store, membership_id=departing.pk, by=manager)

    assert not Tenant.objects.filter(pk=leaving.pk).exists()
    assert not Membership.all_tenants.filter(tenant_id=leaving.pk).exists()


# --- No one but its learner -------------------------------------------------------------------


def in_sandbox(client, sandbox, user):
    client.force_login(user)
    session = client.session
    session[ACTIVE_TENANT_SESSION_KEY] = sandbox.pk
    session.save()
    return client


def test_no_one_can_be_invited_into_a_sandbox_of_the_stores_data(store, merchant_user, client):
    sandbox = sandbox_for(tenant=store, user=merchant_user)
    in_sandbox(client, sandbox, merchant_user)

    page = client.get("/settings/members/").content.decode()
    posted = client.post("/settings/members/", {"email": "outsider@evil.example", "role": Role.OWNER})

    assert 'id="sandbox-members"' in page and 'id="member-invite"' not in page
    assert 'href="/settings/members/"' not in page  # nor offered in the menu
    assert posted.status_code == 200 and "invitation-link" not in posted.content.decode()
    assert not Invitation.all_tenants.filter(tenant=sandbox).exists()
    with pytest.raises(ValidationError, match="A sandbox has one member"):
        member_invite(
            tenant=sandbox, email="outsider@evil.example", role=Role.OWNER,
            by=Membership.all_tenants.get(tenant=sandbox, user=merchant_user),
        )


def test_an_invitation_to_a_sandbox_made_before_cannot_be_accepted(store, merchant_user):
    sandbox = sandbox_for(tenant=store, user=merchant_user)
    invitation = Invitation.all_tenants.create(
        tenant=sandbox, email="outsider@evil.example", role=Role.OWNER, token_hash="x" * 64,
        invited_by=merchant_user,
    )

    with pytest.raises(ValidationError, match="A sandbox has one member"):
        invitation_accept(invitation=invitation, password="plum-kettle-4417")

    assert list(Membership.all_tenants.filter(tenant=sandbox).values_list("user", flat=True)) == [merchant_user.pk]


def test_the_learner_cannot_change_their_role_in_their_sandbox_nor_leave_it_ownerless(store, merchant_user):
    sandbox = sandbox_for(tenant=store, user=merchant_user)
    membership = Membership.all_tenants.get(tenant=sandbox, user=merchant_user)

    with pytest.raises(ValidationError, match="A sandbox has one member"):
        member_role_set(tenant=sandbox, membership_id=membership.pk, role=Role.ANALYST, by=membership)

    membership.refresh_from_db()
    assert membership.role == Role.OWNER


def test_the_store_itself_still_invites_colleagues(store, merchant_user, client):
    sandbox_for(tenant=store, user=merchant_user)
    client.force_login(merchant_user)
    page = client.post("/settings/members/", {"email": "ana@acme.test", "role": Role.ANALYST}).content.decode()
    assert "invitation-link" in page
